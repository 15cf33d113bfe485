import AlexNetKit
import Foundation
import Testing

@Suite struct ImageDecoderTests {
  @Test func generatedPNGDecodesToTheValuesWritten() throws {
    let image = DataFixtures.gradient(width: 37, height: 23)
    #expect(try ImageDecoder.decode(bytes: ImageEncoder.png(image), name: "gradient.png") == image)
  }

  @Test func jpegMatchesItsSourceWithinJPEGTolerance() throws {
    let image = DataFixtures.gradient(width: 64, height: 48)
    let decoded = try ImageDecoder.decode(
      bytes: ImageEncoder.jpeg(image, quality: 95), name: "gradient.jpg")
    #expect(decoded.width == 64 && decoded.height == 48)
    let differences = zip(decoded.pixels, image.pixels).map { abs(Int($0) - Int($1)) }
    #expect(Double(differences.reduce(0, +)) / Double(differences.count) < 2)
    #expect(differences.max()! <= 24)  // only next to the sharp edge
  }

  /// Progressive and CMYK (YCCK) JPEGs decode to the same RGB as a baseline one.
  @Test(arguments: [(true, false), (false, true)])
  func progressiveAndCMYKJPEGsBecomeRGB(_ variant: (progressive: Bool, cmyk: Bool)) throws {
    let image = DataFixtures.gradient(width: 48, height: 32)
    let bytes = try ImageEncoder.jpeg(
      image, quality: 95, progressive: variant.progressive, cmyk: variant.cmyk)
    if variant.progressive { #expect(bytes.contains(0xC2)) }  // SOF2, the progressive frame marker
    let decoded = try ImageDecoder.decode(bytes: bytes, name: "variant.jpg")
    let differences = zip(decoded.pixels, image.pixels).map { abs(Int($0) - Int($1)) }
    #expect(Double(differences.reduce(0, +)) / Double(differences.count) < 3)
  }

  /// Real Imagenette files; reference pixels from Pillow (libjpeg-turbo's accurate DCT too).
  @Test func realJPEGsDecodeToPillowsPixels() throws {
    let golf = try ImageDecoder.decode(contentsOf: DataFixtures.url("golf_ball.JPEG"))
    #expect(golf.width == 224 && golf.height == 224)
    let references: [(x: Int, y: Int, rgb: [Int])] = [
      (0, 0, [178, 187, 204]), (10, 20, [165, 173, 192]),
    ]
    for reference in references {
      for c in 0..<3 {
        let difference = abs(Int(golf[reference.x, reference.y, c]) - reference.rgb[c])
        #expect(difference <= 2)
      }
    }
    // A .jpg name, found by content; and a JPEG under a .png name decodes all the same.
    let parachute = try DataFixtures.bytes("parachute.jpg")
    #expect(try ImageDecoder.decode(bytes: parachute, name: "misnamed.png")[0, 0, 2] > 150)
  }

  @Test func grayscaleJPEGBecomesThreeEqualChannels() throws {
    let image = try ImageDecoder.decode(contentsOf: DataFixtures.url("airedale_grayscale.JPEG"))
    #expect(image.width == 500 && image.height == 330)
    var channelsEqual = true
    for i in stride(from: 0, to: image.pixels.count, by: 3)
    where image.pixels[i] != image.pixels[i + 1] || image.pixels[i] != image.pixels[i + 2] {
      channelsEqual = false
    }
    #expect(channelsEqual)
    #expect(abs(Int(image[0, 0, 0]) - 49) <= 2 && abs(Int(image[10, 20, 1]) - 251) <= 2)
  }

  /// PNGs written by Pillow and by hand (Fixtures/data/make_png_variants.py).
  @Test func everyPNGKindBecomesEightBitRGB() throws {
    let gray = try ImageDecoder.decode(contentsOf: DataFixtures.url("gray8.png"))
    #expect(
      gray.pixels == [0, 64, 128, 192, 255, 10].flatMap { [UInt8($0), UInt8($0), UInt8($0)] })
    #expect(try ImageDecoder.decode(contentsOf: DataFixtures.url("gray16.png")) == gray)
    let palette = try ImageDecoder.decode(contentsOf: DataFixtures.url("palette.png"))
    #expect(palette.pixels == [255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0])
    let rgba = try ImageDecoder.decode(contentsOf: DataFixtures.url("rgba.png"))
    #expect(
      Array(rgba.pixels[0..<3]) == [200, 100, 50] && Array(rgba.pixels[3..<6]) == [255, 255, 255])
    let rgb16 = try ImageDecoder.decode(contentsOf: DataFixtures.url("rgb16.png"))
    #expect(
      rgb16.pixels == [255, 0, 128, 1, 2, 3, 0, 255, 0, 4, 8, 12, 255, 255, 255, 50, 100, 150])
  }

  /// Stray bytes before the end marker make libjpeg warn ("extraneous bytes before marker 0xd9"),
  /// as some real ImageNet files do; the image is whole and decodes.
  @Test func jpegWarningsDoNotRejectWholeImages() throws {
    var bytes = try DataFixtures.bytes("golf_ball.JPEG")
    #expect(Array(bytes.suffix(2)) == [0xFF, 0xD9])
    bytes.insert(contentsOf: [0x12, 0x34, 0x56, 0x78], at: bytes.count - 2)
    let image = try ImageDecoder.decode(bytes: bytes, name: "extraneous.jpg")
    #expect(image == (try ImageDecoder.decode(contentsOf: DataFixtures.url("golf_ball.JPEG"))))
  }

  /// Scan data cut short before an intact end marker: libjpeg only warns ("Corrupt JPEG data:
  /// premature end of data segment") and fills the rest with grey, but the image is not whole.
  @Test func jpegWithLessDataThanDeclaredIsRejected() throws {
    let golf = try DataFixtures.bytes("golf_ball.JPEG")
    let cut = Array(golf.prefix(golf.count / 2)) + [0xFF, 0xD9]
    #expect {
      try ImageDecoder.decode(bytes: cut, name: "short.jpg")
    } throws: { error in
      "\(error)".hasPrefix("short.jpg: ") && "\(error)".contains("not a readable JPEG")
    }
  }

  /// Inputs the fuzzer (`make fuzz`) found crashing, kept as cases: each must be a clean error.
  @Test(arguments: ["fuzz/damaged-16bit.png"])
  func fuzzerFindingsAreCleanErrors(_ name: String) throws {
    let bytes = try DataFixtures.bytes(name)
    #expect {
      try ImageDecoder.decode(bytes: bytes, name: name)
    } throws: { error in "\(error)".hasPrefix("\(name): ") && "\(error)".contains("not a readable")
    }
  }

  @Test func badFilesAreNamedWithTheReason() throws {
    let golf = try DataFixtures.bytes("golf_ball.JPEG")
    let cases: [(String, [UInt8], String)] = [
      ("empty.jpg", [], "is empty"),
      ("truncated.jpg", Array(golf.prefix(golf.count / 2)), "not a readable JPEG"),
      ("header-only.jpg", Array(golf.prefix(40)), "declares an empty image"),
      ("notes.png", Array("just some text".utf8), "not a JPEG or PNG"),
      (
        "truncated.png",
        Array(try ImageEncoder.png(DataFixtures.gradient(width: 20, height: 20)).prefix(60)),
        "not a readable PNG"
      ),
      (
        "bomb.jpg", try DataFixtures.jpegDeclaring(width: 65000, height: 65000),
        "declares 65000x65000"
      ),
      (
        "bomb.png", try DataFixtures.pngDeclaring(width: 100_000, height: 100_000),
        "declares 100000x100000"
      ),
      ("wide.png", try DataFixtures.pngDeclaring(width: 19_000, height: 19_000), "megapixel"),
    ]
    for (name, bytes, reason) in cases {
      #expect {
        try ImageDecoder.decode(bytes: bytes, name: name)
      } throws: { error in
        let text = "\(error)"
        return text.hasPrefix("\(name): ") && text.contains(reason)
      }
    }
    #expect(throws: FileError.self) {
      try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: "/no/such/file.jpg"))
    }
  }
}
