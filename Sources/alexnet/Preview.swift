import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet preview`: sample images before and after the augmentations, as the tutorial shows
/// them with matplotlib, written as an SVG contact sheet (or an HTML page holding it) whose title
/// and class names are text.
struct Preview: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Write an SVG contact sheet of sample images before and after augmentation, with class names."
  )

  @Option(help: "Image folder (root/<class>/<image>; default: the bundled sample).")
  var data: String?

  @Option(help: "Augmentations, comma-separated: crop, flip, brightness, pca, scale.")
  var augment = "crop,flip,brightness,pca"

  @Option(help: "How many images.")
  var count = 16

  @Option(help: "Side of each shown image in pixels.")
  var size = 128

  @Option(help: "Seed of the sample and the augmentation.")
  var seed: UInt64 = 123

  @Option(
    help: """
      The sheet to write: FILE.svg, or FILE.html (the same sheet in a web page). Captions are \
      text, so .png is refused; convert the SVG (rsvg-convert, a browser) if a bitmap is needed.
      """)
  var output: String

  func validate() throws {
    guard count >= 1 && count <= 256 else {
      throw ValidationError("--count must be in 1...256, got \(count)")
    }
    guard size >= 16 && size <= 1024 else {
      throw ValidationError("--size must be in 16...1024, got \(size)")
    }
    do { _ = try Augmentation.list(augment) } catch { throw ValidationError("\(error)") }
    guard ["svg", "html", "htm"].contains(outputFormat) else {
      // A bitmap would need a font of its own for the captions (the old 5x7 one printed
      // n03028079 as N03028079); text in SVG is exact, and any viewer can rasterise it.
      // One line without the usage text, as for files: the flag is right, its file type is not.
      throw CommandError(
        "--output \(output): expected a .svg or .html file (the captions are text); "
          + "convert the SVG if a PNG is needed")
    }
  }

  /// The extension of --output, lower case.
  var outputFormat: String { URL(fileURLWithPath: output).pathExtension.lowercased() }

  func run() throws {
    try CommandError.reporting {
      let root = try SampleData.folder(data)
      var generator = SeededGenerator(seed: seed)
      let decoded = try decodeSample(root, using: &generator)
      let augmentations = try Augmentation.list(augment)
      let pca =
        augmentations.contains(.pca)
        ? try ColorPCA.fitted(to: decoded.map(\.image), pixelStride: 13) : nil
      let sheet = ContactSheet.augmentationPreview(
        decoded, augmentations: augmentations, side: size, pca: pca, using: &generator)
      let text = outputFormat == "svg" ? try sheet.svg() : try sheet.html()
      try AtomicFile.write(text, to: URL(fileURLWithPath: output))
      let names = augmentations.map(\.rawValue).joined(separator: ", ")
      print(
        "Wrote \(output): \(decoded.count) images, before (left) and after (right) "
          + (names.isEmpty ? "none" : names))
    }
  }

  /// `count` images chosen with the seed, decoded, with their class names; unreadable ones skipped.
  func decodeSample(_ root: URL, using generator: inout SeededGenerator) throws
    -> [(image: RGBImage, className: String)]
  {
    let folder = try ImageFolder(root: root)
    let chosen = Array(folder.samples.shuffled(using: &generator).prefix(count))
    var decoded: [(image: RGBImage, className: String)] = []
    for sample in chosen {
      do {
        let image = try ImageDecoder.decode(contentsOf: sample.url)
        decoded.append((image, folder.classNames[sample.label]))
      } catch {
        printError("warning: skipped \(error)")
      }
    }
    guard !decoded.isEmpty else {
      throw CommandError("\(root.path): no readable images to preview")
    }
    return decoded
  }
}
