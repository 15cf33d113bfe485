import AlexNetKit
import Foundation
import Testing

@testable import alexnet

/// Spoiled checkpoint records through the built binary: predict, evaluate and train --resume
/// refuse them in one line naming the file and the record, with a non-zero exit and no trap; a
/// non-finite last checkpoint offers the one before it, and --resume-from continues from it.
@Suite(.serialized) struct CheckpointCommandTests {
  /// Rewrites a checkpoint with `change` applied to its metadata and tensors.
  static func spoil(
    _ url: URL, _ change: (inout [String: String], inout [(name: String, tensor: Tensor)]) -> Void
  ) throws {
    let file = try SafetensorsFile(contentsOf: url)
    var (metadata, tensors) = (file.metadata, file.tensors())
    change(&metadata, &tensors)
    try AtomicFile.write(Safetensors.encode(tensors, metadata: metadata), to: url)
  }

  /// Writes `"model":"twice"` as `"model":"small","model":"alexnet"`: a key twice in the header.
  static func doubleModelKey(_ url: URL) throws {
    let bytes = [UInt8](try Data(contentsOf: url))
    let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
    let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
    guard header.contains(#""model":"twice""#) else { return }
    let twice = Array(
      header.replacingOccurrences(
        of: #""model":"twice""#, with: #""model":"small","model":"alexnet""#
      ).utf8)
    let prefix = (0..<8).map { UInt8(truncatingIfNeeded: twice.count >> (8 * $0)) }
    try Data(prefix + twice + bytes[(8 + length)...]).write(to: url)
  }

  static func expectOneLineRefusal(
    _ result: (status: Int32, output: String, error: String), _ expected: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let lines = RunDirectoryCommandTests.errorLines(result.error)
    #expect(
      result.status != 0 && result.status < 128 && lines.count == 1
        && lines.first?.contains(expected) == true,
      "status \(result.status): \(result.error)", sourceLocation: sourceLocation)
  }

