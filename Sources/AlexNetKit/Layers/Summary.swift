import Foundation

/// A Keras-style `model.summary()`: one row per layer with its output shape and parameter count,
/// then the totals with their size in MB, and the forward FLOPs per image.
public struct ModelSummary: Sendable {
  public struct Row: Sendable {
    public var name: String
    public var kind: String
    /// Output shape without the batch dimension.
    public var outputShape: [Int]
    public var parameters: Int
    /// A convolution's im2col columns per image (all groups): in·kh·kw × outH·outW; 0 otherwise.
    public var workspaceFloats = 0
  }

  public var rows: [Row]
  public var trainableParameters: Int
  public var nonTrainableParameters: Int
  public var totalParameters: Int { trainableParameters + nonTrainableParameters }
  /// Floating-point operations (multiply-adds ×2) of one image's forward pass.
  public var forwardFLOPsPerImage: Double

  /// Traces an input of `inputShape` ([C, H, W], no batch) through the model's shapes: the
  /// children of a `Sequential` in a chain, each child of any other container (a `Residual`'s
  /// branch and shortcut) from the container's input, then the container's own row for the result.
  public init(_ model: any Layer, inputShape: [Int]) throws(ShapeError) {
    var rows: [Row] = []
    let root = model.children.isEmpty || model is Sequential ? "0" : "model"
    _ = try Self.trace(model, name: root, shape: [1] + inputShape, isRoot: true, into: &rows)
    self.rows = rows
    trainableParameters = model.trainableParameterCount
    nonTrainableParameters = model.nonTrainableParameterCount
    forwardFLOPsPerImage = model.forwardFLOPs(inputShape: [1] + inputShape)
  }

  /// Appends the rows of `layer` (named `name`) for an input of `shape`; returns its output shape.
  static func trace(
    _ layer: any Layer, name: String, shape: [Int], isRoot: Bool,
    into rows: inout [Row]
  ) throws(ShapeError) -> [Int] {
    let prefix = isRoot ? "" : name + "."
    if let sequential = layer as? Sequential, !isRoot || !layer.children.isEmpty {
      var x = shape
      for (child, inner) in sequential.layers {
        x = try trace(inner, name: prefix + child, shape: x, isRoot: false, into: &rows)
      }
      return x
    }
    for (child, inner) in layer.children {
      _ = try trace(inner, name: prefix + child, shape: shape, isRoot: false, into: &rows)
    }
    let output: [Int]
    do { output = try layer.outputShape(for: shape) } catch {
      let input = Array(shape.dropFirst())
      throw ShapeError("layer \(name) (\(layer.kind)) of input \(input): \(error.message)")
    }
    let count = (layer.parameters + layer.buffers).reduce(0) { $0 + $1.variable.value.count }
    var row = Row(
      name: name, kind: layer.kind, outputShape: Array(output.dropFirst()), parameters: count)
    if let conv = layer as? Conv2D, output.count == 4 {
      let w = conv.weight.value.shape
      row.workspaceFloats = conv.inChannels * w[2] * w[3] * output[2] * output[3]
    }
    rows.append(row)
    return output
  }

  /// The table as text.
  public var text: String {
    func grouped(_ n: Int) -> String {
      let digits = String(n)
      var out = ""
      for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
      }
      return out
    }
    func megabytes(_ count: Int) -> String {
      let bytes = Double(count * 4)
      return bytes >= 1_048_576
        ? String(format: "%.2f MB", bytes / 1_048_576) : String(format: "%.2f KB", bytes / 1024)
    }
    let header = ["Layer (type)", "Output Shape", "Param #"]
    let cells = rows.map {
      [
        "\($0.name) (\($0.kind))",
        "(None, " + $0.outputShape.map(String.init).joined(separator: ", ") + ")",
        grouped($0.parameters),
      ]
    }
    var widths = header.map(\.count)
    for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ row: [String]) -> String {
      row[0].padding(toLength: widths[0], withPad: " ", startingAt: 0) + "  "
        + row[1].padding(toLength: widths[1], withPad: " ", startingAt: 0) + "  "
        + String(repeating: " ", count: widths[2] - row[2].count) + row[2]
    }
    let rule = String(repeating: "─", count: widths.reduce(4, +))
    var lines = [rule, line(header), rule]
    lines += cells.map(line)
    lines += [
      rule,
      "Total params: \(grouped(totalParameters)) (\(megabytes(totalParameters)))",
      "Trainable params: \(grouped(trainableParameters)) (\(megabytes(trainableParameters)))",
      "Non-trainable params: \(grouped(nonTrainableParameters)) (\(megabytes(nonTrainableParameters)))",
      String(format: "Forward FLOPs per image: %.3f GFLOP", forwardFLOPsPerImage / 1e9),
    ]
    return lines.joined(separator: "\n")
  }
}
