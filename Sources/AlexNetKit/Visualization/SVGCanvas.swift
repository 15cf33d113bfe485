import Foundation

/// A standalone SVG drawing built element by element: real text (selectable, searchable, any
/// font the viewer has), numbers printed with one decimal so files stay small and diffable.
/// `viewBox` is the canvas itself, so nothing outside `0...width × 0...height` is shown.
public struct SVGCanvas: Sendable {
  public let width: Double, height: Double
  public private(set) var elements: [String] = []

  public init(width: Double, height: Double) { (self.width, self.height) = (width, height) }

  /// `&`, `<`, `>` and quotes as entities, for text content and attribute values.
  public static func escaped(_ text: String) -> String {
    var out = ""
    for character in text {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      default: out.append(character)
      }
    }
    return out
  }

  static func number(_ value: Double) -> String {
    let rounded = (value * 10).rounded() / 10
    return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.1f", rounded)
  }

  /// `anchor`: start, middle or end; `attributes` are added verbatim (class, fill, rotation...).
  public mutating func text(
    _ content: String, x: Double, y: Double, size: Double = 12, anchor: String = "start",
    attributes: String = ""
  ) {
    elements.append(
      "<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\""
        + " text-anchor=\"\(anchor)\"\(attributes.isEmpty ? "" : " " + attributes)>"
        + Self.escaped(content) + "</text>")
  }

  public mutating func line(
    x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, attributes: String = ""
  ) {
    elements.append(
      "<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\""
        + " y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\""
        + "\(attributes.isEmpty ? "" : " " + attributes)/>")
  }

  public mutating func rect(
    x: Double, y: Double, width: Double, height: Double, fill: String = "none",
    stroke: String = "none"
  ) {
    elements.append(
      "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\""
        + " height=\"\(Self.number(height))\" fill=\"\(fill)\" stroke=\"\(stroke)\"/>")
  }

  public mutating func polyline(
    _ points: [(x: Double, y: Double)], stroke: String, width: Double = 2, attributes: String = ""
  ) {
    let list = points.map { Self.number($0.x) + "," + Self.number($0.y) }.joined(separator: " ")
    elements.append(
      "<polyline fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\""
        + " points=\"\(list)\"\(attributes.isEmpty ? "" : " " + attributes)/>")
  }

  public mutating func circle(
    x: Double, y: Double, radius: Double, fill: String, stroke: String = "none",
    attributes: String = ""
  ) {
    elements.append(
      "<circle cx=\"\(Self.number(x))\" cy=\"\(Self.number(y))\" r=\"\(Self.number(radius))\""
        + " fill=\"\(fill)\" stroke=\"\(stroke)\"\(attributes.isEmpty ? "" : " " + attributes)/>")
  }

  /// An image by reference (`href`: a relative path or a data URL), drawn at its own scale.
  public mutating func image(href: String, x: Double, y: Double, width: Double, height: Double) {
    elements.append(
      "<image href=\"\(Self.escaped(href))\" x=\"\(Self.number(x))\" y=\"\(Self.number(y))\""
        + " width=\"\(Self.number(width))\" height=\"\(Self.number(height))\"/>")
  }

  /// The document, on a white background.
  public var document: String {
    let size = "width=\"\(Self.number(width))\" height=\"\(Self.number(height))\""
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" \(size)"
      + " viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\""
      + " font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      + elements.joined(separator: "\n") + "\n</svg>\n"
  }
}
