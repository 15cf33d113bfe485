import Foundation

/// The training curves of a run as one SVG figure: loss and accuracy against epochs (training
/// and validation) side by side, the learning rate on its own panel below (log scale when it
/// spans a decade or more), round ticks with a grid on every axis, the best epoch (lowest
/// validation loss, or training loss without validation) marked on every panel, and the legend
/// above the panels so it never covers a curve.
public struct TrainingCurves: Sendable {
  public let history: History

  static let trainingColor = "#1f77b4"
  static let validationColor = "#d62728"
  static let rateColor = "#2ca02c"
  static let width = 920.0, height = 600.0
  static let left = 72.0, gutter = 96.0, right = 24.0

  public init(_ history: History) { self.history = history }

  /// A plot area of the figure and its two axes.
  struct Panel {
    let x: Double, y: Double, width: Double, height: Double
    let epochs: ChartAxis, values: ChartAxis

    func point(epoch: Int, value: Double) -> (x: Double, y: Double) {
      (
        x + epochs.fraction(Double(epoch)) * width,
        y + height - values.fraction(value) * height
      )
    }
  }

  public var svg: String {
    var canvas = SVGCanvas(width: Self.width, height: Self.height)
    let records = history.records
    let epochAxis = ChartAxis.linear(
      covering: [0, Double(max(records.last?.epoch ?? 1, 2))], targetTicks: 8, integer: true)
    let panelWidth = (Self.width - Self.left - Self.gutter - Self.right) / 2
    let losses = records.flatMap { [$0.loss] + ($0.validationLoss.map { [$0] } ?? []) }
    let lossPanel = Panel(
      x: Self.left, y: 96, width: panelWidth, height: 250, epochs: epochAxis,
      values: .linear(covering: losses.map(Double.init)))
    var accuracyAxis = ChartAxis.linear(covering: [0, 1])
    accuracyAxis.style = .percent
    let accuracyPanel = Panel(
      x: Self.left + panelWidth + Self.gutter, y: 96, width: panelWidth, height: 250,
      epochs: epochAxis, values: accuracyAxis)
    let rates = records.map { Double($0.learningRate) }
    let ratePanel = Panel(
      x: Self.left, y: 430, width: Self.width - Self.left - Self.right, height: 110,
      epochs: epochAxis, values: .automatic(covering: rates))
    header(&canvas)
    drawFrame(lossPanel, title: "loss (cross-entropy)", into: &canvas)
    drawFrame(accuracyPanel, title: "top-1 accuracy", into: &canvas)
    let rateTitle = ratePanel.values.scale == .log ? "learning rate (log scale)" : "learning rate"
    drawFrame(ratePanel, title: rateTitle, into: &canvas)
    drawPair(lossPanel, \.loss, \.validationLoss, into: &canvas)
    drawPair(accuracyPanel, \.accuracy, \.validationAccuracy, into: &canvas)
    drawSeries(
      records.map { ($0.epoch, Double($0.learningRate)) }, in: ratePanel,
      color: Self.rateColor, into: &canvas)
    if let best = history.best {
      for panel in [lossPanel, accuracyPanel, ratePanel] {
        markBest(best, in: panel, into: &canvas)
      }
      let value = Double(best.validationLoss ?? best.loss)
      let point = lossPanel.point(epoch: best.epoch, value: value)
      canvas.circle(
        x: point.x, y: point.y, radius: 6, fill: "none", stroke: "#333",
        attributes: "stroke-width=\"1.5\" class=\"best-point\"")
    }
    return canvas.document
  }

