import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet export`: trained weights in a form other tools run or load.
struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Export trained weights as ONNX or as a PyTorch state dict.",
    discussion: """
      onnx: an ONNX graph (opset 17) with input images [N, 3, S, S] float32 (N dynamic) and output \
      logits [N, classes]; dropout is left out and batch norm uses its running statistics. The class \
      names and the preprocessing are in metadata_props as JSON; `alexnet predict` and `evaluate` \
      read the file back.
      safetensors: weights only under PyTorch's names, as load_state_dict(strict=True) wants them \
      (no optimizer state), with the same metadata.
      checkpoint: this tool's checkpoint to publish: no optimizer state and no machine paths (the \
      data folders keep their last two components); the history and the preprocessing stay.
      """)

  static let modelNames = ModelName.allCases.map(\.rawValue).joined(separator: ", ")

  enum Format: String, CaseIterable {
    case onnx, safetensors, checkpoint
  }

  @Option(help: "A checkpoint of this tool, or bare safetensors weights with --model.")
  var weights: String

  // A string checked in run(), so that a wrong value is one line without the usage text.
  @Option(help: "onnx, safetensors or checkpoint.")
  var format = "onnx"

  @Option(help: "The file to write.")
  var output: String

  @Option(help: "The network, required for bare weights (\(modelNames)).")
  var model: ModelName?

  @Option(help: "Class names: one per line, or a TSV whose last column is the name.")
  var classes: String?

  func run() throws {
    try CommandError.reporting {
      guard let format = Format(rawValue: format) else {
        throw CommandError("--format: expected onnx, safetensors or checkpoint, got \(format)")
      }
      try CommandError.checkOutput(
        output, isNot: [("--weights", weights), ("--classes", classes)])
      let loaded = try LoadedModel(weights: weights, model: model, classesFile: classes)
      let info = ExportedModelInfo(
        model: loaded.name, classNames: loaded.classNames, preprocessing: loaded.preprocessing)
      let url = URL(fileURLWithPath: output)
      switch format {
      case .onnx: try ONNXExport.write(loaded.network, info: info, to: url)
      case .safetensors: try StateDictExport.write(loaded.network, info: info, to: url)
      case .checkpoint: return try publish()
      }
      let side = loaded.preprocessing.side
      let classes = loaded.classNames.count
      print("Wrote \(output): \(loaded.name.rawValue), \(classes) classes, input \(side)x\(side)")
    }
  }
}

extension Export {
  /// Writes the checkpoint without its optimizer state and machine paths.
  func publish() throws {
    let source = URL(fileURLWithPath: weights)
    let published = try Checkpoint(contentsOf: source).published()
    try published.write(to: [URL(fileURLWithPath: output)])
    let classes = published.classNames.count
    print("Wrote \(output): \(published.model), \(classes) classes, epoch \(published.epoch)")
  }
}

extension LoadedModel {
  /// A model from an ONNX file this tool exported: layers, weights, class names and
  /// preprocessing all come from the file.
  init(onnx url: URL, model requested: ModelName?) throws {
    let imported = try ONNXImport(contentsOf: url)
    guard let model = imported.info.model else {
      throw CommandError(
        "\(url.path): a network of one's own; predict and evaluate read catalogue models only")
    }
    if let requested, requested != model {
      throw CommandError("\(url.path) holds a \(model.rawValue) model, not \(requested.rawValue)")
    }
    (name, network, classNames, preprocessing) = (
      model, imported.network, imported.info.classNames,
      imported.info.preprocessing
    )
  }
}
