/// A network drawn as a Graphviz DOT graph: one box per layer with its type, output shape,
/// parameter count and groups, in the order data flows. A residual block forks into its branch
/// and its shortcut (identity or projection) and joins at a "+" node, so residual graphs read
/// as they compute.
public enum ModelGraph {
  /// The DOT text of `model` for inputs of `inputShape` (without the batch), or the first layer
  /// that does not accept the shape it is given.
  public static func dot(_ model: any Layer, inputShape: [Int], title: String) throws(ShapeError)
    -> String
  {
    var builder = DotBuilder()
    let input = builder.node("input\n\(shapeText([1] + inputShape))", style: "shape=ellipse")
    let (last, shape) = try builder.add(model, name: "", from: input, shape: [1] + inputShape)
    let params = model.parameterCount.formatted(grouping: ",")
    let output = builder.node(
      "output\n\(shapeText(shape))\n\(params) parameters in all",
      style: "shape=ellipse")
    builder.edge(last, output)
    return """
      digraph "\(escape(title))" {
        label="\(escape(title))"; labelloc=t; fontname="Helvetica";
        node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];
        edge [fontname="Helvetica"];
      \(builder.lines.map { "  " + $0 }.joined(separator: "\n"))
      }

      """
  }

  static func shapeText(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }

  /// Text inside a DOT double-quoted string: quotes and backslashes escaped, newlines as `\n`.
  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n")
  }
}

/// Nodes and edges of a DOT graph, numbered as they are added.
struct DotBuilder {
  var lines: [String] = []
  var count = 0

  mutating func node(_ label: String, style: String = "") -> String {
    count += 1
    let id = "n\(count)"
    let attributes = style.isEmpty ? "" : ", " + style
    lines.append("\(id) [label=\"\(ModelGraph.escape(label))\"\(attributes)];")
    return id
  }

  mutating func edge(_ from: String, _ to: String, label: String = "") {
    lines.append("\(from) -> \(to)\(label.isEmpty ? "" : " [label=\"\(label)\"]");")
  }

  /// Adds `layer` after node `from`, returning its last node and output shape: a Sequential
  /// as its children in a chain, a Residual as a fork and a join, anything else as one box.
  mutating func add(_ layer: any Layer, name: String, from: String, shape: [Int])
    throws(ShapeError) -> (String, [Int])
  {
    func child(_ part: String) -> String { name.isEmpty ? part : "\(name).\(part)" }
    if let sequential = layer as? Sequential {
      var (last, current) = (from, shape)
      for (part, inner) in sequential.layers {
        (last, current) = try add(inner, name: child(part), from: last, shape: current)
      }
      return (last, current)
    }
    if let residual = layer as? Residual {
      let (branch, output) = try add(
        residual.branch, name: child("branch"), from: from,
        shape: shape)
      let join = node("\(name) +\n\(ModelGraph.shapeText(output))", style: "shape=circle")
      edge(branch, join)
      if let shortcut = residual.shortcut {
        let (projected, _) = try add(shortcut, name: child("shortcut"), from: from, shape: shape)
        edge(projected, join)
      } else {
        edge(from, join, label: "identity")
      }
      return (join, try residual.outputShape(for: shape))
    }
    let output = try layer.outputShape(for: shape)
    var label = "\(name.isEmpty ? layer.kind : name): \(layer.kind)"
    if let convolution = layer as? Conv2D {
      label += "\n\(convolution.kernel)×\(convolution.kernel) stride \(convolution.stride)"
      if convolution.groups > 1 { label += ", groups \(convolution.groups)" }
    }
    label += "\n\(ModelGraph.shapeText(output))"
    if layer.parameterCount > 0 {
      label += "\n\(layer.parameterCount.formatted(grouping: ",")) params"
    }
    let id = node(label, style: layer.parameterCount > 0 ? "" : "fillcolor=\"#f4f4f4\"")
    edge(from, id)
    return (id, output)
  }
}

extension Int {
  /// The number with a separator every three digits ("1,234,567").
  func formatted(grouping separator: String) -> String {
    let digits = String(magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
      if index > 0 && (digits.count - index) % 3 == 0 { out += separator }
      out.append(digit)
    }
    return (self < 0 ? "-" : "") + out
  }
}