  /// The title, and the legend in its own band between the title and the panels.
  func header(_ canvas: inout SVGCanvas) {
    let records = history.records
    var title = "Training curves, \(records.count) epoch\(records.count == 1 ? "" : "s")"
    if let best = history.best {
      let monitored = best.validationLoss.map { ("validation loss", $0) } ?? ("loss", best.loss)
      title += String(
        format: ": best epoch %d (%@ %.4g)", best.epoch, monitored.0, Double(monitored.1))
    }
    canvas.text(title, x: Self.width / 2, y: 28, size: 17, anchor: "middle")
    var x = Self.left
    var items = [("training", Self.trainingColor, "")]
    if records.contains(where: { $0.validationLoss != nil }) {
      items.append(("validation", Self.validationColor, ""))
    }
    if history.best != nil { items.append(("best epoch", "#555", "stroke-dasharray=\"5,4\"")) }
    for (label, color, dash) in items {
      canvas.line(
        x1: x, y1: 54, x2: x + 28, y2: 54, stroke: color,
        attributes: "stroke-width=\"2\" \(dash)".trimmingCharacters(in: .whitespaces))
      canvas.text(label, x: x + 34, y: 58, size: 13, attributes: "class=\"legend\"")
      x += 34 + 8 * Double(label.count) + 28
    }
  }

  /// Grid, frame, tick labels, the panel's title above it and "epoch" below it.
  func drawFrame(_ panel: Panel, title: String, into canvas: inout SVGCanvas) {
    let bottom = panel.y + panel.height
    for tick in panel.values.ticks {
      let y = panel.point(epoch: 0, value: tick).y
      canvas.line(x1: panel.x, y1: y, x2: panel.x + panel.width, y2: y, stroke: "#e4e4e4")
      canvas.text(
        panel.values.label(tick), x: panel.x - 7, y: y + 4, size: 11, anchor: "end",
        attributes: "class=\"tick-y\"")
    }
    for tick in panel.epochs.ticks {
      let x = panel.x + panel.epochs.fraction(tick) * panel.width
      canvas.line(x1: x, y1: panel.y, x2: x, y2: bottom, stroke: "#e4e4e4")
      canvas.line(x1: x, y1: bottom, x2: x, y2: bottom + 5, stroke: "#666")
      canvas.text(
        panel.epochs.label(tick), x: x, y: bottom + 18, size: 11, anchor: "middle",
        attributes: "class=\"tick-x\"")
    }
    canvas.rect(x: panel.x, y: panel.y, width: panel.width, height: panel.height, stroke: "#888")
    canvas.text(title, x: panel.x, y: panel.y - 9, size: 14, attributes: "font-weight=\"bold\"")
    canvas.text("epoch", x: panel.x + panel.width / 2, y: bottom + 36, size: 12, anchor: "middle")
  }

  /// Training (solid) and, when recorded, validation (dashed) values of one metric.
  func drawPair(
    _ panel: Panel, _ training: KeyPath<EpochRecord, Float>,
    _ validation: KeyPath<EpochRecord, Float?>, into canvas: inout SVGCanvas
  ) {
    let records = history.records
    drawSeries(
      records.map { ($0.epoch, Double($0[keyPath: training])) }, in: panel,
      color: Self.trainingColor, into: &canvas)
    drawSeries(
      records.compactMap { r in r[keyPath: validation].map { (r.epoch, Double($0)) } },
      in: panel, color: Self.validationColor, into: &canvas)
  }

  /// A line through the finite values, broken where a value is not finite (a diverged epoch),
  /// with a dot on each point when there are few enough to tell apart.
  func drawSeries(
    _ values: [(Int, Double)], in panel: Panel, color: String, into canvas: inout SVGCanvas
  ) {
    var segment: [(x: Double, y: Double)] = []
    func flush() {
      if segment.count > 1 { canvas.polyline(segment, stroke: color) }
      segment.removeAll()
    }
    for (epoch, value) in values {
      guard value.isFinite, panel.values.scale == .linear || value > 0 else {
        flush()
        continue
      }
      let point = panel.point(epoch: epoch, value: value)
      segment.append(point)
      if values.count <= 40 { canvas.circle(x: point.x, y: point.y, radius: 2.5, fill: color) }
    }
    flush()
  }

  func markBest(_ best: EpochRecord, in panel: Panel, into canvas: inout SVGCanvas) {
    let x = panel.point(epoch: best.epoch, value: 0).x
    canvas.line(
      x1: x, y1: panel.y, x2: x, y2: panel.y + panel.height, stroke: "#555",
      attributes: "stroke-width=\"1.2\" stroke-dasharray=\"5,4\" class=\"best-epoch\"")
  }
}
