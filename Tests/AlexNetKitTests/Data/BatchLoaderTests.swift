import AlexNetKit
import Foundation
import Testing

@Suite struct BatchLoaderTests {
  func loader(
    workers: Int, files extra: [String: [UInt8]] = [:], stopOnBadFile: Bool = false,
    dropLast: Bool = false
  )
    throws -> BatchLoader
  {
    var files = extra
    for i in 0..<7 {
      files["c\(i % 2)/img\(i).png"] = try ImageEncoder.png(
        DataFixtures.gradient(width: 20 + i, height: 16))
    }
    let folder = try ImageFolder(root: try DataFixtures.folder(files))
    let pipeline = ImagePipeline(
      transforms: [.randomCrop(12), .randomHorizontalFlip], side: 12, normalization: .imageNet)
    return BatchLoader(
      samples: folder.samples, pipeline: pipeline, batchSize: 3, seed: 5, workers: workers,
      dropLast: dropLast, stopOnBadFile: stopOnBadFile)
  }

  @Test func batchesHaveTheirShapesAndCoverTheEpoch() throws {
    let loader = try loader(workers: 2)
    let batches = Array(loader.epoch(0))
    #expect(batches.map(\.labels.count) == [3, 3, 1])
    #expect(batches.allSatisfy { $0.images.shape == [$0.labels.count, 3, 12, 12] })
    #expect(Set(batches.flatMap(\.paths)).count == 7)
    #expect(try self.loader(workers: 1, dropLast: true).epoch(0).map(\.labels.count) == [3, 3])
  }

  /// The same seed gives the same batches with one worker or three; another epoch reshuffles.
  @Test func batchesDoNotDependOnTheWorkerCount() throws {
    let one = Array(try loader(workers: 1).epoch(1))
    let three = Array(try loader(workers: 3).epoch(1))
    func names(_ batches: [Batch]) -> [[String]] {
      batches.map { $0.paths.map { URL(fileURLWithPath: $0).lastPathComponent } }
    }
    #expect(names(one) == names(three))
    #expect(one.map(\.images) == three.map(\.images))
    #expect(names(Array(try loader(workers: 1).epoch(2))) != names(one))
  }

  @Test func badFilesAreSkippedAndNamed() throws {
    let bad = ["c0/broken.jpg": Array("nope".utf8), "c1/empty.png": [UInt8]()]
    let loader = try loader(workers: 2, files: bad)
    let images = Array(loader.epoch(0)).reduce(0) { $0 + $1.labels.count }
    #expect(images == 7)
    #expect(
      Set(loader.badFiles.map { URL(fileURLWithPath: $0.path).lastPathComponent }) == [
        "broken.jpg", "empty.png",
      ])
    let strict = try self.loader(workers: 1, files: bad, stopOnBadFile: true)
    let epoch = strict.epoch(0)
    _ = Array(epoch)
    #expect(epoch.error is FileError)
  }
}
