import RealModule

// Elementwise arithmetic. Binary operations need equal shapes (no broadcasting: the kernels that
// need a bias or a per-channel scale apply it themselves), and say which shapes disagreed.

extension Tensor {
  @inlinable
  func zipMap(_ other: Tensor, _ op: String, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(shape == other.shape, "\(op): shapes \(shape) and \(other.shape) differ")
    var result = Tensor(uninitializedShape: shape)
    let n = count
    result.withUnsafeMutableBufferPointer { r in
      withUnsafeBufferPointer { a in
        other.withUnsafeBufferPointer { b in
          for i in 0..<n { r[i] = f(a[i], b[i]) }
        }
      }
    }
    return result
  }

  /// A new tensor with `f` applied to every element.
  @inlinable
  public func map(_ f: (Float) -> Float) -> Tensor {
    var result = Tensor(uninitializedShape: shape)
    let n = count
    result.withUnsafeMutableBufferPointer { r in
      withUnsafeBufferPointer { a in for i in 0..<n { r[i] = f(a[i]) } }
    }
    return result
  }

  @inlinable
  mutating func zipUpdate(_ other: Tensor, _ op: String, _ f: (inout Float, Float) -> Void) {
    precondition(shape == other.shape, "\(op): shapes \(shape) and \(other.shape) differ")
    let n = count
    other.withUnsafeBufferPointer { b in
      withUnsafeMutableBufferPointer { a in for i in 0..<n { f(&a[i], b[i]) } }
    }
  }

  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, "+") { $0 + $1 } }
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, "-") { $0 - $1 } }
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, "*") { $0 * $1 } }
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, "/") { $0 / $1 } }
  public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 + rhs } }
  public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 - rhs } }
  public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 * rhs } }
  public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.map { lhs * $0 } }
  public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 / rhs } }
  public static prefix func - (operand: Tensor) -> Tensor { operand.map { -$0 } }

  public static func += (lhs: inout Tensor, rhs: Tensor) { lhs.zipUpdate(rhs, "+=") { $0 += $1 } }
  public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs.zipUpdate(rhs, "-=") { $0 -= $1 } }
  public static func *= (lhs: inout Tensor, rhs: Tensor) { lhs.zipUpdate(rhs, "*=") { $0 *= $1 } }
  public static func *= (lhs: inout Tensor, rhs: Float) {
    let n = lhs.count
    lhs.withUnsafeMutableBufferPointer { a in for i in 0..<n { a[i] *= rhs } }
  }

  /// self ← self + alpha · x (BLAS's axpy), in place.
  public mutating func add(_ x: Tensor, scaledBy alpha: Float) {
    zipUpdate(x, "add(_:scaledBy:)") { $0 += alpha * $1 }
  }

  /// Sets every element to `value`, keeping the shape.
  public mutating func fill(with value: Float) {
    withUnsafeMutableBufferPointer { $0.update(repeating: value) }
  }

  public func squared() -> Tensor { map { $0 * $0 } }
  public func squareRoot() -> Tensor { map { $0.squareRoot() } }
  public func exp() -> Tensor { map { Float.exp($0) } }
  public func log() -> Tensor { map { Float.log($0) } }
  public func clamped(to range: ClosedRange<Float>) -> Tensor {
    map { Swift.min(Swift.max($0, range.lowerBound), range.upperBound) }
  }
}
