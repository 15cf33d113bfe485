import AlexNetKit
import ArgumentParser
import Foundation
import Testing

@testable import alexnet

/// The commands through the built binary, on small real and generated data: outputs, files,
/// exit codes, and each user error once.
@Suite(.serialized) struct CommandTests {
  static func scratch() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "alexnet-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The repository's bundled Imagenette sample.
  static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Samples/imagenette-mini")

  /// Two classes of real photographs from the bundled sample (golf balls and parachutes), copied
  /// under the names red and green, `perClass` each; optionally an empty third class folder.
  static func dataFolder(perClass: Int = 5, emptyClass: Bool = false) throws -> URL {
    let root = try scratch()
    for (name, source) in [("red", "golf_ball"), ("green", "parachute")] {
      let folder = root.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let files = try FileManager.default.contentsOfDirectory(
        atPath: sample.appendingPathComponent(source).path
      ).sorted()
      for (i, file) in files.prefix(perClass).enumerated() {
        try FileManager.default.copyItem(
          at: sample.appendingPathComponent(source).appendingPathComponent(file),
          to: folder.appendingPathComponent("\(i).\(i % 2 == 0 ? "JPEG" : "png")"))
      }
    }
    if emptyClass {
      try FileManager.default.createDirectory(
        at: root.appendingPathComponent("blue"), withIntermediateDirectories: true)
    }
    return root
  }

