import AlexNetKit
import Foundation

/// Files under Fixtures/data and scratch folders for the data tests.
enum DataFixtures {
  static func url(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(
      "data/\(name)")
  }

  static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }

  static func scratchDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "alexnet-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
  }

  /// A smooth gradient with a sharp edge: something a JPEG encoder must work for.
  static func gradient(width: Int, height: Int) -> RGBImage {
    var pixels: [UInt8] = []
    for y in 0..<height {
      for x in 0..<width {
        pixels += [
          UInt8(x * 255 / max(1, width - 1)), UInt8(y * 255 / max(1, height - 1)),
          x < width / 2 ? 40 : 220,
        ]
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  /// Writes `files` (relative path → bytes) under a new folder.
  static func folder(_ files: [String: [UInt8]]) throws -> URL {
    let root = try scratchDirectory()
    for (path, bytes) in files {
      let url = root.appendingPathComponent(path)
      try FileManager.default.createDirectory(
        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(bytes).write(to: url)
    }
    return root
  }

  /// A real JPEG whose SOF header is patched to declare `width`x`height`.
  static func jpegDeclaring(width: Int, height: Int) throws -> [UInt8] {
    var bytes = try self.bytes("golf_ball.JPEG")
    var i = 2
    while i + 9 < bytes.count {
      guard bytes[i] == 0xFF else {
        i += 1
        continue
      }
      let marker = bytes[i + 1]
      if marker == 0xC0 || marker == 0xC2 {
        (bytes[i + 5], bytes[i + 6]) = (UInt8(height >> 8), UInt8(height & 0xFF))
        (bytes[i + 7], bytes[i + 8]) = (UInt8(width >> 8), UInt8(width & 0xFF))
        return bytes
      }
      i += 2 + Int(bytes[i + 2]) << 8 + Int(bytes[i + 3])
    }
    fatalError("no SOF marker in the fixture JPEG")
  }

  /// A PNG whose IHDR declares `width`x`height` (CRC recomputed, so only the size lies).
  static func pngDeclaring(width: UInt32, height: UInt32) throws -> [UInt8] {
    var bytes = try ImageEncoder.png(RGBImage(width: 2, height: 2, red: 1, green: 2, blue: 3))
    for (offset, value) in [(16, width), (20, height)] {
      for k in 0..<4 {
        bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(k)))
      }
    }
    let crc = crc32(Array(bytes[12..<29]))
    for k in 0..<4 { bytes[29 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(k))) }
    return bytes
  }

  static func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in data {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }
}
