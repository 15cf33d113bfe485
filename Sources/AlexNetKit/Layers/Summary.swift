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
  }

  public var rows: [Row]
  public var trainableParameters: Int
  public var nonTrainableParameters: Int
  public var totalParameters: Int { trainableParameters + nonTrainableParameters }
  /// Floating-point operations (multiply-adds ×2) of one image's forward pass.
  public var forwardFLOPsPerImage: Double

  /// Traces an input of `inputShape` ([C, H, W], no batch) through the model's shapes.
  public init(_ model: any Layer, inputShape: [Int]) throws(ShapeError) {
    var shape = [1] + inputShape
    var rows: [Row] = []
    let leaves = model.children.isEmpty ? [(name: "0", layer: model)] : model.namedLeaves
    for (name, layer) in leaves {
      do {
        shape = try layer.outputShape(for: shape)
      } catch {
        throw ShapeError("layer \(name) (\(layer.kind)) of input \(Array(shape.dropFirst())): \(error.message)")
      }
      let count = (layer.parameters + layer.buffers).reduce(0) { $0 + $1.variable.value.count }
      rows.append(Row(name: name, kind: layer.kind, outputShape: Array(shape.dropFirst()), parameters: count))
    }
    self.rows = rows
    trainableParameters = model.trainableParameterCount
    nonTrainableParameters = model.nonTrainableParameterCount
    forwardFLOPsPerImage = model.forwardFLOPs(inputShape: [1] + inputShape)
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
      return bytes >= 1_048_576 ? String(format: "%.2f MB", bytes / 1048576) : String(format: "%.2f KB", bytes / 1024)
    }
    let header = ["Layer (type)", "Output Shape", "Param #"]
    let cells = rows.map { ["\($0.name) (\($0.kind))", "(None, " + $0.outputShape.map(String.init).joined(separator: ", ") + ")",
                            grouped($0.parameters)] }
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
