import Dispatch
import Foundation
import Synchronization

/// The project's own parallel loops (im2col, pooling, LRN, decoding): contiguous chunks over at
/// most the compute context's `threadCount` threads. Either our loops or OpenBLAS's pool has the
/// cores at any moment: a loop never wraps a multithreaded BLAS call, and `forEachShard` runs its
/// shards' BLAS calls single-threaded. Work dispatched to other threads runs in the caller's
/// `ComputeContext`.
public enum Parallel {
  /// Chunks `forEachChunk` makes of `count` items in the current context.
  public static func chunkCount(_ count: Int, minimumChunk: Int = 1) -> Int {
    let context = ComputeContext.current
    guard count > 0, !context.isInsideShard else { return 1 }
    return Swift.min(context.threadCount, Swift.max(1, count / Swift.max(1, minimumChunk)))
  }

  /// Calls `body` on contiguous, disjoint ranges that cover 0..<count, in parallel when there is
  /// enough work (at least `minimumChunk` items per thread). Returns when all are done. Inside a
  /// shard it runs serially, on the shard's thread.
  public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void)
  {
    forEachIndexedChunk(count, minimumChunk: minimumChunk) { _, range in body(range) }
  }

  /// `forEachChunk` that also passes the chunk's index, below `chunkCount(count, minimumChunk:)`,
  /// so that each chunk can work in its own part of a caller's workspace.
  public static func forEachIndexedChunk(
    _ count: Int, minimumChunk: Int = 1, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    let chunks = chunkCount(count, minimumChunk: minimumChunk)
    if chunks == 1 {
      body(0, 0..<count)
      return
    }
    let context = ComputeContext.current
    withoutActuallyEscaping(body) { body in
      let body = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        ComputeContext.$scoped.withValue(context) {
          body.value(chunk, (chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
      }
    }
  }

  /// Shards worth making of `count` independent items (images of a batch): one per thread when
  /// every thread gets at least one item and the context shards batches, else 1.
  public static func shardCount(for count: Int) -> Int {
    let context = ComputeContext.current
    let threads = context.threadCount
    return context.isInsideShard || count < threads || !context.shardsBatches ? 1 : threads
  }

  /// True on a thread that is running one of `forEachShard`'s shards.
  public static var isInsideShard: Bool { ComputeContext.current.isInsideShard }

  /// Runs `body(shard, range)` for `shards` contiguous ranges covering 0..<count, one thread each,
  /// with OpenBLAS single-threaded meanwhile: each thread then does its own im2col, GEMMs and
  /// scatter on its own images with its caches warm, and no thread waits on another between
  /// GEMMs (measured faster than one multithreaded GEMM after another at every batch ≥ 2).
  public static func forEachShard(
    _ count: Int, shards: Int, _ body: (_ shard: Int, _ range: Range<Int>) -> Void
  ) {
    guard shards > 1 else {
      body(0, 0..<count)
      return
    }
    BLASThreads.bookkeeping.withLock { books in
      if let count = books.enter(current: BLASRuntime.threadCount) {
        BLASRuntime.threadCount = count
      }
    }
    defer {
      BLASThreads.bookkeeping.withLock { books in
        if let count = books.exit() { BLASRuntime.threadCount = count }
      }
    }
    let context = ComputeContext.current.insideShard()
    withoutActuallyEscaping(body) { body in
      let body = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: shards) { shard in
        ComputeContext.$scoped.withValue(context) {
          body.value(shard, (shard * count / shards)..<((shard + 1) * count / shards))
        }
      }
    }
  }
}

/// OpenBLAS's thread count, one per process, kept behind the compute contexts and shard regions.
enum BLASThreads {
  static let bookkeeping = Mutex(SingleThreadedBLASRegions())

  /// A context scope starts: OpenBLAS takes its thread count if it chose one. Returns the ticket
  /// that ends the scope.
  static func enter(_ context: ComputeContext) -> Int? {
    guard context.setsBLASThreads else { return nil }
    return bookkeeping.withLock { books in
      let (ticket, count) = books.enterContext(
        threads: context.threadCount, current: BLASRuntime.threadCount)
      if let count { BLASRuntime.threadCount = count }
      return ticket
    }
  }

  /// A context scope ends: OpenBLAS goes back to the latest scope still running, or to the count
  /// before any.
  static func exit(_ ticket: Int?) {
    guard let ticket else { return }
    bookkeeping.withLock { books in
      if let count = books.exitContext(ticket) { BLASRuntime.threadCount = count }
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
/// neither leave it at 1 nor restore it under a region still running. Context scopes that choose
/// a thread count may overlap too: the latest still running wins, and after the last the count
/// before the first returns.
struct SingleThreadedBLASRegions {
  private(set) var active = 0
  private var restoreTo = 1
  private var contexts: [(ticket: Int, threads: Int)] = []
  private var nextTicket = 0
  private var beforeContexts = 1

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

  /// A context asking for `threads` starts while OpenBLAS has `current` threads: its ticket, and
  /// the count to set now, if any.
  mutating func enterContext(threads: Int, current: Int) -> (ticket: Int, set: Int?) {
    if contexts.isEmpty { beforeContexts = active > 0 ? restoreTo : current }
    nextTicket += 1
    contexts.append((nextTicket, threads))
    return (nextTicket, request(threads))
  }

  /// The context with `ticket` ends: the count to set now, if any.
  mutating func exitContext(_ ticket: Int) -> Int? {
    contexts.removeAll { $0.ticket == ticket }
    return request(contexts.last?.threads ?? beforeContexts)
  }
}
