/// A dense Float32 array of any rank, row-major and contiguous. Images are NCHW
/// (batch, channels, height, width); dense activations are [batch, features].
///
/// `Tensor` is a value: copies share storage until one of them is written (copy on write), so
/// passing tensors around is cheap and mutation never shows through another copy.
public struct Tensor {
  /// The extent of each dimension, outermost first.
  public private(set) var shape: [Int]
  @usableFromInline var storage: TensorStorage

  /// Number of elements: the product of `shape`.
  @inlinable public var count: Int { storage.count }
  @inlinable public var rank: Int { shape.count }

  @usableFromInline
  init(shape: [Int], storage: TensorStorage) {
    self.shape = shape
    self.storage = storage
  }

  /// A tensor of the given shape whose elements are all `value`.
  public init(shape: [Int], repeating value: Float) {
    self.init(
      shape: shape, storage: TensorStorage(repeating: value, count: Tensor.elementCount(shape)))
  }

  /// A tensor of zeros.
  public init(zeros shape: [Int]) { self.init(shape: shape, repeating: 0) }

  /// A tensor holding `scalars` in row-major order; their count must match the shape.
  public init(shape: [Int], scalars: [Float]) {
    let count = Tensor.elementCount(shape)
    precondition(
      scalars.count == count, "shape \(shape) needs \(count) scalars, got \(scalars.count)")
    let storage = TensorStorage(uninitializedCount: count)
    scalars.withUnsafeBufferPointer { storage.base.initialize(from: $0.baseAddress!, count: count) }
    self.init(shape: shape, storage: storage)
  }

  /// A scalar (rank 0) tensor.
  public init(_ value: Float) { self.init(shape: [], repeating: value) }

  /// Storage left uninitialised, for kernels that overwrite every element.
  @inlinable
  public init(uninitializedShape shape: [Int]) {
    self.init(shape: shape, storage: TensorStorage(uninitializedCount: Tensor.elementCount(shape)))
  }

  @inlinable
  static func elementCount(_ shape: [Int]) -> Int {
    var count = 1
    for extent in shape {
      precondition(extent >= 0, "negative extent in shape \(shape)")
      count *= extent
    }
    return count
  }

  /// The elements in row-major order. Setting replaces them; the count must not change.
  public var scalars: [Float] {
    get { withUnsafeBufferPointer { Array($0) } }
    set {
      precondition(
        newValue.count == count, "shape \(shape) needs \(count) scalars, got \(newValue.count)")
      self = Tensor(shape: shape, scalars: newValue)
    }
  }

  /// The single element of a tensor with one element (a loss, a scalar).
  public var scalar: Float {
    precondition(count == 1, "scalar of a tensor of shape \(shape)")
    return storage.base[0]
  }

  /// Element at a flat (row-major) index.
  @inlinable
  public subscript(flat index: Int) -> Float {
    get {
      precondition(index >= 0 && index < count, "index \(index) out of range for shape \(shape)")
      return storage.base[index]
    }
    set {
      precondition(index >= 0 && index < count, "index \(index) out of range for shape \(shape)")
      makeUnique()
      storage.base[index] = newValue
    }
  }

  /// Element at a multi-dimensional index, one coordinate per dimension.
  public subscript(_ indices: Int...) -> Float {
    get { self[flat: flatIndex(indices)] }
    set { self[flat: flatIndex(indices)] = newValue }
  }

  func flatIndex(_ indices: [Int]) -> Int {
    precondition(indices.count == rank, "\(indices.count) indices for a tensor of shape \(shape)")
    var flat = 0
    for (axis, index) in indices.enumerated() {
      precondition(
        index >= 0 && index < shape[axis], "index \(indices) out of range for shape \(shape)")
      flat = flat * shape[axis] + index
    }
    return flat
  }

  @inlinable
  mutating func makeUnique() {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
  }

  /// Calls `body` with the elements; the pointer is valid only inside `body`.
  @inlinable
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows
    -> R
  {
    try withExtendedLifetime(storage) {
      try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }
  }

  /// Calls `body` with writable elements, first copying storage that another tensor shares.
  @inlinable
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    makeUnique()
    return try withExtendedLifetime(storage) {
      try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }
  }

  /// The same elements under another shape with the same count; one extent may be -1 (inferred).
  /// Shares storage: no copy is made.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var resolved = newShape
    if let inferred = newShape.firstIndex(of: -1) {
      precondition(newShape.filter { $0 == -1 }.count == 1, "more than one -1 in shape \(newShape)")
      let known = newShape.filter { $0 != -1 }.reduce(1, *)
      precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
      resolved[inferred] = count / known
    }
    precondition(
      Tensor.elementCount(resolved) == count,
      "cannot reshape \(shape) (\(count) elements) to \(newShape)")
    return Tensor(shape: resolved, storage: storage)
  }

  /// Whether two tensors share one storage buffer (no copy was made between them).
  public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let shown = withUnsafeBufferPointer { $0.prefix(8).map { "\($0)" }.joined(separator: ", ") }
    return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", ..." : "")])"
  }
}

extension Tensor: Equatable {
  /// Same shape and bitwise-equal elements (NaN never equals itself).
  public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
    guard lhs.shape == rhs.shape else { return false }
    return lhs.withUnsafeBufferPointer { a in
      rhs.withUnsafeBufferPointer { b in
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
      }
    }
  }
}

/// Tensors cross threads (the batch loader's workers hand batches to the training loop): a value
/// is never written while shared, because every write first copies shared storage.
extension Tensor: @unchecked Sendable {}
