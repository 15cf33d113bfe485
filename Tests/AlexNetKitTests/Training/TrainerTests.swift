import AlexNetKit
import Foundation
import Testing

@testable import AlexNetKit

@Suite(.serialized) struct TrainerTests {
  /// Six real Imagenette photographs (Fixtures/data/few), two per class, in an image folder.
  func realFolder() throws -> ImageFolder {
    let few = DataFixtures.url("few")
    var files: [String: [UInt8]] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: few.path) {
      files["\(name.prefix(9))/\(name)"] = [UInt8](
        try Data(contentsOf: few.appendingPathComponent(name)))
    }
    return try ImageFolder(root: DataFixtures.folder(files))
  }

  /// Generated images whose class is their dominant colour.
  func syntheticFolder(perClass: Int = 4) throws -> ImageFolder {
    var files: [String: [UInt8]] = [:]
    var g = SeededGenerator(seed: 1)
    for (label, colour) in [(255, 40, 40), (40, 200, 60)].enumerated() {
      for i in 0..<perClass {
        var pixels: [UInt8] = []
        for _ in 0..<(40 * 40) {
          let noise = { (v: Int) in UInt8(max(0, min(255, v + Int(g.nextNormal() * 30)))) }
          pixels += [noise(colour.0), noise(colour.1), noise(colour.2)]
        }
        files["class\(label)/\(i).png"] = try ImageEncoder.png(
          RGBImage(width: 40, height: 40, pixels: pixels))
      }
    }
    return try ImageFolder(root: DataFixtures.folder(files))
  }

  func loader(_ folder: ImageFolder, augment: Bool = false, batchSize: Int = 4) -> BatchLoader {
    let transforms: [ImageTransform] =
      augment ? [.randomCrop(36), .randomHorizontalFlip] : [.resize(width: 40, height: 40)]
    return BatchLoader(
      samples: folder.samples,
      pipeline: ImagePipeline(
        transforms: transforms, side: augment ? 36 : 40,
        normalization: .imageNet),
      batchSize: batchSize, seed: 9)
  }

  func trainer(
    _ folder: ImageFolder, seed: UInt64 = 3, output: URL?, optimizer: (any Optimizer)? = nil
  ) -> Trainer {
    Trainer(
      model: ModelCatalog.make(.small, classes: folder.classNames.count, seed: seed),
      modelIdentifier: "small", classNames: folder.classNames,
      optimizer: optimizer ?? SGD(learningRate: 0.01), outputDirectory: output)
  }

  @Test func smallModelOverfitsAFewRealImages() throws {
    let folder = try realFolder()
    let training = trainer(folder, output: nil, optimizer: Adam(learningRate: 0.003))
    try training.fit(training: loader(folder, batchSize: 6), validation: nil, epochs: 60)
    let metrics = try evaluate(training.model, loader: loader(folder, batchSize: 6), classCount: 3)
    #expect(
      metrics.top1Accuracy == 1, "training accuracy \(metrics.top1Accuracy), loss \(metrics.loss)")
    #expect(training.history.records.last!.loss < training.history.records.first!.loss)
  }

  /// Two epochs, a stop, and a resumed third epoch give the same weights, bit for bit, as three
  /// epochs in one go (dropout, augmentation, momentum and the schedule included).
  @Test func resumeIsExact() throws {
    // One BLAS thread, set for the whole test: concurrent tests' batch shards set OpenBLAS's
    // process-wide count to 1 while they run, and an SGEMM's rounding depends on the count with
    // some kernel sets (Zen's). `aResumedRunEqualsAnUninterruptedOneBitForBit` checks the default
    // threads and shards, in processes of their own.
    try withComputeContext(ComputeContext(threadCount: 1)) {
      let folder = try syntheticFolder()
      // A rate at which these 40 px images train without tripping the divergence guard.
      let trainer = { (seed: UInt64, output: URL) in
        self.trainer(folder, seed: seed, output: output, optimizer: SGD(learningRate: 0.002))
      }
      let straight = trainer(3, try DataFixtures.scratchDirectory())
      try straight.fit(
        training: loader(folder, augment: true), validation: loader(folder), epochs: 3)

      let directory = try DataFixtures.scratchDirectory()
      let first = trainer(3, directory)
      try first.fit(training: loader(folder, augment: true), validation: loader(folder), epochs: 2)
      // other initial weights, all overwritten
      let second = trainer(99, directory)
      try second.resume(
        from: Checkpoint(contentsOf: directory.appendingPathComponent("cp-0002.safetensors")),
        source: "cp-0002")
      try second.fit(training: loader(folder, augment: true), validation: loader(folder), epochs: 3)

      #expect(second.model.stateDict.map(\.tensor) == straight.model.stateDict.map(\.tensor))
      #expect(second.history.records.map(\.loss) == straight.history.records.map(\.loss))
      #expect(second.optimizer.learningRate == straight.optimizer.learningRate)
    }
  }

  @Test func runDirectoryHoldsCheckpointsHistoryAndCurves() throws {
    let folder = try syntheticFolder()
    let directory = try DataFixtures.scratchDirectory()
    try trainer(folder, output: directory).fit(
      training: loader(folder), validation: loader(folder), epochs: 2)
    let files = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    #expect(
      files.isSuperset(of: [
        "cp-0001.safetensors", "cp-0002.safetensors", "best.safetensors", "history.csv",
        "curves.svg",
      ]))
    let csv = try String(
      contentsOf: directory.appendingPathComponent("history.csv"), encoding: .utf8
    ).split(separator: "\n")
    #expect(csv.first == Substring(History.csvHeader) && csv.count == 3)
    #expect(
      try String(contentsOf: directory.appendingPathComponent("curves.svg"), encoding: .utf8)
        .contains("<polyline"))
  }

  /// A crash while the second checkpoint is written leaves the first one whole and loadable.
  @Test func aHalfWrittenCheckpointNeverReplacesThePreviousOne() throws {
    let folder = try syntheticFolder()
    let directory = try DataFixtures.scratchDirectory()
    let training = trainer(folder, output: directory)
    try training.fit(training: loader(folder), validation: nil, epochs: 1)
    let before = try Data(contentsOf: directory.appendingPathComponent("cp-0001.safetensors"))
    struct Killed: Error {}
    AtomicFile.$beforeRename.withValue(
      { _ in throw Killed() },
      operation: {
        #expect(throws: Killed.self) {
          try training.fit(training: loader(folder), validation: nil, epochs: 2)
        }
      })
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    #expect(!files.contains("cp-0002.safetensors") && !files.contains { $0.contains(".tmp-") })
    #expect(try Data(contentsOf: directory.appendingPathComponent("cp-0001.safetensors")) == before)
    #expect(
      try Checkpoint(contentsOf: directory.appendingPathComponent("cp-0001.safetensors")).epoch == 1
    )
  }

  @Test func resumingAnotherModelOrClassCountIsRefused() throws {
    let folder = try syntheticFolder(perClass: 2)
    let directory = try DataFixtures.scratchDirectory()
    try trainer(folder, output: directory).fit(training: loader(folder), validation: nil, epochs: 1)
    let checkpoint = try Checkpoint(
      contentsOf: directory.appendingPathComponent("cp-0001.safetensors"))
    let other = Trainer(
      model: ModelCatalog.make(.small, classes: 5), modelIdentifier: "small",
      classNames: ["a", "b", "c", "d", "e"], optimizer: SGD(), outputDirectory: nil)
    #expect { try other.resume(from: checkpoint, source: "cp-0001") } throws: {
      "\($0)".contains("for 2 classes, not 5")
    }
    #expect {
      try checkpoint.checkCompatible(model: "alexnet", classes: 2, source: "cp-0001")
    } throws: { "\($0)".contains("model small, not alexnet") }
  }
}
