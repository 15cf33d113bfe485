import Foundation
import Synchronization

/// How kernels compute: threads for our loops and OpenBLAS, whether batched kernels shard the
/// batch, where GEMM time is reported, and the scratch memory kernels borrow. A value set for a
/// scope with `withComputeContext`; code that sets none runs in `ComputeContext()`.
///
/// Two scopes with different contexts may run at the same time (each on its own threads or
/// tasks): each scope's loops, sharding and profile follow its own context. OpenBLAS's own thread
/// count is one per process; it follows the thread count of the scope entered last, and returns
/// to the count before any scope once all have ended.
public struct ComputeContext: Sendable {
  /// Threads for our parallel loops and, outside batch shards, OpenBLAS's. At least 1.
  public var threadCount: Int { didSet { threadCount = max(1, threadCount) } }
  /// Whether batched kernels split the batch into per-thread shards (the default) or hand each
  /// GEMM of the whole batch to OpenBLAS's threads; the benchmark compares the two.
  public var shardsBatches: Bool
  /// Receives the time of every GEMM and GEMV in the scope, when set.
  public var profile: GEMMProfile?
  /// Scratch memory the scope's kernels borrow (one kernel at a time; see `withWorkspace`).
  public var workspace: Workspace
  /// Whether `threadCount` was chosen (and so applies to OpenBLAS) or is the default.
  let setsBLASThreads: Bool
  /// True on a thread running one of `Parallel.forEachShard`'s shards: loops there run serially.
  var isInsideShard = false

  /// A context with its own workspace. `threadCount` nil: all active cores for our loops, and
  /// OpenBLAS left as it is.
  public init(
    threadCount: Int? = nil, shardsBatches: Bool = true, profile: GEMMProfile? = nil,
    workspace: Workspace = Workspace()
  ) {
    self.threadCount = max(1, threadCount ?? ProcessInfo.processInfo.activeProcessorCount)
    self.setsBLASThreads = threadCount != nil
    (self.shardsBatches, self.profile, self.workspace) = (shardsBatches, profile, workspace)
  }

  /// The context of the running scope. Dispatch's worker threads do not inherit it: code that
  /// dispatches captures it first and runs the work in it (as `Parallel` does).
  public static var current: ComputeContext { scoped }

  @TaskLocal static var scoped = ComputeContext()

  /// Runs `body` with this scope's workspace, or with a fresh one when another kernel holds it
  /// (a context shared by concurrent callers), so that no two kernels write the same scratch.
  public func withWorkspace<R>(_ body: (Workspace) throws -> R) rethrows -> R {
    guard workspace.borrow() else { return try body(Workspace()) }
    defer { workspace.giveBack() }
    return try body(workspace)
  }

  /// This context as seen by a shard's thread.
  func insideShard() -> ComputeContext {
    var context = self
    context.isInsideShard = true
    return context
  }
}

/// Runs `body` in `context`: its loops, kernels and GEMMs use the context's threads, sharding,
/// profile and workspace. Nested scopes replace the enclosing context while they run.
public func withComputeContext<R>(_ context: ComputeContext, _ body: () throws -> R) rethrows -> R {
  let ticket = BLASThreads.enter(context)
  defer { BLASThreads.exit(ticket) }
  return try ComputeContext.$scoped.withValue(context, operation: body)
}

/// `withComputeContext` for asynchronous work; tasks created inside inherit the context.
public func withComputeContext<R>(
  _ context: ComputeContext, isolation: isolated (any Actor)? = #isolation,
  _ body: () async throws -> R
) async rethrows -> R {
  let ticket = BLASThreads.enter(context)
  defer { BLASThreads.exit(ticket) }
  return try await ComputeContext.$scoped.withValue(context, operation: body, isolation: isolation)
}

/// Accumulates the core time spent in GEMMs and GEMVs of the scopes whose context holds it: each
/// call's duration times the OpenBLAS threads it ran on (1 inside a batch shard), so that divided
/// by wall time and cores it is the share of the machine's time spent multiplying (the
/// benchmark's GEMM share).
public final class GEMMProfile: Sendable {
  private let totals = Mutex((time: Duration.zero, calls: 0))

  public init() {}

  /// Core time so far.
  public var time: Duration { totals.withLock { $0.time } }
  /// Calls so far.
  public var calls: Int { totals.withLock { $0.calls } }

  /// Starts again from zero.
  public func reset() { totals.withLock { $0 = (.zero, 0) } }

  func add(_ elapsed: Duration) {
    totals.withLock { $0 = ($0.time + elapsed, $0.calls + 1) }
  }
}
