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
    #expect(
      fromONNX.output == fromCheckpoint.output && fromONNX.output.contains("\"class\":\"red\""))

    let evaluation = try runAlexnet([
      "evaluate", "--weights", checkpoint, "--data", data.path, "--json",
    ])
    let onnxEvaluation = try runAlexnet([
      "evaluate", "--weights", onnx, "--data", data.path, "--json",
    ])
    #expect(
      onnxEvaluation.status == 0 && onnxEvaluation.output == evaluation.output,
      "\(onnxEvaluation.error)")
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
        "--format: expected onnx or safetensors, got tflite"
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
