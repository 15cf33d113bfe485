import Foundation

/// A run's config.json: its configuration (with the input side resolved) and what the data gave,
/// the class names, the image counts and the statistics, in one flat JSON object. Checkpoints
/// carry it too (record "configuration"), so inference recovers the preprocessing from them.
public struct RunRecord: Codable, Sendable, Equatable {
  public var configuration: TrainingConfiguration
  public var resizeSide: Int
  public var classNames: [String]
  public var trainingImages: Int
  public var validationImages: Int
  public var normalization: Normalization
  public var colorPCA: ColorPCA
  /// The machine's settings when the run started (for the record; they do not change results
  /// beyond the last bits of float sums).
  public var threads: Int
  public var blasCore: String

  public init(
    configuration: TrainingConfiguration, classNames: [String], trainingImages: Int,
    validationImages: Int, normalization: Normalization, colorPCA: ColorPCA
  ) throws {
    var resolved = configuration
    resolved.imageSize = try configuration.resolvedImageSize()
    self.configuration = resolved
    resizeSide = Preprocessing.resizeSide(for: resolved.imageSize!)
    (self.classNames, self.trainingImages, self.validationImages) = (
      classNames, trainingImages, validationImages
    )
    (self.normalization, self.colorPCA) = (normalization, colorPCA)
    threads = ComputeContext.current.threadCount
    blasCore = BLASRuntime.configuration.coreName
  }

  /// How evaluation, prediction and features prepare an image for this run's model: the
  /// training side and `resizeSide`, or `testImageSize` in the same proportion when it is set.
  public var preprocessing: Preprocessing {
    Self.preprocessing(
      side: configuration.imageSize ?? resizeSide, resizeSide: resizeSide,
      testSide: configuration.testImageSize, normalization: normalization)
  }

  /// The one rule shared by config.json and checkpoints: a test side, when recorded, replaces the
  /// training side and its resize.
  static func preprocessing(
    side: Int, resizeSide: Int, testSide: Int?, normalization: Normalization
  ) -> Preprocessing {
    if let testSide { return Preprocessing(side: testSide, normalization: normalization) }
    return Preprocessing(resizeSide: resizeSide, side: side, normalization: normalization)
  }

  enum CodingKeys: String, CodingKey {
    case resizeSide, classNames, trainingImages, validationImages, normalization, colorPCA, threads,
      blasCore
  }

  public init(from decoder: any Decoder) throws {
    configuration = try TrainingConfiguration(from: decoder)
    let c = try decoder.container(keyedBy: CodingKeys.self)
    resizeSide = try c.decode(Int.self, forKey: .resizeSide)
    classNames = try c.decode([String].self, forKey: .classNames)
    trainingImages = try c.decode(Int.self, forKey: .trainingImages)
    validationImages = try c.decode(Int.self, forKey: .validationImages)
    normalization = try c.decode(Normalization.self, forKey: .normalization)
    colorPCA = try c.decode(ColorPCA.self, forKey: .colorPCA)
    threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? 1
    blasCore = try c.decodeIfPresent(String.self, forKey: .blasCore) ?? ""
  }

  public func encode(to encoder: any Encoder) throws {
    try configuration.encode(to: encoder)
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(resizeSide, forKey: .resizeSide)
    try c.encode(classNames, forKey: .classNames)
    try c.encode(trainingImages, forKey: .trainingImages)
    try c.encode(validationImages, forKey: .validationImages)
    try c.encode(normalization, forKey: .normalization)
    try c.encode(colorPCA, forKey: .colorPCA)
    try c.encode(threads, forKey: .threads)
    try c.encode(blasCore, forKey: .blasCore)
  }

  /// config.json's bytes, decoded and validated; errors name `source`.
  public init(json: Data, source: String) throws {
    do { self = try JSONDecoder().decode(RunRecord.self, from: json) } catch {
      throw FileError(
        source, "is not a run configuration of this tool (\(RunDirectory.decodingProblem(error)))")
    }
    do { try validate() } catch { throw FileError(source, "\(error)") }
  }

  /// Checks what a file could hold out of range: the settings, the sides, the class names and
  /// the statistics. The error names the record and the expected range.
  public func validate() throws {
    try configuration.validate()
    guard let side = configuration.imageSize else {
      throw ConfigurationError("imageSize", "is missing (expected the input side in 16...1024)")
    }
    try Self.validate(side: side, resizeSide: resizeSide, normalization: normalization)
    guard
      !classNames.isEmpty && classNames.count <= 100_000
        && Set(classNames).count == classNames.count
    else {
      throw ConfigurationError(
        "classNames", "must be 1 to 100000 distinct names, got \(classNames.count)")
    }
    let pca = colorPCA.eigenvalues + colorPCA.eigenvectors + [colorPCA.standardDeviation]
    guard
      colorPCA.eigenvalues.count == 3 && colorPCA.eigenvectors.count == 9
        && pca.allSatisfy(\.isFinite)
    else {
      throw ConfigurationError(
        "colorPCA", "must have 3 finite eigenvalues and 9 finite eigenvector entries")
    }
  }
}

