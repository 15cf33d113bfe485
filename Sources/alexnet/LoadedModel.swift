import AlexNetKit
import Foundation

/// A model ready for inference, from a checkpoint of this tool or from bare weights (such as
/// torchvision's state dict saved as safetensors, with `--model alexnet-tv`).
struct LoadedModel {
  var name: ModelName
  var network: Sequential
  var classNames: [String]
  var preprocessing: Preprocessing
  /// Bare weights: the class names are indices (or from --classes), not the training folders'.
  var isBare = false

  init(weights path: String, model requested: ModelName?, classesFile: String?) throws {
    let url = URL(fileURLWithPath: path)
    guard FileManager.default.fileExists(atPath: url.path) else {
      throw CommandError("\(path): no such weights file (expected a .safetensors checkpoint)")
    }
    if url.pathExtension.lowercased() == "onnx" {
      self = try Self(onnx: url, model: requested)  // in Export.swift
      if let classesFile {
        classNames = try Self.readClassNames(classesFile, count: classNames.count)
      }
      return
    }
    let file = try SafetensorsFile(contentsOf: url)
    if file.metadata["model"] != nil {
      let checkpoint = try Checkpoint(contentsOf: url)
      if let requested, requested.rawValue != checkpoint.model {
        throw CommandError("\(path) holds a \(checkpoint.model) model, not \(requested.rawValue)")
      }
      (name, network) = try ModelCatalog.make(for: checkpoint, source: path)
      classNames = checkpoint.classNames
      preprocessing = try checkpoint.recordedPreprocessing(source: path)
      try Checkpoint.checkInputSide(preprocessing.side, of: network, source: path)
    } else {
      guard let requested else {
        throw CommandError(
          "\(path) has bare weights without a model record: say which with --model")
      }
      (name, isBare) = (requested, true)
      let last = file.entries.last { $0.name.hasSuffix(".weight") && $0.shape.count == 2 }
      guard let classes = last?.shape.first else {
        throw CommandError("\(path): no dense layer weights found")
      }
      network = ModelCatalog.make(requested, classes: classes)
      let weights = try InitialWeights(file)
      let report = try WeightLoading.load(weights, into: network, replacingHead: false)
      // On standard error: --json output stays one object per line.
      if report.strippedPrefix != nil { printError(report.lines(source: path)[0]) }
      classNames = (0..<classes).map(String.init)
      preprocessing =
        requested == .alexnetTV
        ? .torchvision
        : Preprocessing(side: requested.defaultImageSize, normalization: .imageNet)
    }
    if let classesFile {
      classNames = try Self.readClassNames(classesFile, count: classNames.count)
    }
  }

  /// `--resize` and `--crop` of predict and evaluate. A crop alone keeps the paper's proportion
  /// (resize = crop·256/224), so that a larger crop is not cut from a smaller image. Refuses a
  /// crop the model cannot take.
  mutating func overridePreprocessing(resize: Int?, crop: Int?) throws {
    guard resize != nil || crop != nil else { return }
    if let crop {
      (preprocessing.side, preprocessing.resizeSide) = (crop, Preprocessing.resizeSide(for: crop))
    }
    if let resize { preprocessing.resizeSide = resize }
    let side = preprocessing.side
    do { _ = try network.outputShape(for: [1, 3, side, side]) } catch {
      throw CommandError("\(name.rawValue) does not accept \(side)x\(side) crops: \(error)")
    }
  }

  /// The memory-estimate labels of the crop and resize: the flag when given, else the record.
  static func preprocessingFlags(resize: Int?, crop: Int?, batch: String?)
    -> MemoryEstimate.Flags
  {
    MemoryEstimate.Flags(
      imageSize: crop == nil ? "the recorded crop" : "--crop", batch: batch,
      resize: resize == nil ? "the recorded resize" : "--resize")
  }

  /// Class names from a file: one per line, or a TSV whose last column is the name (such as
  /// imagenet-classes.tsv: index, wnid, name; or Imagenette's classes.tsv: wnid, name; a header
  /// line is skipped).
  static func readClassNames(_ path: String, count: Int) throws -> [String] {
    // 16 MB holds a million long names; a device or FIFO given here would be read without end.
    let data = try FileError.readRegularFile(
      URL(fileURLWithPath: path), expected: "a class names file (one name a line)", limit: 16 << 20)
    guard let text = String(data: data, encoding: .utf8) else {
      throw CommandError("\(path): is not UTF-8 text (expected one class name a line)")
    }
    var lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
      !$0.isEmpty
    }
    if let first = lines.first, ["index", "wnid"].contains(where: first.lowercased().hasPrefix) {
      lines.removeFirst()
    }
    let names = lines.map { String($0.split(separator: "\t").last ?? Substring($0)) }
    guard names.count == count else {
      throw CommandError("\(path) lists \(names.count) classes; the model has \(count)")
    }
    return names
  }
}
