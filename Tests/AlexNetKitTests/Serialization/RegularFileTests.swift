import Foundation
import Testing

@testable import AlexNetKit

/// The library's file reader: every byte of files of any size (empty, smaller and larger than a
/// page), and one line naming a folder or a missing file. Under AddressSanitizer
/// (`make test-sanitizers`) the empty files also show that nothing leaks, as
/// `Data(contentsOf:)` does here.
@Suite struct RegularFileTests {
  /// The one line a throwing call prints, or nil if it did not throw.
  static func message(_ body: () throws -> Any) -> String? {
    do { _ = try body() } catch { return "\(error)" }
    return nil
  }

  @Test(arguments: [0, 1, 4095, 4096, 70_001])
  func everyByteIsRead(count: Int) throws {
    let directory = try DataFixtures.scratchDirectory()
    let url = directory.appendingPathComponent("file.bin")
    var generator = SeededGenerator(seed: UInt64(count))
    let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    try AtomicFile.write(bytes, to: url)
    #expect(try [UInt8](FileError.readRegularFile(url, expected: "bytes")) == bytes)
    try FileManager.default.removeItem(at: directory)
  }

  @Test func foldersAndMissingFilesAreNamed() throws {
    let directory = try DataFixtures.scratchDirectory()
    #expect(
      Self.message { try FileError.readRegularFile(directory, expected: "a file") }
        == "\(directory.path): is a directory, expected a file")
    let missing = directory.appendingPathComponent("missing.jpg")
    #expect(
      Self.message { try FileError.readRegularFile(missing, expected: "a JPEG") }
        == "\(missing.path): cannot be read: No such file or directory (expected a JPEG)")
    try FileManager.default.removeItem(at: directory)
  }

  @Test func anEmptyImageIsRefusedByName() throws {
    let directory = try DataFixtures.scratchDirectory()
    let url = directory.appendingPathComponent("empty.jpg")
    try AtomicFile.write([UInt8](), to: url)
    #expect(Self.message { try ImageDecoder.decode(contentsOf: url) } == "\(url.path): is empty")
    try FileManager.default.removeItem(at: directory)
  }
}
