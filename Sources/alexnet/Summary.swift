import AlexNetKit
import ArgumentParser

/// `alexnet summary`: the layer table of a model, as Keras's `model.summary()` prints it.
struct Summary: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print a model's layers, output shapes, parameter counts and forward FLOPs.")

  @Option(
    help:
      "Network: \(ModelName.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; "))."
  )
  var model: ModelName = .alexnet

  @Option(help: "Number of classes of the last layer.")
  var classes = 1000

  @Option(
    help:
      "Input side in pixels (default: the model's own, 227 for alexnet, 224 for the others, 96 for small)."
  )
  var imageSize: Int?

  @Option(help: "Print the graph instead of the table: dot (Graphviz).")
  var graph: GraphFormat?

  @Option(help: "With --graph: write F.dot, or F.svg / F.png through Graphviz's dot.")
  var output: String?

  func validate() throws {
    if output != nil && graph == nil { throw ValidationError("--output needs --graph dot") }
    guard classes > 0 else { throw ValidationError("--classes must be positive, got \(classes)") }
    if let imageSize, imageSize <= 0 {
      throw ValidationError("--image-size must be positive, got \(imageSize)")
    }
  }

  func run() throws {
    let side = imageSize ?? model.defaultImageSize
    // Shapes only, but a refusal here is what a forward pass at these sizes would hit.
    let flags = MemoryEstimate.Flags(imageSize: "--image-size", classes: "--classes")
    let budget = try MemoryBudget.system()
    try budget.checkBeforeBuilding(
      model, classes: classes, side: side, mode: .inference, flags: flags)
    let network = ModelCatalog.make(model, classes: classes)
    let summary: ModelSummary
    do {
      summary = try ModelSummary(network, inputShape: [3, side, side])
    } catch {
      throw CommandError(
        "\(model.rawValue) does not accept \(side)x\(side) images: \(error.message)")
    }
    try budget.check(network, side: side, mode: .inference, flags: flags)
    if graph != nil {
      let title = "\(model.rawValue) (\(classes) classes, \(side)x\(side) RGB input)"
      let text = try ModelGraph.dot(network, inputShape: [3, side, side], title: title)
      try CommandError.reporting { try GraphOutput.write(text, to: output) }
      return
    }
    print("Model: \"\(model.rawValue)\" (\(classes) classes, \(side)x\(side) RGB input)")
    print(summary.text)
  }
}
