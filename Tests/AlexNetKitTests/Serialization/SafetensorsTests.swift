import AlexNetKit
import Foundation
import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct SafetensorsTests {
  func fixture(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
  }

  func bytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let length = declaredLength ?? UInt64(h.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + h + data
  }

  func rejects(_ bytes: [UInt8], mentioning words: [String]) {
    #expect {
      try SafetensorsFile(bytes: bytes, source: "test.safetensors")
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("test.safetensors: ") && words.allSatisfy(text.contains)
    }
  }

  @Test func roundTripKeepsNamesShapesValuesAndMetadata() throws {
    var rng = SeededGenerator(seed: 1)
    let tensors = [
      ("b.weight", rng.tensor([3, 2, 5])), ("a.bias", rng.tensor([7])), ("scalar", Tensor(3.5)),
    ]
    let file = try SafetensorsFile(
      bytes: Safetensors.encode(tensors, metadata: ["epoch": "3", "q\"uote": "a\nb"]),
      source: "memory")
    #expect(file.names == ["b.weight", "a.bias", "scalar"])
    #expect(file.metadata == ["epoch": "3", "q\"uote": "a\nb"])
    for (name, tensor) in tensors { #expect(try file.tensor(named: name) == tensor) }
  }

  /// A file written by the Hugging Face `safetensors` library from PyTorch tensors
  /// (Fixtures/safetensors/make_fixture.py): F32, F16 and BF16, with metadata.
  @Test func readsAFileWrittenByPyTorch() throws {
    let file = try SafetensorsFile(contentsOf: fixture("safetensors/pytorch.safetensors"))
    #expect(file.metadata == ["format": "pt", "note": "fixture"])
    let weight = try file.tensor(named: "features.0.weight")
    #expect(weight.shape == [2, 3, 2, 2] && weight.scalars == (0..<24).map { Float($0) / 4 - 1 })
    #expect(try file.tensor(named: "features.0.bias").scalars == [0.5, -1.5])
    let half = try file.tensor(named: "half")
    #expect(half.shape == [2, 3] && half.scalars == [1, -2, 0.5, 65504, 6.1035156e-05, -0.0])
    #expect(try file.tensor(named: "brain").scalars == [1, -3.140625, 1.0002555517425873e+30])
    #expect(file.entry(named: "brain")?.dtype == .bf16)
  }

  @Test func everyTruncationIsRejected() {
    let good = Safetensors.encode(
      [("w", Tensor(shape: [2, 3], repeating: 1))], metadata: ["k": "v"])
    for length in 0..<good.count {
      #expect(throws: FileError.self) {
        try SafetensorsFile(bytes: Array(good[0..<length]), source: "t")
      }
    }
    #expect(throws: Never.self) { try SafetensorsFile(bytes: good, source: "t") }
  }

  @Test func lyingHeadersAreRejectedWithTheReason() {
    let entry = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    rejects(
      bytes(header: entry, data: [UInt8](repeating: 0, count: 8), declaredLength: 1 << 40),
      mentioning: ["header"])
    rejects(
      bytes(header: entry, data: [UInt8](repeating: 0, count: 8), declaredLength: 200),
      mentioning: ["200-byte header"])
    // A metadata record of 17 MB (a JSON string of names, as a hostile class_names record) is
    // refused from its declared length, before any of it is parsed.
    let huge =
      #"{"__metadata__":{"class_names":""# + String(repeating: "a", count: 17 << 20) + "\"}}"
    rejects(bytes(header: huge, data: []), mentioning: ["header, more than the 16777216 accepted"])
    rejects(bytes(header: "not json", data: []), mentioning: ["not valid JSON"])
    rejects(bytes(header: "[1, 2]", data: []), mentioning: ["not a JSON object"])
    rejects(
      bytes(
        header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}}"#,
        data: [UInt8](repeating: 0, count: 8)),
      mentioning: ["w", "outside"])
    rejects(
      bytes(
        header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
        data: [UInt8](repeating: 0, count: 8)),
      mentioning: ["w", "needs 12 bytes"])
    rejects(
      bytes(
        header:
          #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
        data: [UInt8](repeating: 0, count: 8)), mentioning: ["overlap"])
    rejects(
      bytes(
        header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
        data: [UInt8](repeating: 0, count: 8)), mentioning: ["larger than the file"])
    rejects(
      bytes(
        header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
        data: [UInt8](repeating: 0, count: 8)),
      mentioning: ["shape"])
    rejects(
      bytes(
        header: #"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#,
        data: [UInt8](repeating: 0, count: 8)),
      mentioning: ["C64"])
    rejects(
      bytes(
        header: #"{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#,
        data: [UInt8](repeating: 0, count: 8)),
      mentioning: ["w", "shape"])
    rejects(bytes(header: #"{"__metadata__":{"k":3}}"#), mentioning: ["__metadata__"])
  }

  @Test func loadingIntoAModelReportsEveryMismatch() throws {
    let model = ModelCatalog.make(.small, classes: 3)
    var state = model.stateDict
    state[0].tensor = Tensor(zeros: [1])
    state.removeLast()
    let file = try SafetensorsFile(bytes: Safetensors.encode(state), source: "weights.safetensors")
    #expect {
      try model.loadWeights(from: file)
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("weights.safetensors: ")
        && text.contains("features.0.weight: shape [1]")
        && text.contains("missing classifier.6.bias")
    }
    let other = ModelCatalog.make(.small, classes: 3, seed: 4)
    try model.loadWeights(
      from: SafetensorsFile(bytes: Safetensors.encode(other.stateDict), source: "ok"))
    #expect(model.stateDict.map(\.tensor) == other.stateDict.map(\.tensor))
  }

  /// Bare weights (no checkpoint records) with NaN or infinity are refused by tensor name, and
  /// the model keeps its weights.
  @Test func nonFiniteBareWeightsAreRefused() throws {
    let model = ModelCatalog.make(.small, classes: 3)
    let before = model.stateDict.map(\.tensor)
    for (bad, word) in [(Float.nan, "NaN"), (-.infinity, "infinity")] {
      var state = ModelCatalog.make(.small, classes: 3, seed: 4).stateDict
      state[2].tensor.scalars[0] = bad
      let file = try SafetensorsFile(bytes: Safetensors.encode(state), source: "w.safetensors")
      #expect {
        try model.loadWeights(from: file)
      } throws: { "\($0)" == "w.safetensors: has \(word) in \(state[2].name)" }
    }
    #expect(model.stateDict.map(\.tensor) == before)
  }
}

@Suite(.serialized) struct AtomicFileTests {
  func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "atomic-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func aFailedWriteLeavesThePreviousFileAndNoTemporary() throws {
    let directory = try temporaryDirectory()
    let target = directory.appendingPathComponent("cp-0001.safetensors")
    try AtomicFile.write("old", to: target)
    struct Crash: Error {}
    AtomicFile.$beforeRename.withValue(
      { _ in throw Crash() },
      operation: {
        #expect(throws: Crash.self) { try AtomicFile.write("new", to: target) }
      })
    #expect(try String(contentsOf: target, encoding: .utf8) == "old")
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["cp-0001.safetensors"]
    )
    try AtomicFile.write("new", to: target)
    #expect(try String(contentsOf: target, encoding: .utf8) == "new")
  }

  @Test func anUnwritableDirectoryIsNamed() {
    #expect {
      try AtomicFile.write("x", to: URL(fileURLWithPath: "/nonexistent-dir/file"))
    } throws: { error in "\(error)".contains("/nonexistent-dir") }
  }
}
