import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet predict`: the top classes of each image.
struct Predict: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Classify images with trained weights.",
    discussion: """
      Preprocessing follows what the checkpoint recorded; for bare torchvision weights with \
      --model alexnet-tv it is torchvision's (shorter side 256, centre crop 224, ImageNet mean and \
      standard deviation). --json prints one object per image and line:
      {"image": PATH, "top": [{"index": I, "class": NAME, "probability": P}, ...], "probabilities": [...]}
      """)

  @Option(
    help:
      "A checkpoint (cp-NNNN.safetensors, best.safetensors), bare safetensors weights, or an .onnx file of alexnet export."
  )
  var weights: String

  @Option(
    help:
      "The network, required for bare weights (\(ModelName.allCases.map(\.rawValue).joined(separator: ", ")))."
  )
  var model: ModelName?

  @Option(
    help:
      "Class names: one per line, or a TSV whose last column is the name (e.g. imagenet-classes.tsv)."
  )
  var classes: String?

  @Option(help: "Shorter side before cropping (overrides the recorded preprocessing).")
  var resize: Int?

  @Option(
    help:
      "Centre crop side (overrides the recorded preprocessing; alone, it scales the resize too).")
  var crop: Int?

  @Option(help: "How many classes to list.")
  var top = 5

  @Flag(help: "Average over the paper's ten crops instead of the centre view.")
  var tenCrop = false

  @Flag(help: "One JSON object per image.")
  var json = false

  @OptionGroup var compute: ComputeOptions

  @Argument(help: "Images (JPEG or PNG).")
  var images: [String]

  func validate() throws {
    guard !images.isEmpty else { throw ValidationError("give at least one image") }
    guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
    if let resize, resize < 1 { throw ValidationError("--resize must be positive, got \(resize)") }
    if let crop, crop < 1 { throw ValidationError("--crop must be positive, got \(crop)") }
  }

  func run() throws {
    try compute.run {
      var loaded = try LoadedModel(weights: weights, model: model, classesFile: classes)
      try loaded.overridePreprocessing(resize: resize, crop: crop)
      let side = loaded.preprocessing.side
      let resizeSide = loaded.preprocessing.resizeSide
      let flags = LoadedModel.preprocessingFlags(resize: resize, crop: crop, batch: nil)
      let budget = try MemoryBudget.system()
      try budget.checkBeforeBuilding(
        nil, classes: loaded.classNames.count, side: side, batch: tenCrop ? 10 : 1,
        resizeSide: resizeSide, mode: .inference, flags: flags)
      try budget.check(
        loaded.network, side: side, batch: tenCrop ? 10 : 1, resizeSide: resizeSide,
        mode: .inference, flags: flags)
      for path in images {
        let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
        let probabilities = classProbabilities(
          loaded.network, image: image, preprocessing: loaded.preprocessing, tenCrop: tenCrop)
        let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(
          top)
        if json {
          let line = PredictionLine(
            image: path,
            top: ranked.map {
              .init(index: $0, class: loaded.classNames[$0], probability: probabilities[$0])
            }, probabilities: probabilities)
          let encoder = JSONEncoder()
          encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
          print(String(decoding: try encoder.encode(line), as: UTF8.self))
        } else {
          print(path)
          for (rank, index) in ranked.enumerated() {
            print(
              String(
                format: "  %d. %@ (%.2f%%)", rank + 1, loaded.classNames[index],
                probabilities[index] * 100))
          }
        }
      }
    }
  }
}

struct PredictionLine: Encodable {
  struct Entry: Encodable {
    var index: Int
    var `class`: String
    var probability: Float
  }
  var image: String
  var top: [Entry]
  var probabilities: [Float]
}
