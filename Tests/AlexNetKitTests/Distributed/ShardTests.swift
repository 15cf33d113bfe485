import AlexNetKit
import Foundation
import Testing

/// Sharding a loader among ranks: the shards of an epoch are disjoint and together are the
/// epoch, and each image is the same tensor on its rank as in one process with the global batch.
@Suite struct ShardTests {
  /// 11 images of 3 classes, in one folder shared by the loaders compared.
  static func samples() throws -> [ImageFolder.Sample] {
    var files: [String: [UInt8]] = [:]
    for i in 0..<11 {
      files["c\(i % 3)/img\(i).png"] = try ImageEncoder.png(
        DataFixtures.gradient(width: 18 + i, height: 15 + i % 4))
    }
    return try ImageFolder(root: try DataFixtures.folder(files)).samples
  }

  func loader(_ samples: [ImageFolder.Sample], batchSize: Int, shard: (Int, Int)) -> BatchLoader {
    let pipeline = ImagePipeline(
      transforms: [.randomCrop(12), .randomHorizontalFlip], side: 12, normalization: .imageNet)
    let loader = BatchLoader(
      samples: samples, pipeline: pipeline, batchSize: batchSize, seed: 9, workers: 2)
    loader.shard = shard
    return loader
  }

  @Test(arguments: [(2, 2), (3, 2), (1, 3), (4, 3), (2, 4)])
  func shardsAreDisjointCompleteAndTheSameImages(perRank: Int, ranks: Int) throws {
    let samples = try Self.samples()
    let whole = Array(loader(samples, batchSize: perRank * ranks, shard: (0, 1)).epoch(1))
    var byRank: [[Batch]] = []
    for rank in 0..<ranks {
      let sharded = loader(samples, batchSize: perRank, shard: (rank, ranks))
      #expect(sharded.batchCount == whole.count)
      byRank.append(Array(sharded.epoch(1)))
    }
    let paths = byRank.flatMap { $0.flatMap(\.paths) }
    #expect(paths.count == 11 && Set(paths).count == 11)
    for (index, global) in whole.enumerated() {
      // Rank by rank, the shards of global batch k are its rows in order.
      let parts = byRank.map { $0[index] }
      #expect(parts.flatMap(\.paths) == global.paths)
      #expect(parts.flatMap(\.labels) == global.labels)
      #expect(parts.flatMap(\.images.scalars) == global.images.scalars)
      // Positions in the epoch's order, from which dropout masks are drawn, agree as well.
      #expect(parts.flatMap(\.positions) == global.positions)
      let first = index * perRank * ranks
      #expect(global.positions == Array(first..<min(11, first + perRank * ranks)))
    }
  }
}
