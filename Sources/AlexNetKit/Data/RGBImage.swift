/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), as decoders produce it.
public struct RGBImage: Equatable, Sendable {
  public let width: Int
  public let height: Int
  /// width · height · 3 bytes.
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(
      width > 0 && height > 0 && pixels.count == width * height * 3,
      "an RGB image of \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
    (self.width, self.height, self.pixels) = (width, height, pixels)
  }

  /// A single-colour image.
  public init(width: Int, height: Int, red: UInt8, green: UInt8, blue: UInt8) {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]) = (red, green, blue)
    }
    self.init(width: width, height: height, pixels: pixels)
  }

  /// Channel `c` of the pixel at (x, y).
  @inlinable
  public subscript(x: Int, y: Int, c: Int) -> UInt8 { pixels[(y * width + x) * 3 + c] }
}
