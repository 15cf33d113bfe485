/// Int32 indices in pooled storage, such as max pooling's argmax. A training step makes index
/// buffers of the same sizes every time, as it does activations, so large ones come from
/// `StoragePool` too: the 37 MB argmax of AlexNet's first pooling at batch 128 would otherwise be
/// a fresh mapping, and thousands of page faults, every step.
public final class IndexBuffer: @unchecked Sendable {
  public let count: Int
  let base: UnsafeMutablePointer<Int32>

  /// Uninitialised storage for `count` indices: callers write every element before reading.
  public init(uninitializedCount count: Int) {
    precondition(count >= 0, "an index buffer cannot hold \(count) elements")
    self.count = count
    // Int32 and Float have the same size and alignment; the pool hands out untyped memory.
    base = UnsafeMutableRawPointer(StoragePool.shared.allocate(count: count))
      .bindMemory(to: Int32.self, capacity: Swift.max(count, 1))
  }

  deinit {
    StoragePool.shared.release(
      UnsafeMutableRawPointer(base).bindMemory(to: Float.self, capacity: Swift.max(count, 1)),
      count: count)
  }

  /// The indices as an array.
  public var array: [Int32] { Array(UnsafeBufferPointer(start: base, count: count)) }

  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Int32>) throws -> R) rethrows
    -> R
  {
    try body(UnsafeBufferPointer(start: base, count: count))
  }

  public func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Int32>) throws -> R
  ) rethrows -> R {
    try body(UnsafeMutableBufferPointer(start: base, count: count))
  }
}
