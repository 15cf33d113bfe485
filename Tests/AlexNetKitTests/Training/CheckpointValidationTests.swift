import Foundation
import Testing

@testable import AlexNetKit

/// Every record of a checkpoint is checked before use: each spoiled record below is refused in
/// one line that names the file and the record (issue 16's reproductions among them).
@Suite struct CheckpointValidationTests {
  static let configuration =
    #"{"imageSize":64,"resizeSide":73,"normalization":{"mean":[0.5,0.4,0.3],"#
    + #""standardDeviation":[0.25,0.25,0.25],"scale":255}}"#

  /// A healthy two-class checkpoint: a 1x1 convolution and a classifier, with momentum.
  static func healthy() -> Checkpoint {
    Checkpoint(
      model: "small", classNames: ["golf_ball", "parachute"], epoch: 3, learningRate: 0.01,
      weights: [
        ("features.0.weight", Tensor(shape: [2, 3, 1, 1], scalars: [1, 2, 3, 4, 5, 6])),
        ("classifier.6.weight", Tensor(shape: [2, 2], scalars: [1, 0, 0, 1])),
        ("classifier.6.bias", Tensor(shape: [2], scalars: [0, 0])),
      ],
      optimizerState: [("features.0.weight.momentum", Tensor(zeros: [2, 3, 1, 1]))],
      records: ["configuration": configuration])
  }

  /// The healthy checkpoint's bytes with `change` applied to its metadata and tensors.
  static func spoiled(
    _ change: (inout [String: String], inout [(name: String, tensor: Tensor)]) -> Void
  ) throws -> [UInt8] {
    let healthy = try SafetensorsFile(bytes: Self.healthy().encoded(), source: "cp")
    var metadata = healthy.metadata
    var tensors = healthy.tensors()
    change(&metadata, &tensors)
    return Safetensors.encode(tensors, metadata: metadata)
  }

  static func refusal(_ bytes: [UInt8]) -> String? {
    do {
      _ = try Checkpoint(bytes: bytes, source: "cp-0004.safetensors")
      return nil
    } catch { return "\(error)" }
  }

