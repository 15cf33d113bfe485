import Foundation
import TestSupport
import Testing

@testable import AlexNetKit

/// A network of one's own (not in the catalogue, not a plain chain) through the library: batches
/// from memory, training, checkpoints, an exact resume, evaluation, prediction and features.
@Suite struct OpenModelTests {
  /// A residual network with batch norm and dropout inside its blocks.
  func residualNetwork(seed: UInt64, classes: Int = 2) -> Sequential {
    var g = SeededGenerator(seed: seed)
    return Sequential([
      Conv2D(
        inChannels: 3, outChannels: 6, kernel: 3, stride: 2, padding: .explicit(1),
        initializer: .heNormal,
        generator: &g), ReLU(),
      Residual(
        Sequential([
          Conv2D(
            inChannels: 6, outChannels: 6, kernel: 3, padding: .same, initializer: .heNormal,
            generator: &g),
          ReLU(), BatchNorm(channels: 6), Dropout(rate: 0.2, seed: seed &+ 1),
        ])),
      AdaptiveAveragePool2D(height: 1, width: 1), Flatten(),
      Dropout(rate: 0.3, seed: seed &+ 2),
      Dense(inputs: 6, outputs: classes, initializer: .glorotUniform, generator: &g),
    ])
  }

  /// Two classes: bright and dark 9x11 images with noise.
  func batches(seed: UInt64 = 7, batchSize: Int = 5, shuffle: Bool = true) -> TensorBatches {
    var g = SeededGenerator(seed: 11)
    let labels = (0..<14).map { $0 % 2 }
    var images = g.tensor([14, 3, 9, 11])
    images.withUnsafeMutableBufferPointer { pixels in
      for (i, label) in labels.enumerated() {
        for j in 0..<(3 * 9 * 11) { pixels[i * 297 + j] += label == 0 ? -1 : 1 }
      }
    }
    return TensorBatches(
      images: images, labels: labels, batchSize: batchSize, shuffle: shuffle, seed: seed)
  }

