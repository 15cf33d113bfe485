import Synchronization
import Testing

@testable import AlexNetKit

@Suite struct ParallelTests {
  /// Two callers' shard regions overlapping: OpenBLAS goes to one thread at the first start and
  /// back at the last end, not when the first caller finishes.
  @Test func overlappingRegionsRestoreAtTheLastEnd() {
    var regions = SingleThreadedBLASRegions()
    #expect(regions.enter(current: 2) == 1)
    #expect(regions.enter(current: 1) == nil)
    #expect(regions.exit() == nil)
    #expect(regions.active == 1)
    #expect(regions.exit() == 2)
    #expect(regions.active == 0)
  }

  /// `--threads` given while shards run takes effect when they end; outside a region at once.
  @Test func threadCountAskedForInsideARegionWaitsForItsEnd() {
    var regions = SingleThreadedBLASRegions()
    #expect(regions.request(3) == 3)
    #expect(regions.enter(current: 3) == 1)
    #expect(regions.request(2) == nil)
    #expect(regions.exit() == 2)
  }

  /// Every shard sees OpenBLAS single-threaded and marked as inside a shard, and the ranges
  /// cover the items once.
  @Test func shardsRunWithSingleThreadedBLAS() {
    let seen = Mutex([(blasThreads: Int, inside: Bool, range: Range<Int>)]())
    Parallel.forEachShard(7, shards: 3) { _, range in
      let entry = (BLASRuntime.threadCount, Parallel.isInsideShard, range)
      seen.withLock { $0.append(entry) }
    }
    let entries = seen.withLock { $0 }
    #expect(entries.count == 3)
    #expect(entries.allSatisfy { $0.blasThreads == 1 && $0.inside })
    #expect(entries.map(\.range).sorted { $0.lowerBound < $1.lowerBound } == [0..<2, 2..<4, 4..<7])
    #expect(!Parallel.isInsideShard)
  }
}
