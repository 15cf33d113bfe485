import AlexNetKit
import ArgumentParser
import Foundation
import RealModule

/// `alexnet evaluate`: loss, top-1, top-5, per-class accuracy and the confusion matrix.
struct Evaluate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Evaluate trained weights on a folder of images.")

  @Option(
    help: ArgumentHelp(
      "A checkpoint of this tool (cp-NNNN.safetensors or best.safetensors), an .onnx file of "
        + "alexnet export, or bare weights with --model."))
  var weights: String

  @Option(
    help: ArgumentHelp(
      "The model of bare weights (a file without a model record, such as a PyTorch state dict): "
        + ModelName.allCases.map(\.rawValue).joined(separator: ", ") + "."))
  var model: ModelName?

  @Option(help: "Image folder with the checkpoint's class folders (default: the bundled sample).")
  var data: String?

  @Option(
    help:
      "Evaluate only the validation part of a --validation-split of --data (same seed as training)."
  )
  var validationSplit: Double?

  @Option(help: "Seed of that split.")
  var seed: UInt64 = 123

  @Option(help: "Images per batch.")
  var batchSize = 32

  @Option(help: "Shorter side before cropping (overrides the recorded preprocessing).")
  var resize: Int?

  @Option(
    help:
      "Centre crop side (overrides the recorded preprocessing; alone, it scales the resize too).")
  var crop: Int?

  @Flag(help: "Average predictions over the paper's ten crops (four corners, centre, and mirrors).")
  var tenCrop = false

  @Flag(help: "Print the results as one JSON object.")
  var json = false

  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    guard batchSize >= 1 else {
      throw ValidationError("--batch-size must be at least 1, got \(batchSize)")
    }
    if let resize, resize < 1 { throw ValidationError("--resize must be positive, got \(resize)") }
    if let crop, crop < 1 { throw ValidationError("--crop must be positive, got \(crop)") }
    if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
      throw ValidationError("--validation-split must be in (0, 1), got \(validationSplit)")
    }
  }

  func run() throws {
    try compute.run {
      var loaded = try LoadedModel(weights: weights, model: model, classesFile: nil)
      try loaded.overridePreprocessing(resize: resize, crop: crop)
      try Self.checkMemory(
        loaded,
        flags: LoadedModel.preprocessingFlags(
          resize: resize, crop: crop, batch: tenCrop ? nil : "--batch-size"),
        batch: tenCrop ? 10 : batchSize)
      let root = try SampleData.folder(data)
      // Bare weights name no classes: the folder's sorted classes are the outputs, as training
      // numbers them.
      let folder = try ImageFolder(
        root: root, classNames: loaded.isBare ? nil : loaded.classNames,
        validationSplit: validationSplit,
        subset: validationSplit == nil ? .all : .validation, seed: seed)
      // Metrics over no images are NaN: a refusal, not "nan%" with exit code 0.
      guard !folder.samples.isEmpty else {
        throw CommandError(
          "\(root.path): --validation-split \(validationSplit ?? 0) leaves no images to evaluate")
      }
      if loaded.isBare {
        guard folder.classNames.count == loaded.classNames.count else {
          throw CommandError(
            "\(root.path) has \(folder.classNames.count) class folders; \(weights) has "
              + "\(loaded.classNames.count) outputs")
        }
        loaded.classNames = folder.classNames
      }
      let metrics: ClassificationMetrics
      if tenCrop {
        metrics = try evaluateTenCrop(
          loaded.network, samples: folder.samples, preprocessing: loaded.preprocessing,
          classCount: loaded.classNames.count)
      } else {
        let loader = BatchLoader(
          samples: folder.samples, pipeline: loaded.preprocessing.pipeline,
          batchSize: batchSize, shuffle: false, workers: compute.workers,
          stopOnBadFile: true)
        metrics = try evaluate(loaded.network, loader: loader, classCount: loaded.classNames.count)
      }
      if json {
        let report = EvaluationOutput(
          classNames: loaded.classNames, tenCrop: tenCrop,
          metrics: EvaluationReport(metrics))
        print(String(decoding: try JSONEncoder.runRecords().encode(report), as: UTF8.self))
      } else {
        printReport(metrics, classNames: loaded.classNames)
      }
    }
  }

  /// Refuses a batch (--batch-size, or the ten crops) whose estimate exceeds the memory budget.
  static func checkMemory(_ loaded: LoadedModel, flags: MemoryEstimate.Flags, batch: Int) throws {
    let side = loaded.preprocessing.side
    let resizeSide = loaded.preprocessing.resizeSide
    let budget = try MemoryBudget.system()
    try budget.checkBeforeBuilding(
      nil, classes: loaded.classNames.count, side: side, batch: batch, resizeSide: resizeSide,
      mode: .inference, flags: flags)
    try budget.check(
      loaded.network, side: side, batch: batch, resizeSide: resizeSide, mode: .inference,
      flags: flags)
  }

  /// The summary line, the per-class accuracies and the confusion matrix, as text.
  func printReport(_ metrics: ClassificationMetrics, classNames: [String]) {
    print(
      String(
        format: "%d images of %d classes%@: loss %.4f - top-1 %.2f%% - top-5 %.2f%%",
        metrics.samples, classNames.count, tenCrop ? " (ten crops)" : "", metrics.loss,
        metrics.top1Accuracy * 100, metrics.top5Accuracy * 100))
    print("\nPer-class accuracy:")
    let width = classNames.map(\.count).max() ?? 5
    for (name, accuracy) in zip(classNames, metrics.perClassAccuracy) {
      print(
        "  " + name.padding(toLength: width, withPad: " ", startingAt: 0)
          + (accuracy.isNaN ? "   -" : String(format: " %6.2f%%", accuracy * 100)))
    }
    print("\nConfusion matrix (rows: true class, columns: predicted):")
    for (name, row) in zip(classNames, metrics.confusion) {
      print(
        "  " + name.padding(toLength: width, withPad: " ", startingAt: 0)
          + row.map { String(format: "%5d", $0) }.joined())
    }
  }
}

struct EvaluationOutput: Encodable {
  var classNames: [String]
  var tenCrop: Bool
  var metrics: EvaluationReport
}