  func trainer(seed: UInt64, output: URL?) -> Trainer {
    Trainer(
      model: residualNetwork(seed: seed), modelIdentifier: "tiny-resnet",
      modelConfiguration: #"{"width":6}"#,
      classNames: ["dark", "bright"],
      optimizer: SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4),
      schedule: ReduceOnPlateau(factor: 0.5, patience: 1), outputDirectory: output)
  }

  @Test func tensorBatchesCoverEveryImageOnceInASeededOrder() throws {
    let source = batches(batchSize: 4)
    #expect(source.batchCount == 4)
    var seen: [[Int]] = []
    for epoch in 0..<2 {
      var rows: [Int] = []
      try source.forEachBatch(epoch: epoch) { index, batch in
        #expect(batch.images.shape == [batch.labels.count, 3, 9, 11] && index == rows.count / 4)
        for i in 0..<batch.labels.count {
          // Each image comes with its own label and pixels: find its row by content.
          let pixels = Array(batch.images.scalars[(i * 297)..<((i + 1) * 297)])
          let row = (0..<14).first {
            Array(source.images.scalars[($0 * 297)..<(($0 + 1) * 297)]) == pixels
          }!
          #expect(source.labels[row] == batch.labels[i])
          rows.append(row)
        }
      }
      #expect(rows.sorted() == Array(0..<14) && rows == source.order(epoch: epoch))
      seen.append(rows)
    }
    #expect(seen[0] != seen[1])
    #expect(batches(batchSize: 4).order(epoch: 1) == seen[1])
    var dropLast = batches(batchSize: 4, shuffle: false)
    dropLast.dropLast = true
    #expect(dropLast.batchCount == 3 && dropLast.order(epoch: 3) == Array(0..<14))
  }

  /// Trains, checkpoints under the user's identifier, and resumes bit for bit: two epochs, a stop,
  /// a third epoch from cp-0002 equal the three epochs in one go (dropout inside the residual
  /// block, batch norm statistics, momentum and the schedule included).
  @Test func aResidualNetworkTrainsAndResumesExactly() throws {
    // One BLAS thread, set for the whole test: concurrent tests' batch shards set OpenBLAS's
    // process-wide count to 1 while they run, and an SGEMM's rounding depends on the count with
    // some kernel sets (Zen's). `aResumedRunEqualsAnUninterruptedOneBitForBit` checks the default
    // threads and shards, in processes of their own.
    try withComputeContext(ComputeContext(threadCount: 1)) {
      let straight = trainer(seed: 1, output: nil)
      try straight.fit(training: batches(), validation: batches(shuffle: false), epochs: 3)
      #expect(straight.history.records.last!.loss < straight.history.records.first!.loss)

      let directory = try DataFixtures.scratchDirectory()
      try trainer(seed: 1, output: directory).fit(
        training: batches(), validation: batches(shuffle: false), epochs: 2)
      let checkpoint = try Checkpoint(
        contentsOf: directory.appendingPathComponent("cp-0002.safetensors"))
      #expect(checkpoint.model == "tiny-resnet" && checkpoint.modelConfiguration == #"{"width":6}"#)
      #expect(checkpoint.weights.map(\.name).contains("2.branch.2.running_mean"))
      // Other weights and dropout seeds, all overwritten by the checkpoint.
      let second = trainer(seed: 42, output: directory)
      try second.resume(from: checkpoint, source: "cp-0002")
      try second.fit(training: batches(), validation: batches(shuffle: false), epochs: 3)

      #expect(second.model.stateDict.map(\.tensor) == straight.model.stateDict.map(\.tensor))
      #expect(second.history.records.map(\.loss) == straight.history.records.map(\.loss))
      #expect(second.optimizer.learningRate == straight.optimizer.learningRate)
      let metrics = try evaluate(second.model, loader: batches(shuffle: false), classCount: 2)
      #expect(
        metrics.samples == 14 && metrics.top1Accuracy > 0.9, "accuracy \(metrics.top1Accuracy)")
    }
  }

  /// A run of one's own network through `TrainingRun`: its checkpoints record its identifier.
  @Test func aTrainingRunRecordsTheNetworksIdentifier() throws {
    var configuration = TrainingRunTests.configuration(try TrainingRunTests.colourFolder())
    configuration.model = "tiny-resnet"
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    let run = try TrainingRun(configuration, directory: RunDirectory(url)) { classes in
      residualNetwork(seed: 1, classes: classes)
    }
    try run.fit()
    run.directory.close()
    let best = try Checkpoint(contentsOf: url.appendingPathComponent("best.safetensors"))
    #expect(best.model == "tiny-resnet" && best.classNames == ["green", "red"])
    #expect(best.weights.map(\.name).contains("2.branch.0.weight"))
  }

  @Test func aCheckpointOfAnotherIdentifierIsRefused() throws {
    let directory = try DataFixtures.scratchDirectory()
    try trainer(seed: 1, output: directory).fit(training: batches(), validation: nil, epochs: 1)
    let checkpoint = try Checkpoint(
      contentsOf: directory.appendingPathComponent("cp-0001.safetensors"))
    let other = Trainer(
      model: residualNetwork(seed: 1), modelIdentifier: "tiny-resnet-v2", classNames: ["a", "b"],
      optimizer: SGD(), outputDirectory: nil)
    #expect { try other.resume(from: checkpoint, source: "cp-0001") } throws: {
      "\($0)" == "cp-0001: is a checkpoint of model tiny-resnet, not tiny-resnet-v2"
    }
    #expect { try ModelCatalog.make(for: checkpoint, source: "cp-0001") } throws: {
      "\($0)".hasPrefix(
        "cp-0001: holds model tiny-resnet, which is not in the catalogue (alexnet, ")
    }
  }

  /// `learning_rate` is a decimal people can read; the exact bits live in `learning_rate_bits`;
  /// checkpoints written before that key (bits in `learning_rate`) still load exactly.
  @Test func learningRateMetadataIsReadableAndExact() throws {
    let rate = Float(0.1) * Float(0.3)  // not the Float nearest to any short decimal's double
    let checkpoint = Checkpoint(
      model: "m", classNames: ["a"], epoch: 3, learningRate: rate,
      weights: [("w", Tensor(zeros: [2]))], optimizerState: [], records: ["x": "{}"])
    let file = try SafetensorsFile(bytes: checkpoint.encoded(), source: "cp")
    #expect(
      file.metadata["learning_rate"] == "\(rate)" && Float(file.metadata["learning_rate"]!) == rate)
    #expect(file.metadata["learning_rate_bits"] == String(rate.bitPattern))
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("cp.safetensors")
    try checkpoint.write(to: [url])
    let read = try Checkpoint(contentsOf: url)
    #expect(
      read.learningRate.bitPattern == rate.bitPattern && read.records == ["x": "{}"]
        && read.epoch == 3)

    var old = file.metadata
    old["learning_rate"] = String(rate.bitPattern)
    old["learning_rate_bits"] = nil
    let oldURL = url.deletingLastPathComponent().appendingPathComponent("old.safetensors")
    try AtomicFile.write(Safetensors.encode([("w", Tensor(zeros: [2]))], metadata: old), to: oldURL)
    #expect(try Checkpoint(contentsOf: oldURL).learningRate.bitPattern == rate.bitPattern)
    #expect(Checkpoint.learningRate(["learning_rate": "0.01"]) == 0.01)
    #expect(Checkpoint.learningRate(["learning_rate": "fast"]) == nil)
  }

  /// A checkpoint's epoch is a whole number in range or the file is refused in one line naming
  /// it (a negative epoch trapped --resume; "abc" restarted at epoch 1 with trained weights).
  @Test(arguments: ["-1", "abc", "100000", "9223372036854775807", ""])
  func implausibleEpochsAreRefused(_ epoch: String) throws {
    let metadata = [
      "model": "m", "class_names": "[\"a\"]", "learning_rate": "0.01", "epoch": epoch,
    ]
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("epoch.safetensors")
    try AtomicFile.write(
      Safetensors.encode([("w", Tensor(zeros: [2]))], metadata: metadata), to: url)
    #expect {
      try Checkpoint(contentsOf: url)
    } throws: { error in
      "\(error)" == "\(url.path): has an unreadable epoch (expected a whole number in 0...99999)"
    }
  }

  @Test func predictionAndFeaturesWorkOnAnyLayer() throws {
    let model = residualNetwork(seed: 3)
    let image = RGBImage(width: 12, height: 10, pixels: (0..<360).map { UInt8($0 % 251) })
    let preprocessing = Preprocessing(resizeSide: 10, side: 9, normalization: .imageNet)
    let probabilities = classProbabilities(model, image: image, preprocessing: preprocessing)
    #expect(probabilities.count == 2 && abs(probabilities.reduce(0, +) - 1) < 1e-5)

    let images = batches().images
    let pooled = try features(of: model, images: images, through: "4")
    #expect(pooled.shape == [14, 6])
    // Dropout, after the layer named "4", is the identity in eval mode.
    #expect(pooled == penultimateFeatures(model, images: images))
    let inside = try features(of: model, images: images, through: "2")
    let extracted = features(of: model, images: images) { x in
      model.layers[2].layer(
        model.layers[1].layer(
          model.layers[0].layer(x)))
    }
    #expect(inside == extracted && inside.shape == [14, 6, 5, 6])
    #expect(model.isTraining)  // put back in the mode it was in
    #expect { try features(of: model, images: images, through: "2.branch.0") } throws: {
      "\($0)".contains("cannot stop at 2.branch.0 inside a Residual")
    }
    #expect { try features(of: model, images: images, through: "9") } throws: {
      "\($0)".contains("no layer 9")
    }
  }
}
