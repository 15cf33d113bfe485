import AlexNetKit
import Foundation
import Testing

/// Results that used to be silent or wrong: a header flooded with empty entries, feature indexes
/// from other weights or with NaN, and symbolic links in an image folder.
@Suite struct SilentResultTests {
  @Test func headerWithTooManyEntriesIsRefusedBeforeParsing() throws {
    func file(entries: Int) -> [UInt8] {
      let body = (0..<entries).map {
        "\"e\($0)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}"
      }
      let header = Array(("{" + body.joined(separator: ",") + "}").utf8)
      let length = (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
      return length + header
    }
    let limit = SafetensorsFile.maximumEntries
    let full = try SafetensorsFile(bytes: file(entries: limit - 1), source: "ok")
    #expect(full.entries.count == limit - 1)
    #expect {
      try SafetensorsFile(bytes: file(entries: limit), source: "flood.safetensors")
    } throws: { error in
      "\(error)" == "flood.safetensors: header holds \(limit + 1) JSON objects, more than the "
        + "\(limit) accepted"
    }
    // Braces inside strings (names, metadata, escaped quotes) are not objects.
    let tricky =
      "{\"__metadata__\":{\"k\":\"{{\\\"{\"},\"a{\":{\"dtype\":\"F32\",\"shape\":[0],"
      + "\"data_offsets\":[0,0]}}"
    let bytes = Array(tricky.utf8)
    let length = (0..<8).map { UInt8(truncatingIfNeeded: bytes.count >> (8 * $0)) }
    let parsed = try SafetensorsFile(bytes: length + bytes, source: "tricky")
    #expect(parsed.metadata["k"] == "{{\"{" && parsed.entries.map(\.name) == ["a{"])
  }

  @Test func weightsDigestTellsWeightsApart() throws {
    let model = ModelCatalog.make(.small, classes: 3, seed: 1)
    let digest = weightsDigest(model)
    #expect(digest == weightsDigest(ModelCatalog.make(.small, classes: 3, seed: 1)))
    #expect(digest != weightsDigest(ModelCatalog.make(.small, classes: 3, seed: 2)))
    var state = model.stateDict
    state[0].tensor.scalars[0] = state[0].tensor.scalars[0].nextUp
    try model.loadState(state)
    #expect(weightsDigest(model) != digest)
  }

  @Test func nanDistancesComeLast() {
    let index = Tensor(shape: [4, 2], scalars: [.nan, 0, 5, 5, 1, 1, 0, .nan])
    let nearest = nearestNeighbours(of: [0, 0], in: index, count: 4)
    #expect(nearest.map(\.row).prefix(2) == [2, 1])
    #expect(nearest.suffix(2).allSatisfy { $0.distance.isNaN })
  }

  /// torchvision follows links: so do we, for a linked class folder and linked images; a dangling
  /// link is not an image.
  @Test func symbolicLinksAreFollowed() throws {
    let png = try ImageEncoder.png(RGBImage(width: 4, height: 4, red: 1, green: 2, blue: 3))
    let store = try DataFixtures.folder(["x/1.png": png, "x/2.png": png, "y/3.png": png])
    let root = try DataFixtures.folder(["real/0.png": png])
    let manager = FileManager.default
    try manager.createSymbolicLink(
      at: root.appendingPathComponent("linked"),
      withDestinationURL: store.appendingPathComponent("x"))
    try manager.createDirectory(
      at: root.appendingPathComponent("files"), withIntermediateDirectories: true)
    try manager.createSymbolicLink(
      at: root.appendingPathComponent("files/3.png"),
      withDestinationURL: store.appendingPathComponent("y/3.png"))
    try manager.createSymbolicLink(
      at: root.appendingPathComponent("files/gone.png"),
      withDestinationURL: store.appendingPathComponent("none.png"))
    let folder = try ImageFolder(root: root)
    #expect(folder.classNames == ["files", "linked", "real"])
    #expect(folder.classCounts == [1, 2, 1])
    let linked = root.appendingPathComponent("linked/1.png").path
    #expect(folder.samples.map(\.url.path).contains(linked))
  }
}
