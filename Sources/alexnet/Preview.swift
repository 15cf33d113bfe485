import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet preview`: sample images before and after the augmentations, as the tutorial shows
/// them with matplotlib, written as a PNG contact sheet.
struct Preview: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a contact sheet of sample images before and after augmentation, with their class names.")

  @Option(help: "Image folder (root/<class>/<image>; default: the bundled sample).")
  var data: String?

  @Option(help: "Augmentations, comma-separated: crop, flip, brightness, pca.")
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
    guard count >= 1 && count <= 256 else { throw ValidationError("--count must be in 1...256, got \(count)") }
    guard size >= 16 && size <= 1024 else { throw ValidationError("--size must be in 16...1024, got \(size)") }
    let unknown = Set(augment.split(separator: ",").map(String.init)).subtracting(["crop", "flip", "brightness", "pca", "none"])
    guard unknown.isEmpty else { throw ValidationError("--augment: unknown \(unknown.sorted().joined(separator: ", "))") }
  }

  func run() throws {
    try CommandError.reporting {
      let root = try SampleData.folder(data)
      let folder = try ImageFolder(root: root)
      var generator = SeededGenerator(seed: seed)
      let chosen = Array(folder.samples.shuffled(using: &generator).prefix(count))
      let names = Set(augment.split(separator: ",").map(String.init))
      let resizeSide = size * 256 / 224
      var transforms: [ImageTransform] = [.resizeShorterSide(resizeSide), names.contains("crop") ? .randomCrop(size) : .centerCrop(size)]
      if names.contains("flip") { transforms.append(.randomHorizontalFlip) }
      if names.contains("brightness") { transforms.append(.randomBrightness(delta: 0.2)) }
      var decoded: [(RGBImage, String)] = []
      for sample in chosen {
        do { decoded.append((try ImageDecoder.decode(contentsOf: sample.url), folder.classNames[sample.label])) } catch {
          printError("warning: skipped \(error)")
        }
      }
      guard !decoded.isEmpty else { throw CommandError("\(root.path): no readable images to preview") }
      let pca = names.contains("pca") ? try ColorPCA.fitted(to: decoded.map(\.0), pixelStride: 13) : nil

      let columns = min(4, decoded.count), rows = (decoded.count + columns - 1) / columns
      let gap = 8, caption = 22, cellWidth = 2 * size + gap, cellHeight = size + caption
      var sheet = RGBImage(width: columns * cellWidth + (columns + 1) * gap, height: 30 + rows * (cellHeight + gap) + gap,
                           red: 255, green: 255, blue: 255)
      BitmapFont.draw("BEFORE AND AFTER: " + names.sorted().joined(separator: " "), into: &sheet, x: gap, y: 8)
      for (index, (image, className)) in decoded.enumerated() {
        let x = gap + (index % columns) * (cellWidth + gap), y = 30 + (index / columns) * (cellHeight + gap)
        let before = image.resized(shorterSide: resizeSide).centerCropped(side: size)
        var after = transforms.reduce(image) { $1.apply($0, using: &generator) }
        if let pca { after = shiftColors(after, by: pca.sampleShift(using: &generator)) }
        sheet.paste(before, x: x, y: y)
        sheet.paste(after, x: x + size + gap, y: y)
        BitmapFont.draw(String(className.prefix(cellWidth / 12)), into: &sheet, x: x, y: y + size + 4)
      }
      try AtomicFile.write(try ImageEncoder.png(sheet), to: URL(fileURLWithPath: output))
      print("Wrote \(output): \(decoded.count) images, before (left) and after (right) \(names.sorted().joined(separator: ", "))")
    }
  }

  /// The PCA colour shift applied to pixel values, for display.
  func shiftColors(_ image: RGBImage, by shift: [Float]) -> RGBImage {
    var out = image
    for i in out.pixels.indices {
      out.pixels[i] = UInt8(max(0, min(255, (Float(image.pixels[i]) + shift[i % 3] * 255).rounded())))
    }
    return out
  }
}
