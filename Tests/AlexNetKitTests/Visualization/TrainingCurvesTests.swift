import Foundation
import Testing

@testable import AlexNetKit

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// The elements of an SVG document that the checks below read, from a real XML parser (so a
/// document that is not well-formed fails to parse).
final class SVGElements: NSObject, XMLParserDelegate {
  struct Text {
    var x = 0.0, y = 0.0, size = 0.0, anchor = "", className = "", content = ""
  }
  var texts: [Text] = []
  var attributes: [(name: String, values: [String: String])] = []
  var viewBox: [Double] = []
  private var open: Text?

  static func parse(_ svg: String) -> SVGElements? {
    let elements = SVGElements()
    let parser = XMLParser(data: Data(svg.utf8))
    parser.delegate = elements
    return parser.parse() ? elements : nil
  }

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
    qualifiedName: String?, attributes values: [String: String] = [:]
  ) {
    attributes.append((name, values))
    if name == "svg" {
      viewBox = (values["viewBox"] ?? "").split(separator: " ").compactMap { Double($0) }
    }
    if name == "text" {
      open = Text(
        x: Double(values["x"] ?? "") ?? .nan, y: Double(values["y"] ?? "") ?? .nan,
        size: Double(values["font-size"] ?? "") ?? .nan, anchor: values["text-anchor"] ?? "",
        className: values["class"] ?? "")
    }
  }

  func parser(_ parser: XMLParser, foundCharacters string: String) { open?.content += string }

  func parser(
    _ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?
  ) {
    if name == "text", let text = open { texts.append(text) }
    open = nil
  }

  /// Every text's estimated box (0.62 em per character, generous for sans-serif digits and
  /// lower case) lies inside the view box.
  func textsOutsideViewBox() -> [String] {
    guard viewBox.count == 4 else { return ["no viewBox"] }
    return texts.filter { text in
      let width = 0.62 * text.size * Double(text.content.count)
      let left =
        text.anchor == "middle"
        ? text.x - width / 2
        : text.anchor == "end"
          ? text.x - width : text.x
      return left < viewBox[0] || left + width > viewBox[0] + viewBox[2]
        || text.y - text.size < viewBox[1] || text.y + 0.25 * text.size > viewBox[1] + viewBox[3]
    }.map(\.content)
  }
}

@Suite struct TrainingCurvesTests {
  /// Random ranges, from tiny to huge: the step is 1, 2, 2.5 or 5 times a power of ten, the
  /// ticks are whole multiples of it covering the values, and each label reads back as its tick.
  @Test func linearTicksAreRoundAndCoverTheValues() {
    var generator = SeededGenerator(seed: 18)
    for _ in 0..<500 {
      let scale = pow(10, Double.random(in: -6...6, using: &generator))
      let values = (0..<Int.random(in: 1...20, using: &generator)).map { _ in
        Double.random(in: -1...1, using: &generator) * scale
      }
      let axis = ChartAxis.linear(covering: values)
      let mantissa = axis.step / pow(10, log10(axis.step).rounded(.down))
      #expect([1, 2, 2.5, 5].contains { abs(mantissa - $0) < 1e-9 }, "step \(axis.step)")
      #expect(axis.lower <= values.min()! && axis.upper >= values.max()!)
      #expect((2...12).contains(axis.ticks.count), "\(axis.ticks.count) ticks for \(values)")
      for tick in axis.ticks {
        let multiple = tick / axis.step
        #expect(abs(multiple - multiple.rounded()) < 1e-6)
        let read = Double(axis.label(tick))!
        #expect(abs(read - tick) <= axis.step * 1e-6, "\(tick) labelled \(axis.label(tick))")
      }
    }
  }

  @Test func epochTicksAreWholeNumbers() {
    for epochs in [2, 3, 7, 11, 30, 49, 90, 250] {
      let axis = ChartAxis.linear(covering: [0, Double(epochs)], targetTicks: 8, integer: true)
      #expect(axis.ticks.allSatisfy { $0 == $0.rounded() }, "\(axis.ticks)")
      #expect(axis.ticks.first == 0 && axis.upper >= Double(epochs))
      #expect(!axis.ticks.map(axis.label).contains { $0.contains(".") })
    }
  }

