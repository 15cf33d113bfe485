import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet visualize`: pictures of a trained network (the work is in AlexNetKit's
/// `Visualization` and `ActivationPage`).
struct Visualize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Draw a network's learned filters or the feature maps of one image.",
    subcommands: [VisualizeFilters.self, VisualizeActivations.self])
}

/// Options to load the weights, shared by both pictures.
struct WeightsOptions: ParsableArguments {
  @Option(help: "A checkpoint, bare safetensors weights (with --model) or an .onnx file.")
  var weights: String

  @Option(
    help: ArgumentHelp(
      "The network, required for bare weights: "
        + ModelName.allCases.map(\.rawValue).joined(separator: ", ")))
  var model: ModelName?

  func load() throws -> LoadedModel {
    try LoadedModel(weights: weights, model: model, classesFile: nil)
  }
}

/// `alexnet visualize filters`: a convolution's kernels as a tile grid (the paper's figure 3).
struct VisualizeFilters: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "filters",
    abstract: "Write a convolution's kernels as a PNG grid, each scaled to its own range.",
    discussion: """
      A layer with three input channels (the first) gives one colour tile per kernel, as in \
      Krizhevsky et al. 2012, figure 3. Deeper layers give one row per kernel and one grey tile per \
      input channel of its group.
      """)

  @OptionGroup var source: WeightsOptions

  @Option(help: "The convolution, by its name in the weights (default: the first convolution).")
  var layer: String?

  @Option(help: "How many pixels each kernel value becomes.")
  var scale = 4

  @Option(help: "The PNG file to write.")
  var output: String

  func validate() throws {
    guard (1...32).contains(scale) else {
      throw ValidationError("--scale must be in 1...32, got \(scale)")
    }
  }

  func run() throws {
    try CommandError.reporting {
      try CommandError.checkOutput(output, isNot: [("--weights", source.weights)])
      let loaded = try source.load()
      let convolutions = loaded.network.namedLayers.filter { $0.layer is Conv2D }
      guard let first = convolutions.first else {
        throw CommandError("\(source.weights): the model has no convolution")
      }
      let chosen = layer.map { name in convolutions.first { $0.name == name } } ?? first
      guard let (name, found) = chosen, let convolution = found as? Conv2D else {
        throw CommandError(
          "--layer \(layer ?? ""): no such convolution; expected one of "
            + convolutions.map(\.name).joined(separator: ", "))
      }
      let grid = Visualization.filterGrid(convolution.weight.value, scale: scale)
      try AtomicFile.write(try ImageEncoder.png(grid), to: URL(fileURLWithPath: output))
      print(
        "Wrote \(output): \(name) weight \(convolution.weight.shape), "
          + "\(grid.width)x\(grid.height) pixels")
    }
  }
}

/// `alexnet visualize activations`: the feature maps of one photo after every layer.
struct VisualizeActivations: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "activations",
    abstract: "Write one image's feature maps after every layer as PNG grids and an HTML page.")

  @OptionGroup var source: WeightsOptions

  @Argument(help: "The image (JPEG or PNG).")
  var image: String

  @Option(help: "The folder to write index.html and the PNGs into (created if needed).")
  var output: String

  @OptionGroup var compute: ComputeOptions

  func run() throws {
    try compute.run {
      let loaded = try source.load()
      let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
      let title = "\(loaded.name.rawValue) on \(URL(fileURLWithPath: image).lastPathComponent)"
      let page = try ActivationPage(
        model: loaded.network, image: picture,
        preprocessing: loaded.preprocessing, title: title,
        directory: URL(fileURLWithPath: output))
      print("Wrote \(page.files[0].path) and \(page.files.count - 1) PNG files")
    }
  }
}
