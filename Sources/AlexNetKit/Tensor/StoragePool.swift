import Foundation

/// Reuses large tensor buffers by exact size, as PyTorch's caching allocators do: a training step
/// allocates the same activation and gradient sizes every time, so after the first step no buffer
/// comes from the system again. That saves the mmap/munmap and the page faults that a fresh
/// 40 MB activation would otherwise pay on every step.
///
/// Buffers under `minimumCount` floats go to the ordinary allocator. Cached memory never exceeds
/// `limitBytes` (default: a quarter of physical memory); beyond it, freed buffers are released.
public final class StoragePool: @unchecked Sendable {
  public static let shared = StoragePool()

  /// Floats below which buffers are not pooled (64 KB).
  public static let minimumCount = 1 << 14

  /// The most memory kept for reuse, in bytes.
  public var limitBytes: Int {
    get { lock.withLock { limit } }
    set {
      lock.withLock {
        limit = newValue
        trim()
      }
    }
  }

  private let lock = NSLock()
  private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
  private var cachedBytes = 0
  private var limit = Int(ProcessInfo.processInfo.physicalMemory / 4)

  /// Bytes currently held for reuse.
  public var cachedByteCount: Int { lock.withLock { cachedBytes } }

  func allocate(count: Int) -> UnsafeMutablePointer<Float> {
    if count >= Self.minimumCount {
      let reused: UnsafeMutablePointer<Float>? = lock.withLock {
        guard let pointer = free[count]?.popLast() else { return nil }
        cachedBytes -= count * 4
        return pointer
      }
      if let reused { return reused }
    }
    let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * 4, alignment: 64)
    return raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
  }

  func release(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
    guard count >= Self.minimumCount else {
      pointer.deallocate()
      return
    }
    let kept: Bool = lock.withLock {
      guard cachedBytes + count * 4 <= limit else { return false }
      free[count, default: []].append(pointer)
      cachedBytes += count * 4
      return true
    }
    if !kept { pointer.deallocate() }
  }

  /// Releases every cached buffer to the system.
  public func emptyCache() { lock.withLock { limitAndTrim(to: 0) } }

  private func limitAndTrim(to bytes: Int) {
    let saved = limit
    limit = bytes
    trim()
    limit = saved
  }

  private func trim() {
    while cachedBytes > limit, let (count, pointers) = free.first(where: { !$0.value.isEmpty }) {
      pointers.last!.deallocate()
      free[count]!.removeLast()
      cachedBytes -= count * 4
    }
  }
}
