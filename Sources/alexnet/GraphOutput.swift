import AlexNetKit
import ArgumentParser
import Foundation

/// Formats of `alexnet summary --graph`.
enum GraphFormat: String, ExpressibleByArgument, CaseIterable { case dot }

/// Where `summary --graph dot` goes: standard output, a .dot file, or an SVG/PNG rendered by
/// Graphviz's `dot` when it is installed (the tool must not need it: without it the DOT is
/// written beside the requested file with a one-line note on how to render it).
enum GraphOutput {
  static func write(_ text: String, to path: String?) throws {
    guard let path else {
      print(text, terminator: "")
      return
    }
    let url = URL(fileURLWithPath: path)
    let format = url.pathExtension.lowercased()
    guard ["dot", "gv", "svg", "png"].contains(format) else {
      throw CommandError("--output \(path): expected a .dot, .svg or .png file")
    }
    if format == "dot" || format == "gv" {
      try AtomicFile.write(text, to: url)
      print("Wrote \(path)")
      return
    }
    let dotFile = url.deletingPathExtension().appendingPathExtension("dot")
    guard let dot = executable("dot") else {
      try AtomicFile.write(text, to: dotFile)
      print(
        "Wrote \(dotFile.path); Graphviz's dot is not installed (apt-get install graphviz), "
          + "render it with: dot -T\(format) \(dotFile.path) -o \(path)")
      return
    }
    try render(text, with: dot, format: format, to: url)
    print("Wrote \(path)")
  }

  /// Runs `dot -T<format>` on the text, writing its output to a temporary name, then renaming.
  static func render(_ text: String, with dot: URL, format: String, to url: URL) throws {
    let process = Process()
    process.executableURL = dot
    process.arguments = ["-T\(format)"]
    let input = Pipe()
    let output = Pipe()
    let error = Pipe()
    (process.standardInput, process.standardOutput, process.standardError) = (input, output, error)
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let rendered = output.fileHandleForReading.readDataToEndOfFile()
    let message = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let reason = String(decoding: message, as: UTF8.self).split(separator: "\n").first ?? "failed"
      throw CommandError("\(dot.path) -T\(format): \(reason)")
    }
    try AtomicFile.write([UInt8](rendered), to: url)
  }

  /// The program's path from PATH, or nil.
  static func executable(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":")
      .map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }
}
