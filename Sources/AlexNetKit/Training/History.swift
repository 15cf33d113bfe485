import Foundation

/// One row per epoch, as Keras's `History` keeps it; written as CSV and drawn as SVG curves.
public struct EpochRecord: Codable, Sendable, Equatable {
  public var epoch: Int
  public var loss: Float
  public var accuracy: Float
  public var top5: Float
  public var validationLoss: Float?
  public var validationAccuracy: Float?
  public var validationTop5: Float?
  public var learningRate: Float
  public var seconds: Double
}

public struct History: Codable, Sendable, Equatable {
  public var records: [EpochRecord] = []
  public init(records: [EpochRecord] = []) { self.records = records }

  public static let csvHeader =
    "epoch,loss,accuracy,top5,val_loss,val_accuracy,val_top5,learning_rate,seconds"

  public var csv: String {
    func field(_ value: Float?) -> String { value.map { String(format: "%.6g", $0) } ?? "" }
    return
      ([Self.csvHeader]
      + records.map { r in
        [
          String(r.epoch), field(r.loss), field(r.accuracy), field(r.top5), field(r.validationLoss),
          field(r.validationAccuracy), field(r.validationTop5), field(r.learningRate),
          String(format: "%.2f", r.seconds),
        ]
        .joined(separator: ",")
      }).joined(separator: "\n") + "\n"
  }

  /// Loss and accuracy against epochs, training and validation, as a standalone SVG.
  public var svg: String {
    let width = 900.0
    let height = 360.0
    let panel = 400.0
    let margin = 50.0
    func path(_ values: [(Int, Float)], panelIndex: Int, range: ClosedRange<Double>, epochs: Int)
      -> String
    {
      guard !values.isEmpty else { return "" }
      let x0 = margin + Double(panelIndex) * (panel + margin)
      return values.map { epoch, value in
        let x = x0 + (epochs <= 1 ? panel / 2 : Double(epoch - 1) / Double(epochs - 1) * panel)
        let y =
          height - margin - (Double(value) - range.lowerBound)
          / max(range.upperBound - range.lowerBound, 1e-9) * (height - 2 * margin)
        return String(format: "%.1f,%.1f", x, y)
      }.joined(separator: " ")
    }
    let epochs = records.last?.epoch ?? 1
    let losses = records.flatMap { [$0.loss] + ($0.validationLoss.map { [$0] } ?? []) }.filter(
      \.isFinite)
    let lossRange = 0.0...max(Double(losses.max() ?? 1), 1e-3)
    var body = ""
    for (index, title) in ["loss", "accuracy"].enumerated() {
      let x0 = margin + Double(index) * (panel + margin)
      body +=
        "<rect x=\"\(x0)\" y=\"\(margin)\" width=\"\(panel)\" height=\"\(height - 2 * margin)\" fill=\"none\" stroke=\"#999\"/>\n"
      body +=
        "<text x=\"\(x0 + panel / 2)\" y=\"\(margin - 15)\" text-anchor=\"middle\" font-size=\"16\">\(title)</text>\n"
      body +=
        "<text x=\"\(x0 + panel / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\" font-size=\"12\">epoch (1-\(epochs))</text>\n"
      let range = index == 0 ? lossRange : 0.0...1.0
      body += String(
        format: "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n",
        x0 - 4, margin + 4, range.upperBound)
      body += String(
        format: "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n",
        x0 - 4, height - margin, range.lowerBound)
      let training = records.map { ($0.epoch, index == 0 ? $0.loss : $0.accuracy) }
      let validation = records.compactMap { r in
        (index == 0 ? r.validationLoss : r.validationAccuracy).map { (r.epoch, $0) }
      }
      for (series, color, label) in [
        (training, "#1f77b4", "training"), (validation, "#d62728", "validation"),
      ] where !series.isEmpty {
        body +=
          "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path(series, panelIndex: index, range: range, epochs: epochs))\"/>\n"
        let legendY = margin + 18 + (color == "#1f77b4" ? 0 : 16)
        body +=
          "<text x=\"\(x0 + panel - 8)\" y=\"\(legendY)\" text-anchor=\"end\" font-size=\"12\" fill=\"\(color)\">\(label)</text>\n"
      }
    }
    return
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\">\n"
      + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n"
  }
}
