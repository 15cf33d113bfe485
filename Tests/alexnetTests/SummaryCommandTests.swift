import ArgumentParser
import Foundation
import Testing

@testable import alexnet

@Suite struct SummaryCommandTests {
  @Test func parsesModelClassesAndSize() throws {
    let command = try Summary.parse([
      "--model", "alexnet-bn", "--classes", "16", "--image-size", "224",
    ])
    #expect(command.model == .alexnetBN && command.classes == 16 && command.imageSize == 224)
    #expect(try Summary.parse([]).model == .alexnet)
  }

  @Test func rejectsBadValuesWithOneLine() {
    #expect(throws: (any Error).self) { try Summary.parse(["--classes", "0"]) }
    #expect(throws: (any Error).self) { try Summary.parse(["--model", "vgg16"]) }
    #expect {
      try Summary.parse(["--classes", "0"])
    } throws: { error in
      Summary.message(for: error).contains("--classes must be positive, got 0")
    }
  }

  /// The built binary: the table on standard output, exit code 0; a size the model cannot take
  /// gives one line naming the layer and a non-zero exit code.
  @Test func binaryPrintsTheTableAndFailsCleanly() throws {
    let ok = try runAlexnet(["summary", "--model", "small", "--classes", "3"])
    #expect(ok.status == 0)
    #expect(ok.output.contains("Total params:") && ok.output.contains("features.0 (Conv2D)"))
    let bad = try runAlexnet(["summary", "--model", "small", "--image-size", "8"])
    #expect(bad.status != 0)
    #expect(bad.error.contains("does not accept 8x8 images") && !bad.error.contains("Fatal error"))
  }
}

/// `--graph dot`: the DOT on standard output; a .dot file written as asked; an unknown
/// extension named in one line. (Rendering through Graphviz is not tested: it may be absent.)
@Suite struct SummaryGraphTests {
  @Test func graphGoesToStandardOutputOrADotFile() throws {
    let printed = try runAlexnet([
      "summary", "--model", "small", "--classes", "3", "--graph", "dot",
    ])
    #expect(printed.status == 0 && printed.output.hasPrefix("digraph \"small (3 classes"))
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("graph-\(UUID()).dot")
    defer { try? FileManager.default.removeItem(at: file) }
    let written = try runAlexnet([
      "summary", "--model", "small", "--graph", "dot", "--output", file.path,
    ])
    #expect(written.status == 0)
    let text = try String(contentsOf: file, encoding: .utf8)
    #expect(text.hasPrefix("digraph \"small (1000 classes") && text.contains("features.0: Conv2D"))
    let bad = try runAlexnet(["summary", "--graph", "dot", "--output", "/tmp/graph.jpg"])
    #expect(bad.status != 0 && bad.error.contains("--output /tmp/graph.jpg: expected a .dot"))
    #expect(throws: (any Error).self) { try Summary.parse(["--output", "g.dot"]) }
  }
}

/// Runs the `alexnet` executable built beside the test bundle.
func runAlexnet(
  _ arguments: [String], environment: [String: String] = [:]
) throws -> (status: Int32, output: String, error: String) {
  try runProduct("alexnet", arguments, environment: environment)
}

/// Runs one of the package's executables built beside the test bundle.
func runProduct(
  _ name: String, _ arguments: [String], environment: [String: String] = [:]
) throws -> (status: Int32, output: String, error: String) {
  // The test runner is itself a binary in the products folder.
  let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent()
  let process = Process()
  process.executableURL = products.appendingPathComponent(name)
  process.arguments = arguments
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let output = Pipe()
  let error = Pipe()
  process.standardOutput = output
  process.standardError = error
  try process.run()
  let out = output.fileHandleForReading.readDataToEndOfFile()
  let err = error.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (
    process.terminationStatus, String(decoding: out, as: UTF8.self),
    String(decoding: err, as: UTF8.self)
  )
}
