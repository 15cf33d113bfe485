/// Contiguous Float32 storage, 64-byte aligned so vector loads and OpenBLAS's packing see whole
/// cache lines. Large buffers come from and return to `StoragePool`. Shared between tensor values; `Tensor` copies it before writing when it is shared.
@usableFromInline
final class TensorStorage {
  @usableFromInline let count: Int
  @usableFromInline let base: UnsafeMutablePointer<Float>

  /// Uninitialised storage for `count` floats: callers write every element before reading.
  @usableFromInline
  init(uninitializedCount count: Int) {
    precondition(count >= 0, "a tensor cannot hold \(count) elements")
    self.count = count
    base = StoragePool.shared.allocate(count: count)
  }

  @usableFromInline
  convenience init(repeating value: Float, count: Int) {
    self.init(uninitializedCount: count)
    base.initialize(repeating: value, count: count)
  }

  @usableFromInline
  func copy() -> TensorStorage {
    let result = TensorStorage(uninitializedCount: count)
    result.base.update(from: base, count: count)
    return result
  }

  deinit { StoragePool.shared.release(base, count: count) }
}