  @Test func theHealthyCheckpointLoads() throws {
    let read = try Checkpoint(bytes: Self.healthy().encoded(), source: "cp")
    #expect(read.classNames == ["golf_ball", "parachute"] && read.epoch == 3)
    #expect(try read.recordedPreprocessing(source: "cp").side == 64)
    #expect(read.recordedImageSize == 64)
    // Its tensors are not the small model's shapes: refused by loadState, not by a record.
    #expect {
      try ModelCatalog.make(for: read, source: "cp")
    } throws: { !"\($0)".contains("class_names") }
  }

  static let metadataCases: [(String, String?, String)] = [
    ("configuration", #"{"imageSize":64,"resizeSide":73,"normalization":{}}"#, "(no mean)"),
    ("configuration", configuration.replacingOccurrences(of: "64", with: "0"), "imageSize"),
    ("configuration", configuration.replacingOccurrences(of: "64", with: "-64"), "imageSize"),
    ("configuration", configuration.replacingOccurrences(of: "64", with: "8"), "imageSize"),
    ("configuration", configuration.replacingOccurrences(of: "64", with: "100000"), "imageSize"),
    ("configuration", configuration.replacingOccurrences(of: "73", with: "0"), "resizeSide"),
    ("configuration", configuration.replacingOccurrences(of: "73", with: "-5"), "resizeSide"),
    (
      "configuration", configuration.replacingOccurrences(of: "[0.25,", with: "[0,"),
      "normalization"
    ),
    ("configuration", configuration.replacingOccurrences(of: "0.4,", with: ""), "normalization"),
    // 1e-45 is positive, yet dividing by it makes every pixel infinite.
    (
      "configuration", configuration.replacingOccurrences(of: "[0.25,", with: "[1e-45,"),
      "deviations of at least 1e-06"
    ),
    ("configuration", "{", "configuration record"),
    ("class_names", "golf_ball", "class_names record is unreadable"),
    ("class_names", "[]", "class_names record lists 0 names"),
    ("class_names", #"["a",""]"#, "class_names record has an empty name"),
    ("class_names", #"["a","b","c"]"#, "lists 3 names but the classes record says 2"),
    ("class_names", nil, "has no class_names record"),
    ("learning_rate_bits", String(Float.nan.bitPattern), "unusable learning_rate"),
    ("learning_rate_bits", String(Float.infinity.bitPattern), "unusable learning_rate"),
    ("learning_rate_bits", "fast", "unusable learning_rate"),
    ("epoch", "-1", "unreadable epoch"),
    ("schedule", #"{"factor":"#, "unreadable schedule record"),
    ("history", "[1]", "unreadable history record"),
    ("rate_schedule", "{}", "unreadable rate_schedule record"),
    ("early_stopping", "null", "unreadable early_stopping record"),
    ("model", "", "has no training metadata"),
  ]

  @Test(arguments: metadataCases)
  func aSpoiledRecordIsRefusedByName(_ key: String, _ value: String?, _ expected: String) throws {
    let refusal = Self.refusal(try Self.spoiled { metadata, _ in metadata[key] = value })
    #expect(refusal?.hasPrefix("cp-0004.safetensors: ") == true, "\(String(describing: refusal))")
    #expect(
      refusal?.contains(expected) == true && refusal?.contains("\n") == false,
      "\(key)=\(value ?? "nil"): \(String(describing: refusal))")
  }

  /// 19 M empty names in a 95 MB header aborted allocating 38.9 GB: the text is bounded first.
  @Test func aHugeClassNamesRecordIsRefusedBeforeItIsDecoded() throws {
    let names = "[" + String(repeating: #""","#, count: 1_500_000) + #""x"]"#
    let refusal = Self.refusal(try Self.spoiled { metadata, _ in metadata["class_names"] = names })
    #expect(
      refusal?.contains("class_names record takes 4500005 bytes, more than the") == true,
      "\(String(describing: refusal))")
    let many =
      "[" + (0...Checkpoint.maximumClasses).map { "\"\($0)\"" }.joined(separator: ",")
      + "]"
    #expect(
      Self.refusal(try Self.spoiled { metadata, _ in metadata["class_names"] = many })?
        .contains("lists 100001 names (expected 1...100000)") == true)
  }

  @Test func nonFiniteWeightsAndOptimizerStateAreRefusedByName() throws {
    let nan = Self.refusal(try Self.spoiled { _, tensors in tensors[0].tensor.scalars[4] = .nan })
    #expect(nan == "cp-0004.safetensors: has NaN in features.0.weight")
    let infinity = Self.refusal(
      try Self.spoiled { _, tensors in
        let last = tensors.count - 1
        tensors[last].tensor.scalars[0] = -.infinity
      })
    #expect(infinity == "cp-0004.safetensors: has infinity in optimizer.features.0.weight.momentum")
  }

  /// A directory, a device or a FIFO given as a file is named for what it is: Foundation said
  /// "NSCocoaErrorDomain error 256" for a directory and "You don't have permission" (to root) for
  /// the others, and a FIFO nobody writes to would block. An oversized file is refused unread.
  @Test func filesThatAreNotRegularAreNamedForWhatTheyAre() throws {
    let folder = FileManager.default.temporaryDirectory
      .appendingPathComponent("not-regular-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let fifo = folder.appendingPathComponent("fifo")
    #expect(mkfifo(fifo.path, 0o600) == 0)
    let cases = [
      (folder, "a directory"), (URL(fileURLWithPath: "/dev/zero"), "a device"),
      (fifo, "a FIFO"),
    ]
    for (url, kind) in cases {
      #expect {
        _ = try SafetensorsFile(contentsOf: url)
      } throws: { "\($0)" == "\(url.path): is \(kind), expected a .safetensors file" }
      #expect {
        _ = try ImageDecoder.decode(contentsOf: url)
      } throws: { "\($0)" == "\(url.path): is \(kind), expected a JPEG or PNG image" }
    }
    let file = folder.appendingPathComponent("names.txt")
    try Data(repeating: 65, count: 20).write(to: file)
    #expect {
      _ = try FileError.readRegularFile(file, expected: "names", limit: 10)
    } throws: { "\($0)" == "\(file.path): is 20 bytes, more than the 10 accepted for names" }
    #expect(try FileError.readRegularFile(file, expected: "names", limit: 20).count == 20)
  }

  @Test func integerTensorsAreRefused() throws {
    let healthy = try SafetensorsFile(bytes: Self.healthy().encoded(), source: "cp")
    let bytes = Safetensors.encode(
      healthy.tensors(), metadata: healthy.metadata,
      integers: [("features.1.num_batches_tracked", [], [7])])
    #expect(
      Self.refusal(bytes)
        == "cp-0004.safetensors: tensor features.1.num_batches_tracked has dtype I64, expected F32")
  }

  /// A header with a key twice (a second "model", or a tensor twice) is refused: readers disagree
  /// on which value wins.
  @Test func aKeyTwiceInTheHeaderIsRefused() throws {
    let bytes = try Self.healthy().encoded()
    let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
    var header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
    header = header.replacingOccurrences(
      of: #""model":"small""#, with: #""model":"small","\u006dodel":"alexnet""#)
    let twice = Array(header.utf8)
    var spoiled = (0..<8).map { UInt8(truncatingIfNeeded: twice.count >> (8 * $0)) }
    spoiled += twice + bytes[(8 + length)...]
    #expect(
      Self.refusal(spoiled) == "cp-0004.safetensors: header has the key model twice in one object")
    #expect(
      SafetensorsFile.duplicatedKey(ArraySlice(#"{"a":{"b":1,"c":[{"b":2}]},"b":{"a":1}}"#.utf8))
        == nil)
    #expect(SafetensorsFile.duplicatedKey(ArraySlice(#"{"a":{"b":1, "b" :2}}"#.utf8)) == "b")
    #expect(SafetensorsFile.duplicatedKey(ArraySlice(#"{"a":["a","a"]}"#.utf8)) == nil)
  }

  /// Class names whose count is not the classifier's are refused before a model is made for them
  /// (an empty list made a model of 0 classes and trapped).
  @Test func classNamesMustMatchTheClassifier() throws {
    var checkpoint = Self.healthy()
    checkpoint.classNames = ["a", "b", "c"]
    #expect {
      try ModelCatalog.make(for: checkpoint, source: "cp")
    } throws: {
      "\($0)"
        == "cp: class_names lists 3 names but the classifier classifier.6.weight has 2 outputs"
    }
  }

  @Test func anInputSideTheModelCannotTakeIsRefused() throws {
    let model = ModelCatalog.make(.small, classes: 2)
    try Checkpoint.checkInputSide(64, of: model, source: "cp")
    #expect {
      try Checkpoint.checkInputSide(16, of: model, source: "cp")
    } throws: {
      "\($0)".hasPrefix("cp: configuration record: imageSize 16 does not fit the model: ")
    }
  }
}
