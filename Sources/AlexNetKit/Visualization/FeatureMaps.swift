import Foundation

/// The output of one layer for one input, as `Visualization.featureMaps` records it.
public struct FeatureMap {
  /// Hierarchical name ("features.0"), as in the state dict.
  public var name: String
  /// The layer's type ("Conv2D").
  public var kind: String
  /// The output, batch first.
  public var value: Tensor
}

extension Visualization {
  /// Runs `model` on `input` in inference mode and records the output of every layer in order.
  /// Sequentials are opened; any other layer (a residual block, say) counts as one step. A Conv2D
  /// and its ReLU are run apart, so both outputs are seen (the fused path gives the same values).
  public static func featureMaps(of model: any Layer, input: Tensor) -> [FeatureMap] {
    model.inInferenceMode {
      withGradientsDisabled {
        var maps: [FeatureMap] = []
        _ = record(model, name: "", input: Variable(input), into: &maps)
        return maps
      }
    }
  }

  static func record(
    _ layer: any Layer, name: String, input: Variable,
    into maps: inout [FeatureMap]
  ) -> Variable {
    guard let sequential = layer as? Sequential else {
      let output = layer(input)
      let shown = name.isEmpty ? layer.kind : name
      maps.append(FeatureMap(name: shown, kind: layer.kind, value: output.value))
      return output
    }
    var x = input
    for (child, inner) in sequential.layers {
      x = record(inner, name: name.isEmpty ? child : "\(name).\(child)", input: x, into: &maps)
    }
    return x
  }

  /// The feature maps of the first image of a [N, C, H, W] output as a grid of tiles, one per
  /// channel, each scaled to its own range on a viridis-like colour scale (dark blue low, yellow
  /// high; a constant channel, such as a ReLU that never fires, is all dark). Small maps are
  /// enlarged to at least `minimumTile` pixels. A [N, F] output is one near-square tile of F cells
  /// (blank cells complete the last row).
  public static func featureMapGrid(_ output: Tensor, minimumTile: Int = 32, gap: Int = 2)
    -> RGBImage
  {
    precondition(
      output.rank == 4 || output.rank == 2,
      "featureMapGrid needs [N, C, H, W] or [N, F], got \(output.shape)")
    let values = output.scalars
    let (channels, height, width): (Int, Int, Int)
    if output.rank == 4 {
      (channels, height, width) = (output.shape[1], output.shape[2], output.shape[3])
    } else {
      let side = Int(Double(output.shape[1]).squareRoot().rounded(.up))
      (channels, height, width) = (1, (output.shape[1] + side - 1) / side, side)
    }
    let plane = height * width
    let count = output.rank == 4 ? channels * plane : output.shape[1]
    // A dense output is one tile: four times the size, to be as readable as a grid.
    let target = output.rank == 4 ? minimumTile : 4 * minimumTile
    let scale = max(1, (target + max(height, width) - 1) / max(height, width))
    let columns = Int(Double(channels).squareRoot().rounded(.up))
    var sheet = TileSheet(
      columns: columns, rows: (channels + columns - 1) / columns,
      tileWidth: width * scale, tileHeight: height * scale, gap: gap)
    for c in 0..<channels {
      let start = c * plane
      let end = min(count, start + plane)
      let bytes = scaledToBytes(values[start..<end], constant: 0)
      for y in 0..<(height * scale) {
        for x in 0..<(width * scale) {
          let cell = (y / scale) * width + x / scale
          let rgb = cell < bytes.count ? viridis(bytes[cell]) : (255, 255, 255)
          sheet.set(slot: c, x: x, y: y, rgb)
        }
      }
    }
    return sheet.image
  }

  /// Five stops of matplotlib's viridis, linearly interpolated: readable in grey print too.
  static func viridis(_ level: UInt8) -> (UInt8, UInt8, UInt8) {
    let stops: [(Float, Float, Float)] = [
      (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37),
    ]
    let position = Float(level) / 255 * Float(stops.count - 1)
    let low = min(stops.count - 2, Int(position))
    let t = position - Float(low)
    let (a, b) = (stops[low], stops[low + 1])
    func mix(_ u: Float, _ v: Float) -> UInt8 { UInt8((u + (v - u) * t).rounded()) }
    return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
  }
}

/// The feature maps of one image written as PNG grids and an HTML page showing them in order.
public struct ActivationPage {
  /// The files written, the page first.
  public private(set) var files: [URL] = []

  /// Writes `index.html`, `input.png` (the view the model saw) and one `NN-name.png` per layer
  /// into `directory` (created if needed), each file to a temporary name and then renamed.
  public init(
    model: any Layer, image: RGBImage, preprocessing: Preprocessing, title: String,
    directory: URL
  ) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let view = image.resized(shorterSide: preprocessing.resizeSide)
      .centerCropped(side: preprocessing.side)
    let input = preprocessing.tensor(image)
    let inputURL = directory.appendingPathComponent("input.png")
    try AtomicFile.write(try ImageEncoder.png(view), to: inputURL)
    var figures = [Self.figure(file: "input.png", caption: "input", shape: input.shape)]
    for (index, map) in Visualization.featureMaps(of: model, input: input).enumerated() {
      guard map.value.rank == 4 || map.value.rank == 2 else { continue }
      let number = String(index + 1)
      let file =
        String(repeating: "0", count: max(0, 2 - number.count))
        + "\(number)-\(map.name).png"
      let url = directory.appendingPathComponent(file)
      let grid = Visualization.featureMapGrid(map.value)
      try AtomicFile.write(try ImageEncoder.png(grid), to: url)
      files.append(url)
      let caption = "\(map.name) \(map.kind)"
      figures.append(Self.figure(file: file, caption: caption, shape: map.value.shape))
    }
    let page = directory.appendingPathComponent("index.html")
    try AtomicFile.write(Self.html(title: title, figures: figures), to: page)
    files.insert(page, at: 0)
    files.insert(inputURL, at: 1)
  }

  static func figure(file: String, caption: String, shape: [Int]) -> String {
    let dims = shape.map(String.init).joined(separator: " × ")
    return "<figure><img src=\"\(escape(file))\" alt=\"\(escape(caption))\">"
      + "<figcaption><b>\(escape(caption))</b> <code>\(dims)</code></figcaption></figure>"
  }

  static func html(title: String, figures: [String]) -> String {
    """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
    <style>body{font-family:sans-serif;margin:2em}figure{margin:0 0 2em}
    img{image-rendering:pixelated;max-width:100%}figcaption{margin-top:.3em}</style></head>
    <body><h1>\(escape(title))</h1>
    <p>Each tile is one channel, scaled to its own range (dark blue low, yellow high).</p>
    \(figures.joined(separator: "\n"))
    </body></html>

    """
  }

  /// Text made safe for HTML content and attributes.
  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }
}