  @Test func trainParsesDefaultsAndRejectsBadValues() throws {
    // Flags left out stay nil (a resumed run takes them from config.json); a new run gets the
    // library's defaults, and the bundled sample's shorter settings without --data.
    let train = try Train.parse([])
    #expect(train.model == nil && train.batchSize == nil && train.lr == nil && train.data == nil)
    let configuration = try train.resolvedConfiguration(stored: nil)
    #expect(configuration.model == "small" && configuration.batchSize == 32)
    #expect(configuration.learningRate == 0.001 && configuration.seed == 123)
    #expect(configuration.optimizer == .adam && configuration.warmupEpochs == 1)
    #expect(configuration.clipGradNorm == 5 && configuration.monitor == .valLoss)
    #expect(configuration.epochs == 20 && configuration.imageSize == 64)
    #expect(configuration.data.hasSuffix("Samples/imagenette-mini"))
    let given = try Train.parse(["--data", "x", "--lr", "0.5", "--augment", "flip,none,crop"])
      .resolvedConfiguration(stored: nil)
    #expect(given.epochs == 50 && given.imageSize == nil && given.learningRate == 0.5)
    #expect(given.augment == [.crop, .flip])
    #expect(given.activation == .relu)
    // Without --lr, batches under 32 get the rate scaled down (all processes' images together).
    for (flags, processes, rate): ([String], Int, Float) in [
      (["--batch-size", "8"], 1, 0.00025), (["--batch-size", "8"], 2, 0.0005),
      (["--batch-size", "1"], 1, 0.001 / 32), (["--batch-size", "64"], 1, 0.001),
      (["--batch-size", "8", "--lr", "0.01"], 1, 0.01),
    ] {
      let scaled = try Train.parse(["--data", "x"] + flags)
        .resolvedConfiguration(stored: nil, processes: processes)
      #expect(scaled.learningRate == rate, "\(flags) on \(processes) processes")
    }
    let tanh = try Train.parse(["--data", "x", "--model", "cifar4", "--activation", "tanh"])
      .resolvedConfiguration(stored: nil)
    #expect(tanh.activation == .tanh && tanh.model == "cifar4")
    for bad in [
      ["--batch-size", "0"], ["--validation-split", "1.5"], ["--lr=-1"], ["--epochs", "0"],
      ["--augment", "crop,rotate"], ["--momentum", "1"], ["--threads", "0"],
      ["--min-lr=-1"], ["--resume"], ["--resume", "--overwrite", "--output", "x"],
      ["--image-size", "100000"], ["--activation", "sigmoid"], ["--tensorboard-every", "2"],
      ["--tensorboard", "tb", "--tensorboard-every", "0"], ["--bucket-megabytes", "0"],
    ] {
      #expect(throws: (any Error).self, "\(bad)") { try Train.parse(bad) }
    }
    #expect(
      Train.message(
        for: { () -> Error in
          do { _ = try Train.parse(["--augment", "crop,rotate"]) } catch { return error }
          return CommandError("parsed")
        }()
      ).contains("unknown rotate"))
  }

  /// Two runs into one log (3 epochs; the first with batch scalars, 8 images in batches of 4):
  /// two event files per folder, epoch scalars at steps 1, 2, 3, batch scalars at 1...4.
  func expectTensorBoardLog(_ log: URL) throws {
    var scalars: [String: [TensorBoardScalar]] = [:]
    for folder in ["train", "validation"] {
      let directory = log.appendingPathComponent(folder)
      let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
      #expect(files.count == 2 && files.allSatisfy { $0.hasPrefix("events.out.tfevents.") })
      for file in files {
        let read = try EventFileReader.scalars(in: directory.appendingPathComponent(file))
        #expect(read.version == "brain.Event:2")
        scalars[folder, default: []] += read.scalars
      }
    }
    let train = scalars["train"] ?? []
    #expect(train.filter { $0.tag == "epoch_loss" }.map(\.step) == [1, 2, 3])
    #expect(train.filter { $0.tag == "batch_loss" }.map(\.step) == [1, 2, 3, 4])
    #expect(train.filter { $0.tag == "epoch_learning_rate" }.count == 3)
    #expect(scalars["validation"]?.filter { $0.tag == "epoch_accuracy" }.map(\.step) == [1, 2, 3])
  }

  /// A stopped and resumed run ends with the same weights and optimizer state, bit for bit, as
  /// one uninterrupted run: each in a process of its own, where nothing else changes OpenBLAS's
  /// thread count (the in-process resume tests allow rounding for that reason).
  @Test func aResumedRunEqualsAnUninterruptedOneBitForBit() throws {
    let data = try Self.dataFolder()
    let scratch = try Self.scratch()
    func train(_ run: URL, epochs: Int, resume: Bool = false) throws -> Int32 {
      let result = try runAlexnet(
        [
          "train", "--data", data.path, "--validation-split", "0.2", "--epochs", "\(epochs)",
          "--batch-size", "4", "--image-size", "32", "--output", run.path,
        ] + (resume ? ["--resume"] : []))
      return result.status
    }
    let straight = scratch.appendingPathComponent("straight")
    let stopped = scratch.appendingPathComponent("stopped")
    #expect(try train(straight, epochs: 2) == 0)
    #expect(try train(stopped, epochs: 1) == 0)
    #expect(try train(stopped, epochs: 2, resume: true) == 0)
    let a = try Checkpoint(contentsOf: straight.appendingPathComponent("cp-0002.safetensors"))
    let b = try Checkpoint(contentsOf: stopped.appendingPathComponent("cp-0002.safetensors"))
    #expect(a.weights.map(\.name) == b.weights.map(\.name) && !a.weights.isEmpty)
    #expect(a.weights.map(\.tensor) == b.weights.map(\.tensor))
    #expect(a.optimizerState.map(\.tensor) == b.optimizerState.map(\.tensor))
  }

  @Test func trainEvaluatePredictEndToEnd() throws {
    let data = try Self.dataFolder()
    let run = try Self.scratch().appendingPathComponent("run")
    let train = try runAlexnet([
      "train", "--data", data.path, "--validation-split", "0.2", "--epochs", "2", "--batch-size",
      "4",
      "--image-size", "32", "--output", run.path, "--tensorboard", run.path + "-tb",
      "--tensorboard-every", "1",
    ])
    #expect(train.status == 0, "\(train.error)")
    #expect(
      train.output.contains("Found 10 files belonging to 2 classes.")
        && train.output.contains("Epoch 2/2 - "))
    #expect(train.output.contains("val_accuracy:") && train.output.contains("learning_rate:"))
    let files = Set(try FileManager.default.contentsOfDirectory(atPath: run.path))
    #expect(
      files.isSuperset(of: [
        "config.json", "cp-0001.safetensors", "cp-0002.safetensors", "best.safetensors",
        "history.csv", "curves.svg", "metrics.json",
      ]))

    let resumed = try runAlexnet([
      "train", "--data", data.path, "--validation-split", "0.2", "--epochs", "3", "--batch-size",
      "4",
      "--image-size", "32", "--output", run.path, "--resume", "--json-log",
      "--tensorboard", run.path + "-tb",
    ])
    #expect(
      resumed.status == 0
        && resumed.output.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 1)
    try expectTensorBoardLog(URL(fileURLWithPath: run.path + "-tb"))

    let evaluation = try runAlexnet([
      "evaluate", "--weights", run.appendingPathComponent("best.safetensors").path,
      "--data", data.path, "--json",
    ])
    #expect(evaluation.status == 0, "\(evaluation.error)")
    #expect(
      evaluation.output.contains("\"confusionMatrix\"") && evaluation.output.contains("\"top5\""))
    let tenCrop = try runAlexnet([
      "evaluate", "--weights", run.appendingPathComponent("best.safetensors").path,
      "--data", data.path, "--ten-crop",
    ])
    #expect(
      tenCrop.status == 0 && tenCrop.output.contains("(ten crops)")
        && tenCrop.output.contains("Confusion matrix"))

    let image = data.appendingPathComponent("red/1.png").path
    let prediction = try runAlexnet([
      "predict", "--weights", run.appendingPathComponent("cp-0003.safetensors").path,
      "--json", "--top", "2", image,
    ])
    #expect(prediction.status == 0, "\(prediction.error)")
    let object =
      try JSONSerialization.jsonObject(with: Data(prediction.output.utf8)) as? [String: Any]
    #expect(object?["image"] as? String == image)
    #expect(
      (object?["top"] as? [[String: Any]])?.count == 2
        && (object?["probabilities"] as? [Double])?.count == 2)

    // Feature vectors and nearest neighbours with an HTML page (preview: PreviewCommandTests).
    let index = run.appendingPathComponent("features.safetensors")
    let features = try runAlexnet([
      "features", "--weights", run.appendingPathComponent("best.safetensors").path,
      "--data", data.path, "--output", index.path,
    ])
    #expect(
      features.status == 0 && features.output.contains("Wrote 10 feature vectors of 512 values"),
      "\(features.error)")
    let stored = try SafetensorsFile(contentsOf: index)
    #expect(
      try stored.tensor(named: "features").shape == [10, 512]
        && stored.metadata["paths"]?.contains("red/1.png") == true)
    let page = run.appendingPathComponent("similar.html")
    let similar = try runAlexnet([
      "similar", "--features", index.path, "--weights",
      run.appendingPathComponent("best.safetensors").path,
      "--top", "3", "--html", page.path, image,
    ])
    #expect(
      similar.status == 0 && similar.output.contains("1. \(image) (distance 0.00"),
      "\(similar.output)\(similar.error)")
    #expect(try String(contentsOf: page, encoding: .utf8).contains("<img src="))

    // A checkpoint for another class count, and an unreadable image.
    let other = try Self.dataFolder(perClass: 2)
    try FileManager.default.createDirectory(
      at: other.appendingPathComponent("blue"), withIntermediateDirectories: true)
    try FileManager.default.removeItem(at: other.appendingPathComponent("green"))
    let mismatch = try runAlexnet([
      "evaluate", "--weights", run.appendingPathComponent("best.safetensors").path, "--data",
      other.path,
    ])
    #expect(
      mismatch.status != 0 && mismatch.error.contains("green") && !mismatch.error.contains("Fatal"))
    let otherModel = try runAlexnet([
      "predict", "--weights", run.appendingPathComponent("best.safetensors").path,
      "--model", "alexnet", image,
    ])
    #expect(otherModel.status != 0 && otherModel.error.contains("holds a small model, not alexnet"))
    let unreadable = try runAlexnet([
      "predict", "--weights", run.appendingPathComponent("best.safetensors").path,
      run.appendingPathComponent("history.csv").path,
    ])
    #expect(
      unreadable.status != 0 && unreadable.error.contains("history.csv: is not a JPEG or PNG image")
    )
  }

  @Test func userErrorsAreOneLineWithNonZeroExit() throws {
    let empty = try Self.scratch()
    let cases: [([String], String)] = [
      (["train", "--data", "/no/such/folder"], "/no/such/folder: does not exist"),
      (["train", "--data", empty.path], "has no class subfolders"),
      (
        ["train", "--data", try Self.dataFolder(perClass: 2).path, "--batch-size", "8"],
        "fewer than one batch of 8"
      ),
      (["train", "--model", "vgg16"], "'vgg16' is invalid for '--model"),
      (
        [
          "train", "--data", try Self.dataFolder().path, "--model", "alexnet", "--image-size", "64",
        ],
        "alexnet does not accept 64x64 images"
      ),
      (
        ["predict", "--weights", "/no/weights.safetensors", "x.jpg"],
        "/no/weights.safetensors: no such weights file"
      ),
    ]
    for (arguments, message) in cases {
      let result = try runAlexnet(arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.error.contains(message), "\(arguments): \(result.error)")
      #expect(
        !result.error.contains("Fatal error") && !result.error.contains("Stack"), "\(arguments)")
    }
    let warned = try runAlexnet([
      "train", "--data", try Self.dataFolder(emptyClass: true).path, "--epochs", "1",
      "--batch-size", "4", "--image-size", "32", "--output", try Self.scratch().path,
    ])
    #expect(warned.status == 0 && warned.output.contains("skipped blue/"))
  }

  @Test func everyCommandHasHelp() throws {
    for command in ["train", "evaluate", "predict", "summary", "features", "similar", "preview"] {
      let help = try runAlexnet([command, "--help"])
      #expect(help.status == 0 && help.output.contains("USAGE"), "\(command)")
    }
    #expect(try runAlexnet(["train", "--help"]).output.contains("(default: 0.001, times batch/32"))
  }
}
