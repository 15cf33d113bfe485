import Foundation
import Testing

@testable import AlexNetKit

@Suite struct ContactSheetTests {
  /// An image of random pixels, so a decoded copy can be compared byte for byte.
  static func noise(width: Int, height: Int, using generator: inout SeededGenerator) -> RGBImage {
    RGBImage(
      width: width, height: height,
      pixels: (0..<(width * height * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) })
  }

  /// Captions as folders spell them: a WordNet id in lower case, punctuation that XML escapes,
  /// and a name far wider than its pair of images.
  static let captions = [
    "n03028079", "tench: a fish & <more>", "\"quoted\" 'name'",
    "An_extremely_long_class_name_WWW_mmm_for_one_folder",
  ]

  static func sheet() -> ContactSheet {
    var generator = SeededGenerator(seed: 18)
    let pairs = captions.enumerated().map { index, caption in
      ContactSheet.Pair(
        left: noise(width: 17 + index, height: 13, using: &generator),
        right: noise(width: 11, height: 19 - index, using: &generator), caption: caption)
    }
    return ContactSheet(
      title: "Before (left) and after (right): crop, flip", pairs: pairs, columns: 3)
  }

  /// The title and every caption are text, exactly as given; every embedded image decodes, through
  /// the library's own decoder, to the very image it was made from, drawn at its own size.
  @Test func captionsAreTextAndImagesAreEmbedded() throws {
    let sheet = Self.sheet()
    let elements = try #require(SVGElements.parse(try sheet.svg()))
    #expect(elements.texts.map(\.content) == [sheet.title] + Self.captions)
    #expect(elements.texts.map(\.className) == ["title"] + Self.captions.map { _ in "caption" })
    let images = elements.attributes.filter { $0.name == "image" }.map(\.values)
    let originals = sheet.pairs.flatMap { [$0.left, $0.right] }
    #expect(images.count == originals.count)
    for (values, original) in zip(images, originals) {
      let href = values["href"] ?? ""
      let prefix = "data:image/png;base64,"
      #expect(href.hasPrefix(prefix))
      let bytes = try #require(Data(base64Encoded: String(href.dropFirst(prefix.count))))
      let decoded = try ImageDecoder.decode(bytes: [UInt8](bytes), name: "embedded")
      #expect(decoded == original)
      #expect(values["width"] == String(original.width))
      #expect(values["height"] == String(original.height))
    }
  }

  /// Nothing leaves the view box, and no text runs into an image or other text (the long name
  /// widens every column rather than spilling into its neighbour).
  @Test func nothingIsClippedOrOverlaps() throws {
    let elements = try #require(SVGElements.parse(try Self.sheet().svg()))
    #expect(elements.textsOutsideViewBox() == [])
    let view = try #require(elements.viewBox.count == 4 ? elements.viewBox : nil)
    typealias Box = (left: Double, top: Double, right: Double, bottom: Double)
    let images: [Box] = elements.attributes.filter { $0.name == "image" }.map { element in
      let number = { Double(element.values[$0] ?? "") ?? .nan }
      return (
        number("x"), number("y"), number("x") + number("width"), number("y") + number("height")
      )
    }
    for image in images {
      #expect(image.left >= view[0] && image.right <= view[0] + view[2], "\(image)")
      #expect(image.top >= view[1] && image.bottom <= view[1] + view[3], "\(image)")
    }
    // The same generous 0.62 em per character as textsOutsideViewBox.
    let texts: [Box] = elements.texts.map { text in
      let width = 0.62 * text.size * Double(text.content.count)
      return (text.x, text.y - text.size, text.x + width, text.y + 0.25 * text.size)
    }
    func overlap(_ a: Box, _ b: Box) -> Bool {
      a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom
    }
    let boxes = images + texts
    for (i, a) in boxes.enumerated() {
      for b in boxes[(i + 1)...] { #expect(!overlap(a, b), "\(a) overlaps \(b)") }
    }
  }

  /// The HTML page holds the same SVG, under the escaped title.
  @Test func htmlPageHoldsTheSheet() throws {
    let sheet = ContactSheet(
      title: "a & b", pairs: Array(Self.sheet().pairs.prefix(1)))
    let page = try sheet.html()
    #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("<title>a &amp; b</title>"))
    #expect(page.contains(try sheet.svg()))
  }

  /// Without augmentation both sides are the evaluation view (shorter side resized, centre crop);
  /// with a flip the right side is a mirror image or the same view, never another size.
  @Test func augmentationPreviewPairsEvaluationAndTrainingViews() throws {
    var generator = SeededGenerator(seed: 5)
    let photos = [
      (image: Self.noise(width: 50, height: 37, using: &generator), className: "n01440764"),
      (image: Self.noise(width: 23, height: 41, using: &generator), className: "b: c"),
    ]
    let plain = ContactSheet.augmentationPreview(
      photos, augmentations: [], side: 16, pca: nil, using: &generator)
    #expect(plain.title == "Before (left) and after (right): none")
    #expect(plain.pairs.map(\.caption) == ["n01440764", "b: c"])
    for pair in plain.pairs {
      #expect(pair.left == pair.right && pair.left.width == 16 && pair.left.height == 16)
    }
    let flipped = ContactSheet.augmentationPreview(
      photos, augmentations: [.flip], side: 16, pca: nil, using: &generator)
    #expect(flipped.title.hasSuffix(": flip"))
    for pair in flipped.pairs {
      #expect(pair.right == pair.left || pair.right == pair.left.flippedHorizontally())
    }
  }
}
