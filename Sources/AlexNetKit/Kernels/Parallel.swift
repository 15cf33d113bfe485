import Dispatch
import Foundation
import Synchronization

/// The project's own parallel loops (im2col, pooling, LRN, decoding): contiguous chunks over at
/// most `threadCount` threads. Either our loops or OpenBLAS's pool has the cores at any moment:
/// a loop never wraps a multithreaded BLAS call, and `forEachShard` runs its shards' BLAS calls
/// single-threaded.
public enum Parallel {
  nonisolated(unsafe) static var configuredThreadCount = ProcessInfo.processInfo.activeProcessorCount

  /// Threads for our loops; defaults to the active processor count.
  public static var threadCount: Int {
    get { configuredThreadCount }
    set { configuredThreadCount = max(1, newValue) }
  }

  /// Sets both our loops' and OpenBLAS's thread counts (the `--threads` option).
  public static func setThreadCount(_ count: Int) {
    threadCount = count
    blasRegions.withLock { regions in
      if let count = regions.request(count) { BLASRuntime.threadCount = count }
    }
  }

  static let blasRegions = Mutex(SingleThreadedBLASRegions())

  nonisolated(unsafe) static var shardingEnabled = true

  /// Whether batched kernels split the batch into per-thread shards (the default) or hand each
  /// GEMM of the whole batch to OpenBLAS's threads; the benchmark compares the two.
  public static var shardsBatches: Bool {
    get { shardingEnabled }
    set { shardingEnabled = newValue }
  }

  /// Marks the threads running a shard: loops started there run serially instead of asking for
  /// more threads than there are cores.
  static let insideShardKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// True on a thread that is running one of `forEachShard`'s shards.
  public static var isInsideShard: Bool { pthread_getspecific(insideShardKey) != nil }

  /// Calls `body` on contiguous, disjoint ranges that cover 0..<count, in parallel when there is
  /// enough work (at least `minimumChunk` items per thread). Returns when all are done. Inside a
  /// shard it runs serially, on the shard's thread.
  public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = isInsideShard ? 1 : Swift.min(threadCount, Swift.max(1, count / Swift.max(1, minimumChunk)))
    if chunks == 1 {
      body(0..<count)
      return
    }
    withoutActuallyEscaping(body) { body in
      let body = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        body.value((chunk * count / chunks)..<((chunk + 1) * count / chunks))
      }
    }
  }

  /// Shards worth making of `count` independent items (images of a batch): one per thread when
  /// every thread gets at least one item, else 1.
  public static func shardCount(for count: Int) -> Int {
    isInsideShard || count < threadCount || !shardingEnabled ? 1 : threadCount
  }

  /// Runs `body(shard, range)` for `shards` contiguous ranges covering 0..<count, one thread each,
  /// with OpenBLAS single-threaded meanwhile: each thread then does its own im2col, GEMMs and
  /// scatter on its own images with its caches warm, and no thread waits on another between
  /// GEMMs (measured faster than one multithreaded GEMM after another at every batch ≥ 2).
  public static func forEachShard(_ count: Int, shards: Int, _ body: (_ shard: Int, _ range: Range<Int>) -> Void) {
    guard shards > 1 else {
      body(0, 0..<count)
      return
    }
    blasRegions.withLock { regions in
      if let count = regions.enter(current: BLASRuntime.threadCount) { BLASRuntime.threadCount = count }
    }
    defer {
      blasRegions.withLock { regions in
        if let count = regions.exit() { BLASRuntime.threadCount = count }
      }
    }
    withoutActuallyEscaping(body) { body in
      let body = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: shards) { shard in
        let previous = pthread_getspecific(insideShardKey)
        pthread_setspecific(insideShardKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(insideShardKey, previous) }
        body.value(shard, (shard * count / shards)..<((shard + 1) * count / shards))
      }
    }
  }
}

/// A closure handed to `concurrentPerform`, which returns only when every call has: the body
/// outlives no caller, and callers give each call disjoint ranges of their buffers, the contract
/// of `forEachChunk` and `forEachShard`.
struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

/// OpenBLAS's thread count is one per process, while shards may run for several callers at once:
/// the first region to start sets it to 1 and the last to end restores it, so overlapping regions
/// neither leave it at 1 nor restore it under a region still running.
struct SingleThreadedBLASRegions {
  private(set) var active = 0
  private var restoreTo = 1

  /// A region starts while OpenBLAS has `current` threads: the count to set, if it changes.
  mutating func enter(current: Int) -> Int? {
    active += 1
    guard active == 1 else { return nil }
    restoreTo = current
    return 1
  }

  /// A region ends: the count to restore, if it was the last.
  mutating func exit() -> Int? {
    active -= 1
    return active == 0 ? restoreTo : nil
  }

  /// A thread count asked for: set now outside any region, else when the last region ends.
  mutating func request(_ count: Int) -> Int? {
    guard active > 0 else { return count }
    restoreTo = count
    return nil
  }
}
