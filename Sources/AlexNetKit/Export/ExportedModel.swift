import Foundation

/// What a file that leaves this tool carries besides the weights: the catalogue model (if it is
/// one), the class names and the preprocessing, so that one file is enough to classify photos.
public struct ExportedModelInfo: Sendable, Equatable {
  /// The catalogue name, or nil for a network of one's own.
  public var model: ModelName?
  public var classNames: [String]
  public var preprocessing: Preprocessing

  public init(model: ModelName?, classNames: [String], preprocessing: Preprocessing) {
    (self.model, self.classNames, self.preprocessing) = (model, classNames, preprocessing)
  }

  /// Metadata entries, each value readable on its own: "model" (a name), "class_names" (a JSON
  /// array) and "preprocessing" (a JSON object: input = (pixel / pixel_scale − mean) / std after
  /// resizing the shorter side to resize_side and cropping input_size from the centre).
  public func metadata() throws -> [String: String] {
    var entries = [
      "class_names": try Self.json(classNames),
      "preprocessing": try Self.json(RecordedForm(preprocessing)),
    ]
    if let model { entries["model"] = model.rawValue }
    return entries
  }

  /// Reads what `metadata` wrote; `source` names the file in the error.
  public init(metadata: [String: String], source: String) throws(ExportError) {
    func decode<T: Decodable>(_ type: T.Type, _ key: String) throws(ExportError) -> T {
      guard let text = metadata[key] else {
        throw ExportError("\(source): no \(key) in its metadata")
      }
      do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
        throw ExportError("\(source): its \(key) metadata is not the JSON this tool writes")
      }
    }
    if let name = metadata["model"] {
      guard let known = ModelName(rawValue: name) else {
        throw ExportError("\(source): unknown model \(name)")
      }
      model = known
    } else {
      model = nil
    }
    classNames = try decode([String].self, "class_names")
    preprocessing = try decode(RecordedForm.self, "preprocessing").preprocessing(source: source)
  }

  static func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  /// The preprocessing under names a Python reader expects.
  struct RecordedForm: Codable {
    var inputSize: Int, resizeSide: Int
    var mean: [Float], std: [Float], pixelScale: Float

    enum CodingKeys: String, CodingKey {
      case inputSize = "input_size"
      case resizeSide = "resize_side"
      case mean, std
      case pixelScale = "pixel_scale"
    }

    init(_ p: Preprocessing) {
      (inputSize, resizeSide) = (p.side, p.resizeSide)
      (mean, std, pixelScale) = (
        p.normalization.mean, p.normalization.standardDeviation, p.normalization.scale
      )
    }

    func preprocessing(source: String) throws(ExportError) -> Preprocessing {
      guard inputSize > 0, resizeSide >= inputSize, mean.count == 3, std.count == 3,
        std.allSatisfy({ $0 > 0 }),
        pixelScale > 0
      else { throw ExportError("\(source): its preprocessing metadata is out of range") }
      return Preprocessing(
        resizeSide: resizeSide, side: inputSize,
        normalization: Normalization(mean: mean, standardDeviation: std, scale: pixelScale))
    }
  }
}

/// A model that cannot be exported or a file that cannot be read back: one line saying which
/// layer or file and why.
public struct ExportError: Error, CustomStringConvertible, LocalizedError, Sendable {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
  public var errorDescription: String? { message }
}
