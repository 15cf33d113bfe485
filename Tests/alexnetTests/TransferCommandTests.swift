import AlexNetKit
import Foundation
import Testing

@testable import alexnet

/// Transfer learning and bare weights through the built binary: `train --init-weights --freeze`,
/// and `evaluate`, `features` and `similar` with `--model`.
@Suite(.serialized) struct TransferCommandTests {
  /// `small`'s state dict for `classes` under PyTorch's DataParallel names (`module.`), without
  /// this tool's metadata, as `safetensors.torch.save_file` writes it.
  static func torchStyleWeights(
    classes: Int, seed: UInt64, dropping dropped: String = ""
  ) throws -> (URL, Sequential) {
    let model = ModelCatalog.make(.small, classes: classes, seed: seed)
    let url = try CommandTests.scratch().appendingPathComponent("torch.safetensors")
    try Safetensors.write(
      model.stateDict.filter { $0.name != dropped }.map { ("module.\($0.name)", $0.tensor) },
      metadata: ["format": "pt"], to: url)
    return (url, model)
  }

  @Test func trainParsesInitWeightsAndRepeatedFreeze() throws {
    let configuration = try Train.parse([
      "--data", "x", "--init-weights", "w.safetensors", "--freeze", "features", "--freeze",
      "classifier.0",
    ]).resolvedConfiguration(stored: nil)
    #expect(configuration.freeze == ["features", "classifier.0"])
    #expect(configuration.initWeights?.hasSuffix("/w.safetensors") == true)
    #expect(configuration.initWeights?.hasPrefix("/") == true)
    #expect(try Train.parse(["--data", "x"]).resolvedConfiguration(stored: nil).freeze == nil)
    #expect(throws: (any Error).self) { try Train.parse(["--freeze", ""]) }
  }

  @Test func trainStartsFromTorchWeightsWithFrozenFeatures() throws {
    let (weights, source) = try Self.torchStyleWeights(classes: 5, seed: 11)
    let data = try CommandTests.dataFolder()
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let train = try runAlexnet([
      "train", "--data", data.path, "--validation-split", "0.2", "--epochs", "1",
      "--batch-size", "4", "--image-size", "32", "--output", run.path,
      "--init-weights", weights.path, "--freeze", "features",
    ])
    #expect(train.status == 0, "\(train.error)")
    #expect(train.output.contains("removed the prefix \"module.\" from every name"))
    #expect(
      train.output.contains(
        "replaced the last layer classifier.6 (5 classes in the file, 2 here) with a fresh one"))
    #expect(train.output.contains("Frozen: features (") && train.output.contains("Epoch 1/1"))
    let saved = try Checkpoint(contentsOf: run.appendingPathComponent("cp-0001.safetensors"))
    let given = Dictionary(uniqueKeysWithValues: source.stateDict.map { ($0.name, $0.tensor) })
    let convolution = saved.weights.first { $0.name == "features.0.weight" }?.tensor
    let hidden = saved.weights.first { $0.name == "classifier.0.weight" }?.tensor
    #expect(convolution != nil && convolution == given["features.0.weight"])
    #expect(hidden != nil && hidden != given["classifier.0.weight"])
  }

  @Test func badInitWeightsAndFreezeAreOneLine() throws {
    let data = try CommandTests.dataFolder().path
    let (weights, _) = try Self.torchStyleWeights(
      classes: 2, seed: 12, dropping: "features.0.weight")
    let scratch = try CommandTests.scratch()
    let cases: [([String], String)] = [
      (["--init-weights", "/no/such.safetensors"], "/no/such.safetensors: cannot be read"),
      (["--init-weights", weights.path], "fit the model (1 missing): missing features.0.weight"),
      (["--freeze", "feature"], "--freeze feature matches no parameter"),
      (["--freeze", "features", "--freeze", "classifier"], "nothing to train"),
    ]
    for (index, (flags, message)) in cases.enumerated() {
      let result = try runAlexnet(
        [
          "train", "--data", data, "--epochs", "1", "--batch-size", "4", "--image-size", "64",
          "--output", scratch.appendingPathComponent("\(index)").path,
        ] + flags)
      #expect(result.status != 0, "\(flags)")
      #expect(result.error.contains(message), "\(flags): \(result.error)")
      // One error line (this machine's OpenBLAS may add a note of its own).
      let errors = result.error.split(separator: "\n").filter { $0.hasPrefix("Error") }
      #expect(errors.count == 1 && errors[0].contains(message), "\(flags): \(result.error)")
      #expect(!result.error.contains("Fatal error"), "\(flags)")
    }
  }

  /// Bare weights: the three commands that refused --model take it; evaluate numbers the folder's
  /// classes as training does.
  @Test func evaluateFeaturesAndSimilarTakeModelForBareWeights() throws {
    let (weights, _) = try Self.torchStyleWeights(classes: 2, seed: 13)
    let data = try CommandTests.dataFolder(perClass: 3)
    let refused = try runAlexnet(["evaluate", "--weights", weights.path, "--data", data.path])
    #expect(refused.status != 0 && refused.error.contains("say which with --model"))
    let evaluation = try runAlexnet([
      "evaluate", "--weights", weights.path, "--model", "small", "--data", data.path,
    ])
    #expect(evaluation.status == 0, "\(evaluation.error)")
    #expect(evaluation.output.contains("6 images of 2 classes: loss "))
    #expect(evaluation.output.contains("green") && evaluation.output.contains("red"))
    #expect(evaluation.error.contains("removed the prefix \"module.\""))
    let index = try CommandTests.scratch().appendingPathComponent("index.safetensors")
    let features = try runAlexnet([
      "features", "--weights", weights.path, "--model", "small", "--data", data.path,
      "--output", index.path,
    ])
    #expect(features.status == 0, "\(features.error)")
    #expect(features.output.contains("Wrote 6 feature vectors of 512 values"))
    let image = data.appendingPathComponent("red/1.png").path
    let similar = try runAlexnet([
      "similar", "--features", index.path, "--weights", weights.path, "--model", "small",
      "--top", "2", image,
    ])
    #expect(similar.status == 0, "\(similar.error)")
    #expect(similar.output.contains("1. \(image) (distance 0.000)"))
    let threeClasses = try CommandTests.dataFolder(perClass: 2, emptyClass: false)
    try FileManager.default.createDirectory(
      at: threeClasses.appendingPathComponent("blue"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      at: data.appendingPathComponent("red/1.png"),
      to: threeClasses.appendingPathComponent("blue/1.png"))
    let mismatch = try runAlexnet([
      "evaluate", "--weights", weights.path, "--model", "small", "--data", threeClasses.path,
    ])
    #expect(mismatch.status != 0 && mismatch.error.contains("has 3 class folders"))
    #expect(mismatch.error.contains("has 2 outputs"))
  }
}