  @Test func learningRateSpanningDecadesGetsALogAxis() {
    // Float rates, as EpochRecord holds them: 1e-4 must not open a decade below it.
    let cut = ChartAxis.automatic(covering: [0.01, 0.01, 0.001, 0.0001].map { Double(Float($0)) })
    #expect(cut.scale == .log)
    #expect(cut.ticks.map(cut.label) == ["1e-4", "0.001", "0.01"])
    #expect(abs(cut.fraction(0.001) - 0.5) < 1e-12)
    let halved = ChartAxis.automatic(covering: [0.02, 0.01])
    #expect(halved.scale == .linear && halved.lower == 0 && halved.upper > 0.02)
    let tiny = ChartAxis.log(covering: [1e-7, 1e-2])
    #expect(tiny.label(1e-7) == "1e-7")
  }

  static func history(epochs: Int, nanAt: Int? = nil) -> History {
    History(
      records: (1...epochs).map { epoch in
        let e = Float(epoch)
        return EpochRecord(
          epoch: epoch, loss: epoch == nanAt ? .nan : 2.3 / e, accuracy: 0.1 + 0.8 * e / 40,
          top5: 0.5, validationLoss: 2.0 / e + 0.02 * e, validationAccuracy: 0.2 + 0.5 * e / 40,
          validationTop5: 0.6, learningRate: epoch <= 10 ? 0.01 : epoch <= 20 ? 0.001 : 0.0001,
          seconds: 3)
      })
  }

  /// The figure parses as XML; every caption is real text inside the view box; the rate panel
  /// is logarithmic; the legend sits above the panels; the best epoch (lowest validation loss:
  /// 2/e + 0.02e is least at e = 10) is marked on the three panels.
  @Test func figureHasTextInsideItsViewBoxAndMarksTheBestEpoch() throws {
    let history = Self.history(epochs: 25)
    #expect(history.best?.epoch == 10)
    let svg = history.svg
    let elements = try #require(SVGElements.parse(svg))
    #expect(elements.textsOutsideViewBox() == [])
    let captions = Set(elements.texts.map(\.content))
    #expect(captions.isSuperset(of: ["loss (cross-entropy)", "top-1 accuracy", "epoch"]))
    #expect(captions.contains("learning rate (log scale)") && !captions.contains("1e-5"))
    #expect(captions.isSuperset(of: ["1e-4", "0.001", "0.01", "0%", "100%", "25"]))
    #expect(elements.texts.contains { $0.content.contains("best epoch 10") })
    let panels = elements.attributes.filter { $0.name == "rect" && $0.values["stroke"] == "#888" }
    #expect(panels.count == 3)
    let top = panels.compactMap { Double($0.values["y"] ?? "") }.min() ?? 0
    let legend = elements.texts.filter { $0.className == "legend" }
    #expect(legend.map(\.content) == ["training", "validation", "best epoch"])
    #expect(legend.allSatisfy { $0.y < top })
    let marks = elements.attributes.filter { $0.values["class"] == "best-epoch" }
    #expect(marks.count == 3)
    let epochTen = elements.texts.first { $0.className == "tick-x" && $0.content == "10" }
    #expect(marks.first?.values["x1"].flatMap(Double.init) == epochTen?.x)
  }

  /// A diverged epoch breaks the training-loss line instead of drawing "nan" or leaving the
  /// frame: two pieces, and no non-finite coordinate anywhere.
  @Test func aNonFiniteLossBreaksTheLine() throws {
    let svg = Self.history(epochs: 6, nanAt: 3).svg
    let elements = try #require(SVGElements.parse(svg))
    let lines = elements.attributes.filter {
      $0.name == "polyline" && $0.values["stroke"] == TrainingCurves.trainingColor
    }
    #expect(lines.count == 1 + 1 + 1)  // loss before and after epoch 3, and accuracy
    #expect(!svg.lowercased().contains("nan") && !svg.contains("inf"))
    #expect(elements.textsOutsideViewBox() == [])
  }

  @Test func textIsEscaped() {
    var canvas = SVGCanvas(width: 100, height: 50)
    canvas.text("a < b & \"c\"", x: 10, y: 20)
    #expect(canvas.document.contains(">a &lt; b &amp; &quot;c&quot;</text>"))
    #expect(SVGElements.parse(canvas.document)?.texts.first?.content == "a < b & \"c\"")
  }
}
