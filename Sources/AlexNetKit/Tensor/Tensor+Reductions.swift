// Reductions. Whole-tensor sums accumulate in Double, so a loss summed over millions of
// elements does not drift; axis reductions keep Float32, as the layers that use them do.

extension Tensor {
  /// Sum of all elements (accumulated in Double).
  public func sum() -> Float {
    withUnsafeBufferPointer { a in Float(a.reduce(0.0) { $0 + Double($1) }) }
  }

  /// Mean of all elements.
  public func mean() -> Float {
    precondition(count > 0, "mean of an empty tensor")
    return sum() / Float(count)
  }

  /// Largest element (NaN if any element is NaN).
  public func max() -> Float {
    precondition(count > 0, "max of an empty tensor")
    return withUnsafeBufferPointer { a in
      a.reduce(-Float.infinity) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
    }
  }

  /// Smallest element.
  public func min() -> Float {
    precondition(count > 0, "min of an empty tensor")
    return withUnsafeBufferPointer { a in a.reduce(Float.infinity) { Swift.min($0, $1) } }
  }

  /// Flat index of the largest element (the first one on ties).
  public func argmax() -> Int {
    precondition(count > 0, "argmax of an empty tensor")
    return withUnsafeBufferPointer { a in
      var best = 0
      for i in 1..<a.count where a[i] > a[best] { best = i }
      return best
    }
  }

  /// Sum of squares of all elements (accumulated in Double).
  public func squaredNorm() -> Float {
    withUnsafeBufferPointer { a in Float(a.reduce(0.0) { $0 + Double($1) * Double($1) }) }
  }

  /// Whether every element is finite (no NaN, no infinity).
  public var isFinite: Bool { withUnsafeBufferPointer { $0.allSatisfy { $0.isFinite } } }

  /// Sums over one axis, removing it: shape [a, n, b] summed over axis 1 gives [a, b].
  public func sum(alongAxis axis: Int) -> Tensor {
    precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for shape \(shape)")
    let outer = shape[..<axis].reduce(1, *)
    let extent = shape[axis]
    let inner = shape[(axis + 1)...].reduce(1, *)
    var resultShape = shape
    resultShape.remove(at: axis)
    var result = Tensor(zeros: resultShape)
    result.withUnsafeMutableBufferPointer { r in
      withUnsafeBufferPointer { a in
        for o in 0..<outer {
          for j in 0..<extent {
            let row = (o * extent + j) * inner
            for i in 0..<inner { r[o * inner + i] += a[row + i] }
          }
        }
      }
    }
    return result
  }

  /// Means over one axis, removing it.
  public func mean(alongAxis axis: Int) -> Tensor {
    sum(alongAxis: axis) / Float(shape[axis])
  }

  /// For a [rows, columns] tensor, the column index of each row's largest element.
  public func argmaxAlongLastAxis() -> [Int] {
    precondition(rank >= 1 && shape.last! > 0, "argmax along the last axis of shape \(shape)")
    let columns = shape.last!
    let rows = count / columns
    return withUnsafeBufferPointer { a in
      (0..<rows).map { r in
        var best = 0
        for c in 1..<columns where a[r * columns + c] > a[r * columns + best] { best = c }
        return best
      }
    }
  }

  /// Largest absolute elementwise difference to another tensor of the same shape.
  public func maxAbsoluteDifference(to other: Tensor) -> Float {
    precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
    return withUnsafeBufferPointer { a in
      other.withUnsafeBufferPointer { b in
        var worst: Float = 0
        for i in 0..<a.count { worst = Swift.max(worst, abs(a[i] - b[i])) }
        return worst
      }
    }
  }
}
