import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct ComputeContextTests {
  /// Runs each body on a thread of its own, all at once, and waits for them.
  func runSideBySide(_ bodies: [@Sendable () -> Void]) {
    let done = DispatchGroup()
    for body in bodies {
      done.enter()
      Thread {
        body()
        done.leave()
      }.start()
    }
    done.wait()
  }

  /// What a scope sees of its context, here and on the threads its loops and shards run on.
  static func observed(rounds: Int) -> [String] {
    var seen: Set<String> = []
    let fromWorkers = Mutex(Set<String>())
    for _ in 0..<rounds {
      let context = ComputeContext.current
      let (chunks, shards) = (Parallel.chunkCount(64), Parallel.shardCount(for: 8))
      seen.insert("threads \(context.threadCount) chunks \(chunks) shards \(shards)")
      Parallel.forEachChunk(64) { _ in
        let threads = ComputeContext.current.threadCount
        fromWorkers.withLock { _ = $0.insert("chunk sees \(threads)") }
      }
      Parallel.forEachShard(4, shards: 2) { _, _ in
        let inside = Parallel.isInsideShard
        let threads = ComputeContext.current.threadCount
        fromWorkers.withLock { _ = $0.insert("shard sees \(threads) inside \(inside)") }
      }
    }
    return seen.sorted() + fromWorkers.withLock { $0 }.sorted()
  }

  /// Two scopes with different threads and sharding, running at the same time, each see only
  /// their own settings, on their own thread and on the threads their loops and shards run on.
  @Test func twoContextsRunSideBySide() {
    let results = Mutex([Int: [String]]())
    runSideBySide([
      {
        let context = ComputeContext(threadCount: 1, shardsBatches: false)
        let seen = withComputeContext(context) { Self.observed(rounds: 50) }
        results.withLock { $0[1] = seen }
      },
      {
        let seen = withComputeContext(ComputeContext(threadCount: 3)) { Self.observed(rounds: 50) }
        results.withLock { $0[3] = seen }
      },
    ])
    let seen = results.withLock { $0 }
    #expect(seen[1] == ["threads 1 chunks 1 shards 1", "chunk sees 1", "shard sees 1 inside true"])
    #expect(seen[3] == ["threads 3 chunks 3 shards 3", "chunk sees 3", "shard sees 3 inside true"])
  }

  /// A profile counts the GEMMs of its own scope, those run on shard threads included, and none
  /// of another scope running at the same time or of code outside any profiled scope.
  @Test func aProfileCountsOnlyItsOwnScopesCalls() {
    let (mine, theirs) = (GEMMProfile(), GEMMProfile())
    let a = [Float](repeating: 1, count: 64)
    let b = [Float](repeating: 2, count: 64)
    @Sendable func multiply(times: Int) {
      var c = [Float](repeating: 0, count: 64)
      for _ in 0..<times { BLAS.sgemm(a, b, into: &c, m: 8, n: 8, k: 8) }
    }
    runSideBySide([
      {
        withComputeContext(ComputeContext(profile: mine)) {
          multiply(times: 5)
          Parallel.forEachShard(6, shards: 3) { _, _ in multiply(times: 1) }
        }
      },
      { withComputeContext(ComputeContext(profile: theirs)) { multiply(times: 11) } },
      { multiply(times: 7) },
    ])
    #expect(mine.calls == 8)
    #expect(theirs.calls == 11)
    #expect(mine.time > .zero)
    mine.reset()
    #expect(mine.calls == 0 && mine.time == .zero)
  }

  /// Pooling and LRN work in the workspace they are given: it grows on the first call and not
  /// on later ones, and the results still match the references.
  @Test func poolingAndLRNReuseTheCallersWorkspace() throws {
    var rng = SeededGenerator(seed: 21)
    let g = try PoolGeometry(batch: 3, channels: 8, height: 13, width: 13, window: 3, stride: 2)
    let x = rng.tensor(g.inputShape)
    let pooled = maxPool2dForwardNaive(g, input: x)
    let features = rng.tensor([2, 12, 9, 11])
    let dy = rng.tensor([2, 12, 9, 11])
    let normalised = localResponseNormForwardNaive(.alexNet, input: features)
    let gradient = localResponseNormBackwardNaive(.alexNet, input: features, outputGradient: dy)
    let workspace = Workspace()
    func run() {
      #expect(maxPool2dForward(g, input: x, workspace: workspace).output == pooled)
      #expect(maxPool2dInference(g, input: x, workspace: workspace) == pooled)
      let y = localResponseNormForward(.alexNet, input: features, workspace: workspace)
      #expect(maxRelativeError(y, normalised) <= 1e-5)
      let dx = localResponseNormBackward(
        .alexNet, input: features, outputGradient: dy,
        workspace: workspace)
      #expect(maxRelativeError(dx, gradient) <= 1e-4)
    }
    run()
    let capacity = workspace.capacity
    #expect(capacity > 0)
    for _ in 0..<3 { run() }
    #expect(workspace.capacity == capacity)
  }

  /// Kernels given no workspace borrow their context's; a second borrower while it is out gets
  /// another, so two kernels never share scratch.
  @Test func kernelsBorrowTheContextsWorkspaceOneAtATime() throws {
    let g = try PoolGeometry(batch: 2, channels: 4, height: 9, width: 9, window: 3, stride: 2)
    var rng = SeededGenerator(seed: 22)
    let x = rng.tensor(g.inputShape)
    let context = ComputeContext()
    #expect(context.workspace.capacity == 0)
    _ = withComputeContext(context) { maxPool2dInference(g, input: x) }
    #expect(context.workspace.capacity > 0)
    context.withWorkspace { first in
      #expect(first === context.workspace)
      context.withWorkspace { second in #expect(second !== first) }
    }
    context.withWorkspace { again in #expect(again === context.workspace) }
  }

  /// Overlapping context scopes, ended out of order: OpenBLAS follows the latest scope still
  /// running, then returns to the count before the first; shard regions still take precedence.
  @Test func overlappingScopesSetOpenBLASThreadsInOrder() {
    var books = SingleThreadedBLASRegions()
    let (first, setFirst) = books.enterContext(threads: 1, current: 4)
    #expect(setFirst == 1)
    let (second, setSecond) = books.enterContext(threads: 2, current: 1)
    #expect(setSecond == 2)
    #expect(books.exitContext(first) == 2)
    #expect(books.enter(current: 2) == 1)
    #expect(books.exitContext(second) == nil)
    #expect(books.exit() == 4)
  }

  /// The atomic-write hook of one scope does not reach writes outside it, even at the same time.
  @Test func anAtomicWriteHookStaysInItsScope() async throws {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("hook-\(UUID().uuidString)")
    let (a, b) = (directory.appendingPathComponent("a"), directory.appendingPathComponent("b"))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    struct Crash: Error {}
    try await AtomicFile.$beforeRename.withValue(
      { _ in throw Crash() },
      operation: {
        #expect(throws: Crash.self) { try AtomicFile.write("a", to: a) }
        try await Task.detached { try AtomicFile.write("b", to: b) }.value
      })
    #expect(try String(contentsOf: b, encoding: .utf8) == "b")
    #expect(!FileManager.default.fileExists(atPath: a.path))
  }
}