extension RunRecord {
  /// The smallest deviation accepted: the floor `Normalization.measured` gives a one-colour data
  /// set. A positive 1e-45 passed a `> 0` check, yet dividing by it makes every pixel infinite.
  static let minimumDeviation: Float = 1e-6

  /// The checks of the preprocessing records, shared by config.json and checkpoints: a side a
  /// model can take, a resize no smaller than the crop, and statistics that divide safely.
  static func validate(side: Int, resizeSide: Int, normalization: Normalization) throws {
    guard side >= 16 && side <= 1024 else {
      throw ConfigurationError("imageSize", "must be in 16...1024, got \(side)")
    }
    guard resizeSide >= side && resizeSide <= 4 * side else {
      throw ConfigurationError(
        "resizeSide", "must be in \(side)...\(4 * side) for imageSize \(side), got \(resizeSide)")
    }
    let statistics = normalization.mean + normalization.standardDeviation + [normalization.scale]
    guard normalization.mean.count == 3 && normalization.standardDeviation.count == 3,
      statistics.allSatisfy(\.isFinite), normalization.scale > 0,
      normalization.standardDeviation.allSatisfy({ $0 >= Self.minimumDeviation })
    else {
      throw ConfigurationError(
        "normalization",
        "must have three finite means and three deviations of at least \(Self.minimumDeviation)")
    }
  }
}

extension Checkpoint {
  /// The preprocessing a training run recorded in this checkpoint (its "configuration" record),
  /// checked before anything is sized from it; errors name `source` and the record.
  public func recordedPreprocessing(source: String) throws -> Preprocessing {
    struct Recorded: Decodable {
      var imageSize: Int, resizeSide: Int, normalization: Normalization
      var testImageSize: Int?
    }
    guard let text = records["configuration"] else {
      throw FileError(source, "has no preprocessing record (configuration)")
    }
    let recorded: Recorded
    do { recorded = try JSONDecoder().decode(Recorded.self, from: Data(text.utf8)) } catch {
      throw FileError(
        source, "has an unreadable configuration record (\(RunDirectory.decodingProblem(error)))")
    }
    do {
      try RunRecord.validate(
        side: recorded.imageSize, resizeSide: recorded.resizeSide,
        normalization: recorded.normalization)
      if let test = recorded.testImageSize {
        try RunRecord.validate(
          side: test, resizeSide: Preprocessing.resizeSide(for: test),
          normalization: recorded.normalization)
      }
    } catch { throw FileError(source, "configuration record: \(error)") }
    return RunRecord.preprocessing(
      side: recorded.imageSize, resizeSide: recorded.resizeSide,
      testSide: recorded.testImageSize, normalization: recorded.normalization)
  }
}

/// What metrics.json holds: the epochs run, the history, the final validation and the files
/// skipped.
public struct RunSummary: Codable, Sendable {
  public var epochs: Int
  public var history: [EpochRecord]
  public var validation: EvaluationReport?
  public var badFiles: [String]
}

/// Loss, top-1, top-5, per-class accuracy (nil for a class without images) and the confusion
/// matrix.
public struct EvaluationReport: Codable, Sendable {
  public var loss: Float, top1: Float, top5: Float, samples: Int
  public var perClassAccuracy: [Float?]
  public var confusionMatrix: [[Int]]
  public init(_ metrics: ClassificationMetrics) {
    (loss, top1, top5, samples) = (
      metrics.loss, metrics.top1Accuracy, metrics.top5Accuracy, metrics.samples
    )
    perClassAccuracy = metrics.perClassAccuracy.map { $0.isNaN ? nil : $0 }
    confusionMatrix = metrics.confusion
  }
}

extension JSONEncoder {
  /// Sorted keys, and non-finite numbers as the strings "nan", "inf" and "-inf" instead of an
  /// encoding error: a run whose loss became NaN still writes its records.
  public static func runRecords(pretty: Bool = true) -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting =
      pretty
      ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      : [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
  }
}

extension JSONDecoder {
  /// Reads what `JSONEncoder.runRecords` writes, "nan" and "inf" included.
  public static var runRecords: JSONDecoder {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
  }
}