  @Test func spoiledRecordsAreRefusedAndANaNCheckpointOffersThePreviousOne() throws {
    let data = try CommandTests.dataFolder()
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let trained = try RunDirectoryCommandTests.train(data, run, ["--epochs", "2"])
    #expect(trained.status == 0, "\(trained.error)")
    let image = try FileManager.default.contentsOfDirectory(
      atPath: data.appendingPathComponent("red").path
    ).sorted()[0]
    let imagePath = data.appendingPathComponent("red").appendingPathComponent(image).path

    // A copy of the first checkpoint, spoiled one record at a time, for predict and evaluate.
    let first = run.appendingPathComponent("cp-0001.safetensors")
    let copy = run.deletingLastPathComponent().appendingPathComponent("spoiled.safetensors")
    let spoils: [(String, (inout [String: String]) -> Void)] = [
      (
        "configuration record: imageSize must be in 16...1024, got 0",
        {
          $0["configuration"] = $0["configuration"]?
            .replacingOccurrences(of: #""imageSize":32"#, with: #""imageSize":0"#)
        }
      ),
      ("class_names record lists 0 names", { $0["class_names"] = "[]" }),
      ("header has the key model twice in one object", { $0["model"] = "twice" }),
    ]
    for (expected, change) in spoils {
      try? FileManager.default.removeItem(at: copy)
      try FileManager.default.copyItem(at: first, to: copy)
      try Self.spoil(copy) { metadata, _ in change(&metadata) }
      try Self.doubleModelKey(copy)
      let predict = try runAlexnet(["predict", "--weights", copy.path, imagePath])
      Self.expectOneLineRefusal(predict, "\(copy.path): \(expected)")
      let evaluate = try runAlexnet(["evaluate", "--weights", copy.path, "--data", data.path])
      Self.expectOneLineRefusal(evaluate, "\(copy.path): \(expected)")
    }

    let last = run.appendingPathComponent("cp-0002.safetensors")
    try Self.spoil(last) { _, tensors in tensors[0].tensor.scalars[0] = .nan }
    let name = try SafetensorsFile(contentsOf: last).names[0]
    let refused = try runAlexnet(["train", "--output", run.path, "--resume", "--epochs", "3"])
    Self.expectOneLineRefusal(
      refused,
      "\(last.path): has NaN in \(name); resume from cp-0001.safetensors with --resume-from "
        + "cp-0001.safetensors")
    let resumed = try runAlexnet([
      "train", "--output", run.path, "--resume-from", "cp-0001.safetensors", "--epochs", "2",
    ])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("Resuming from cp-0001.safetensors (epoch 1)."))
    #expect(try Checkpoint(contentsOf: last).epoch == 2)

    let badName = try runAlexnet(["train", "--output", run.path, "--resume-from", "../x"])
    // A flag's refusal: the parser's one line, then its usage hint.
    #expect(
      badName.status == 64
        && badName.error.hasPrefix(
          "Error: --resume-from must name a checkpoint of the run (cp-NNNN.safetensors), got ../x"),
      "\(badName.error)")
  }

  /// An output naming an input file, by the same path or through a link, is refused and the
  /// input kept: `export` and `features` wrote over the checkpoint they had read.
  @Test func anOutputThatIsAnInputIsRefusedAndTheInputKept() throws {
    let folder = try CommandTests.scratch()
    defer { try? FileManager.default.removeItem(at: folder) }
    let weights = folder.appendingPathComponent("w.safetensors")
    try FileManager.default.copyItem(atPath: BoundsCommandTests.weights, toPath: weights.path)
    let link = folder.appendingPathComponent("link.safetensors")
    try FileManager.default.createSymbolicLink(at: link, withDestinationURL: weights)
    let before = try Data(contentsOf: weights)
    let image = try BoundsCommandTests.firstPhoto()
    let cases: [([String], String)] = [
      (
        ["export", "--weights", weights.path, "--format", "safetensors", "--output", weights.path],
        "--output \(weights.path) is the --weights file"
      ),
      (
        [
          "features", "--weights", weights.path, "--data", CommandTests.sample.path,
          "--output", link.path,
        ], "--output \(link.path) is the --weights file"
      ),
      (
        ["visualize", "filters", "--weights", link.path, "--output", weights.path],
        "--output \(weights.path) is the --weights file"
      ),
      (
        [
          "similar", "--features", weights.path, "--weights", weights.path, "--html", link.path,
          image,
        ], "--html \(link.path) is the --features file"
      ),
    ]
    for (arguments, expected) in cases {
      Self.expectOneLineRefusal(try runAlexnet(arguments), expected)
    }
    #expect(try Data(contentsOf: weights) == before)
  }

  /// A directory, a device or a FIFO where a file is expected: one line saying what it is.
  @Test func filesThatAreNotRegularAreRefusedInOneLine() throws {
    let folder = try CommandTests.scratch()
    defer { try? FileManager.default.removeItem(at: folder) }
    let fifo = folder.appendingPathComponent("fifo")
    #expect(mkfifo(fifo.path, 0o600) == 0)
    let image = try BoundsCommandTests.firstPhoto()
    let weights = BoundsCommandTests.weights
    let cases: [([String], String)] = [
      ([folder.path, image], "\(folder.path): is a directory, expected a .safetensors file"),
      ([fifo.path, image], "\(fifo.path): is a FIFO, expected a .safetensors file"),
      ([weights, "/dev/zero"], "/dev/zero: is a device, expected a JPEG or PNG image"),
      ([weights, "--classes", "/dev/zero", image], "/dev/zero: is a device, expected a class"),
    ]
    for (arguments, expected) in cases {
      Self.expectOneLineRefusal(
        try runAlexnet(["predict", "--weights"] + arguments), "Error: " + expected)
    }
  }
}
