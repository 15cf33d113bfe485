import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet preview`: sample images before and after the augmentations, as the tutorial shows
/// them with matplotlib, written as a PNG contact sheet.
struct Preview: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Write a contact sheet of sample images before and after augmentation, with their class names."
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

  @Option(help: "The PNG file to write.")
  var output: String

  func validate() throws {
    guard count >= 1 && count <= 256 else {
      throw ValidationError("--count must be in 1...256, got \(count)")
    }
    guard size >= 16 && size <= 1024 else {
      throw ValidationError("--size must be in 16...1024, got \(size)")
    }
    do { _ = try Augmentation.list(augment) } catch { throw ValidationError("\(error)") }
  }

  func run() throws {
    try CommandError.reporting {
      let root = try SampleData.folder(data)
      var generator = SeededGenerator(seed: seed)
      let decoded = try decodeSample(root, using: &generator)
      let augmentations = try Augmentation.list(augment)
      let names = augmentations.map(\.rawValue)
      let pca =
        augmentations.contains(.pca)
        ? try ColorPCA.fitted(to: decoded.map(\.0), pixelStride: 13) : nil
      let sheet = contactSheet(decoded, augmentations: augmentations, pca: pca, using: &generator)
      try AtomicFile.write(try ImageEncoder.png(sheet), to: URL(fileURLWithPath: output))
      print(
        "Wrote \(output): \(decoded.count) images, before (left) and after (right) "
          + names.joined(separator: ", "))
    }
  }

  /// `count` images chosen with the seed, decoded, with their class names; unreadable ones skipped.
  func decodeSample(_ root: URL, using generator: inout SeededGenerator) throws
    -> [(RGBImage, String)]
  {
    let folder = try ImageFolder(root: root)
    let chosen = Array(folder.samples.shuffled(using: &generator).prefix(count))
    var decoded: [(RGBImage, String)] = []
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

  /// Each image as evaluation sees it (left) and as one training draw augments it (right), in the
  /// library's own preprocessing and augmentation list.
  func contactSheet(
    _ decoded: [(RGBImage, String)], augmentations: [Augmentation], pca: ColorPCA?,
    using generator: inout SeededGenerator
  ) -> RGBImage {
    let transforms = Augmentation.transforms(augmentations, side: size)
    let resizeSide = Preprocessing.resizeSide(for: size)
    let columns = min(4, decoded.count)
    let rows = (decoded.count + columns - 1) / columns
    let gap = 8
    let caption = 22
    let cellWidth = 2 * size + gap
    let cellHeight = size + caption
    var sheet = RGBImage(
      width: columns * cellWidth + (columns + 1) * gap,
      height: 30 + rows * (cellHeight + gap) + gap,
      red: 255, green: 255, blue: 255)
    let title = augmentations.map(\.rawValue).joined(separator: " ")
    BitmapFont.draw("BEFORE AND AFTER: " + title, into: &sheet, x: gap, y: 8)
    for (index, (image, className)) in decoded.enumerated() {
      let x = gap + (index % columns) * (cellWidth + gap)
      let y = 30 + (index / columns) * (cellHeight + gap)
      let before = image.resized(shorterSide: resizeSide).centerCropped(side: size)
      var after = transforms.reduce(image) { $1.apply($0, using: &generator) }
      if let pca { after = shiftColors(after, by: pca.sampleShift(using: &generator)) }
      sheet.paste(before, x: x, y: y)
      sheet.paste(after, x: x + size + gap, y: y)
      BitmapFont.draw(String(className.prefix(cellWidth / 12)), into: &sheet, x: x, y: y + size + 4)
    }
    return sheet
  }

  /// The PCA colour shift applied to pixel values, for display.
  func shiftColors(_ image: RGBImage, by shift: [Float]) -> RGBImage {
    var out = image
    for i in out.pixels.indices {
      out.pixels[i] = UInt8(
        max(0, min(255, (Float(image.pixels[i]) + shift[i % 3] * 255).rounded())))
    }
    return out
  }
}
