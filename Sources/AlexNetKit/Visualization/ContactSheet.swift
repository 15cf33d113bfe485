import Foundation

/// A sheet of image pairs, each with a caption under it, and a title: the tutorial's matplotlib
/// grid of augmented samples. Written as SVG (or an HTML page holding that SVG) so the title and
/// captions are real text, spelt exactly as given; the images are embedded as PNG data URLs, so
/// the file stands alone.
public struct ContactSheet: Sendable {
  /// Two images side by side (`left` first) and the caption under them.
  public struct Pair: Sendable {
    public var left: RGBImage
    public var right: RGBImage
    public var caption: String

    public init(left: RGBImage, right: RGBImage, caption: String) {
      (self.left, self.right, self.caption) = (left, right, caption)
    }
  }

  public var title: String
  public var pairs: [Pair]
  /// Pairs per row (fewer when there are fewer pairs); default 4.
  public var columns: Int

  public init(title: String, pairs: [Pair], columns: Int = 4) {
    precondition(columns >= 1, "a contact sheet needs at least one column, got \(columns)")
    (self.title, self.pairs, self.columns) = (title, pairs, columns)
  }

  /// Margins and the space between cells, wider than `pairGap` so the pairs read as pairs.
  static let gap = 16.0
  static let pairGap = 4.0
  static let titleSize = 16.0
  static let captionSize = 13.0

  /// Where things go: every cell is as wide as the widest pair or caption and as tall as the
  /// tallest pair plus a caption line, so a long class name widens its column instead of
  /// running into the next one; the sheet is at least as wide as the title.
  struct Layout {
    var columns: Int, rows: Int
    var cellWidth: Double, imageHeight: Double, cellHeight: Double
    var top: Double, width: Double, height: Double

    init(_ sheet: ContactSheet) {
      let gap = ContactSheet.gap
      columns = max(1, min(sheet.columns, sheet.pairs.count))
      rows = (sheet.pairs.count + columns - 1) / columns
      cellWidth =
        sheet.pairs.map { pair in
          max(
            Double(pair.left.width + pair.right.width) + ContactSheet.pairGap,
            ContactSheet.estimatedWidth(pair.caption, size: ContactSheet.captionSize))
        }.max() ?? 0
      imageHeight = Double(sheet.pairs.map { max($0.left.height, $0.right.height) }.max() ?? 0)
      // The image band, a little space, one caption line with room for descenders.
      cellHeight = imageHeight + 4 + 1.3 * ContactSheet.captionSize
      top = gap + 1.25 * ContactSheet.titleSize + gap / 2
      let grid = Double(columns) * cellWidth + Double(columns + 1) * gap
      let title = ContactSheet.estimatedWidth(sheet.title, size: ContactSheet.titleSize)
      width = max(grid, title + 2 * gap)
      height = top + Double(rows) * (cellHeight + gap)
    }

    /// Top-left corner of the cell of pair `index`.
    func origin(_ index: Int) -> (x: Double, y: Double) {
      let gap = ContactSheet.gap
      return (
        gap + Double(index % columns) * (cellWidth + gap),
        top + Double(index / columns) * (cellHeight + gap)
      )
    }
  }

  /// The sheet as a standalone SVG document (`class="title"` and `class="caption"` on the text).
  public func svg() throws -> String {
    let layout = Layout(self)
    var canvas = SVGCanvas(width: layout.width, height: layout.height)
    canvas.text(
      title, x: Self.gap, y: Self.gap + Self.titleSize, size: Self.titleSize,
      attributes: "class=\"title\" font-weight=\"bold\"")
    for (index, pair) in pairs.enumerated() {
      let (x, y) = layout.origin(index)
      let rightX = x + Double(pair.left.width) + Self.pairGap
      for (image, imageX) in [(pair.left, x), (pair.right, rightX)] {
        canvas.image(
          href: try Self.dataURL(image), x: imageX, y: y, width: Double(image.width),
          height: Double(image.height))
      }
      canvas.text(
        pair.caption, x: x, y: y + layout.imageHeight + 4 + Self.captionSize,
        size: Self.captionSize, attributes: "class=\"caption\"")
    }
    return canvas.document
  }

  /// The same SVG inside a minimal HTML page titled with the sheet's title.
  public func html() throws -> String {
    """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><title>\(SVGCanvas.escaped(title))</title>
    <style>body{margin:1em;background:white}svg{max-width:100%;height:auto}</style></head>
    <body>
    \(try svg())</body></html>

    """
  }

  /// `data:image/png;base64,...` of an image, through the library's PNG encoder.
  static func dataURL(_ image: RGBImage) throws -> String {
    "data:image/png;base64," + Data(try ImageEncoder.png(image)).base64EncodedString()
  }

  /// A generous estimate of the width of `text` in a sans-serif font of `size` pixels: 0.62 em
  /// per character (DejaVu Sans's digits are 0.64 em, most lower case less), 0.8 for capitals
  /// and 1 for the widest letters and anything outside ASCII, so the layout errs on the wide side.
  static func estimatedWidth(_ text: String, size: Double) -> Double {
    let wide: Set<Character> = ["m", "w", "M", "W", "@", "%"]
    return text.reduce(0) { total, character in
      let em: Double =
        wide.contains(character) || !character.isASCII
        ? 1 : character.isUppercase ? 0.8 : 0.62
      return total + em * size
    }
  }
}

extension ContactSheet {
  /// Each image as evaluation sees it (left: shorter side to `Preprocessing.resizeSide(for:)`,
  /// centre crop of `side`) and as one training draw of `augmentations` makes it (right, with the
  /// PCA colour noise of `pca` when given), captioned with its class name.
  public static func augmentationPreview(
    _ images: [(image: RGBImage, className: String)], augmentations: [Augmentation], side: Int,
    pca: ColorPCA?, using generator: inout SeededGenerator
  ) -> ContactSheet {
    let transforms = Augmentation.transforms(augmentations, side: side)
    let resizeSide = Preprocessing.resizeSide(for: side)
    let pairs = images.map { image, className in
      let before = image.resized(shorterSide: resizeSide).centerCropped(side: side)
      var after = transforms.reduce(image) { $1.apply($0, using: &generator) }
      if let pca { after = shiftingColors(of: after, by: pca.sampleShift(using: &generator)) }
      return Pair(left: before, right: after, caption: className)
    }
    let names = augmentations.map(\.rawValue).joined(separator: ", ")
    return ContactSheet(
      title: "Before (left) and after (right): \(names.isEmpty ? "none" : names)", pairs: pairs)
  }

  /// The PCA colour shift (in [0, 1] units per channel) applied to pixel values, for display.
  static func shiftingColors(of image: RGBImage, by shift: [Float]) -> RGBImage {
    var out = image
    for i in out.pixels.indices {
      out.pixels[i] = UInt8(
        max(0, min(255, (Float(image.pixels[i]) + shift[i % 3] * 255).rounded())))
    }
    return out
  }
}
