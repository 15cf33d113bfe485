import AlexNetKit
import Foundation
import Testing

@testable import alexnet

/// `alexnet preview` through the built binary: the sheet's captions are text as the folders spell
/// them, and a PNG output is refused before anything is read or written.
@Suite(.serialized) struct PreviewCommandTests {
  /// Two classes of bundled photographs under a WordNet id and a name XML must escape.
  static let classes = ["n03028079": "church", "tench: a & b": "tench"]

  static func dataFolder() throws -> URL {
    let root = try CommandTests.scratch()
    for (name, source) in classes {
      let folder = root.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let from = CommandTests.sample.appendingPathComponent(source)
      for file in try FileManager.default.contentsOfDirectory(atPath: from.path).sorted().prefix(2)
      {
        try FileManager.default.copyItem(
          at: from.appendingPathComponent(file), to: folder.appendingPathComponent(file))
      }
    }
    return root
  }

  @Test func writesAnSVGAndAnHTMLSheetWithTextCaptions() throws {
    let data = try Self.dataFolder()
    let output = try CommandTests.scratch()
    for name in ["sheet.svg", "sheet.html"] {
      let file = output.appendingPathComponent(name)
      let result = try runAlexnet([
        "preview", "--data", data.path, "--count", "4", "--size", "32", "--output", file.path,
      ])
      #expect(result.status == 0, "\(result.error)")
      #expect(result.output.contains("Wrote \(file.path)"))
      let text = try String(contentsOf: file, encoding: .utf8)
      #expect(text.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""))
      #expect(text.contains(">n03028079</text>") && text.contains(">tench: a &amp; b</text>"))
      #expect(text.contains(">Before (left) and after (right): crop, flip, brightness, pca</text>"))
      #expect(text.components(separatedBy: "<image href=\"data:image/png;base64,").count == 9)
    }
    #expect(
      try String(contentsOf: output.appendingPathComponent("sheet.html"), encoding: .utf8)
        .hasPrefix("<!DOCTYPE html>"))
  }

  /// A PNG would lose the captions: one line naming --output and the accepted extensions, a
  /// non-zero exit, and no file.
  @Test func refusesAPNGOutput() throws {
    let file = try CommandTests.scratch().appendingPathComponent("sheet.png")
    let result = try runAlexnet(["preview", "--count", "2", "--output", file.path])
    #expect(result.status != 0)
    #expect(result.error.contains("--output \(file.path): expected a .svg or .html file"))
    #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
    #expect(!result.error.contains("Fatal error"))
    #expect(!FileManager.default.fileExists(atPath: file.path))
    #expect(try Preview.parse(["--output", "a.SVG"]).outputFormat == "svg")
  }
}
