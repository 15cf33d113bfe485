import AlexNetKit
import Foundation
import Testing

@testable import alexnet

/// `alexnet export` through the built binary: both formats from a trained checkpoint, the ONNX
/// file read back by predict and evaluate with the checkpoint's answers, and the user errors.
@Suite(.serialized) struct ExportCommandTests {
  static func trainedRun() throws -> (data: URL, run: URL) {
    let data = try CommandTests.dataFolder(perClass: 4)
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let train = try runAlexnet([
      "train", "--data", data.path, "--validation-split", "0.25", "--epochs", "1",
      "--batch-size", "4", "--image-size", "64", "--output", run.path, "--quiet",
    ])
    #expect(train.status == 0, "\(train.error)")
    return (data, run)
  }

  @Test func exportedFilesGiveTheCheckpointsPredictions() throws {
    let (data, run) = try Self.trainedRun()
    let checkpoint = run.appendingPathComponent("best.safetensors").path
    let onnx = run.appendingPathComponent("model.onnx").path
    let weights = run.appendingPathComponent("weights.safetensors").path
    let exported = try runAlexnet([
      "export", "--weights", checkpoint, "--format", "onnx", "--output", onnx,
    ])
    #expect(
      exported.status == 0 && exported.output.contains("small, 2 classes, input 64x64"),
      "\(exported.error)")
    let state = try runAlexnet([
      "export", "--weights", checkpoint, "--format", "safetensors", "--output", weights,
    ])
    #expect(state.status == 0, "\(state.error)")

    // Weights only, PyTorch's names and counters, readable metadata.
    let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: weights))
    #expect(
      !file.names.contains { $0.hasPrefix("optimizer.") }
        && file.names.contains("features.2.num_batches_tracked"))
    #expect(file.entry(named: "features.2.num_batches_tracked")?.dtype == .i64)
    #expect(
      file.metadata["class_names"] == #"["green","red"]"# && file.metadata["model"] == "small")
    #expect(
      file.metadata["learning_rate"] == nil
        && file.metadata["preprocessing"]?.contains("\"input_size\":64") == true)

    let images = ["red/1.png", "green/0.JPEG"].map { data.appendingPathComponent($0).path }
    let fromCheckpoint = try runAlexnet(["predict", "--weights", checkpoint, "--json"] + images)
    let fromONNX = try runAlexnet(["predict", "--weights", onnx, "--json"] + images)
    #expect(fromONNX.status == 0, "\(fromONNX.error)")
    // The same layers and weights; each process picks its convolution algorithm per shape by
    // timing (im2col or Winograd), so the figures agree to float precision, not bit for bit.
    let lines = { (text: String) in text.split(separator: "\n").map(String.init) }
    let predicted = try Self.json(lines(fromONNX.output))
    #expect(Self.close(predicted, try Self.json(lines(fromCheckpoint.output))))
    #expect(fromONNX.output.contains("\"class\":\"red\""))

    let evaluation = try runAlexnet([
      "evaluate", "--weights", checkpoint, "--data", data.path, "--json",
    ])
    let onnxEvaluation = try runAlexnet([
      "evaluate", "--weights", onnx, "--data", data.path, "--json",
    ])
    #expect(onnxEvaluation.status == 0, "\(onnxEvaluation.error)")
    #expect(Self.close(try Self.json([onnxEvaluation.output]), try Self.json([evaluation.output])))
    #expect(onnxEvaluation.output.contains("\"confusionMatrix\""))
  }

  @Test func publishedCheckpointHasNoOptimizerStateNorMachinePaths() throws {
    let (data, run) = try Self.trainedRun()
    let checkpoint = run.appendingPathComponent("best.safetensors").path
    let published = run.appendingPathComponent("published.safetensors").path
    let result = try runAlexnet([
      "export", "--weights", checkpoint, "--format", "checkpoint", "--output", published,
    ])
    #expect(result.status == 0 && result.output.contains("small, 2 classes"), "\(result.error)")
    let original = try Checkpoint(contentsOf: URL(fileURLWithPath: checkpoint))
    let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: published))
    #expect(!original.optimizerState.isEmpty)
    #expect(!file.names.contains { $0.hasPrefix("optimizer.") })
    #expect(file.names.count == original.weights.count)
    let metadata = file.metadata.values.joined(separator: "\n")
    #expect(!metadata.contains(data.deletingLastPathComponent().path))
    #expect(file.metadata["history"] == original.records["history"])
    #expect(file.metadata["history"]?.contains("seconds") == true)
    // Still a model predict reads, with the same answers.
    let image = data.appendingPathComponent("red/1.png").path
    let before = try runAlexnet(["predict", "--weights", checkpoint, "--json", image])
    let after = try runAlexnet(["predict", "--weights", published, "--json", image])
    #expect(after.status == 0, "\(after.error)")
    #expect(Self.close(try Self.json([after.output]), try Self.json([before.output])))
  }

  /// Each text parsed as JSON.
  static func json(_ texts: [String]) throws -> [Any] {
    try texts.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) }
  }

  /// Same structure, same strings, numbers within 1e-5 (relative to 1 or their size).
  static func close(_ a: Any, _ b: Any) -> Bool {
    switch (a, b) {
    case (let x as [Any], let y as [Any]):
      return x.count == y.count && zip(x, y).allSatisfy { close($0, $1) }
    case (let x as [String: Any], let y as [String: Any]):
      return Set(x.keys) == Set(y.keys) && x.keys.allSatisfy { close(x[$0]!, y[$0]!) }
    case (let x as String, let y as String): return x == y
    case (let x as NSNumber, let y as NSNumber):
      return abs(x.doubleValue - y.doubleValue) <= 1e-5 * max(1, abs(y.doubleValue))
    default: return false
    }
  }

  @Test func badInputIsOneLineWithNonZeroExit() throws {
    let scratch = try CommandTests.scratch()
    let garbage = scratch.appendingPathComponent("garbage.onnx")
    try Data("no protobuf here".utf8).write(to: garbage)
    let out = scratch.appendingPathComponent("x.onnx").path
    let cases: [([String], String)] = [
      (
        ["export", "--weights", "/no/w.safetensors", "--format", "onnx", "--output", out],
        "/no/w.safetensors: no such"
      ),
      (
        ["export", "--weights", "/no/w.safetensors", "--format", "tflite", "--output", out],
        "--format: expected onnx, safetensors or checkpoint, got tflite"
      ),
      (["predict", "--weights", garbage.path, "x.jpg"], "garbage.onnx: not an ONNX model"),
    ]
    for (arguments, message) in cases {
      let result = try runAlexnet(arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.error.contains(message), "\(arguments): \(result.error)")
      // One line besides the BLAS note that commands computing print first.
      let lines = result.error.split(separator: "\n").filter { !$0.hasPrefix("note:") }
      #expect(!result.error.contains("Fatal error") && lines.count == 1, "\(arguments)")
    }
    #expect(!FileManager.default.fileExists(atPath: out))
    let help = try runAlexnet(["export", "--help"])
    #expect(help.status == 0 && help.output.contains("load_state_dict(strict=True)"))
  }
}
