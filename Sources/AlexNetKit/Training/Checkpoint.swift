import Foundation

/// Everything needed to resume training exactly: the weights and batch-norm statistics, the
/// optimizer's state (prefix `optimizer.`), and in the safetensors metadata the model's identifier
/// and configuration, the epoch, learning rate, schedule and early-stopping state, dropout
/// generators, class names and the caller's records (the configuration, with the normalisation
/// statistics). One file (`cp-0001.safetensors`...), written atomically: a run killed at any
/// moment leaves the previous checkpoint whole.
///
/// The model is any `Layer`: a catalogue model is recorded by its name ("small"), a network of
/// one's own by the identifier its author gives, with an optional configuration (JSON) from which
/// the author's code rebuilds it. `ModelCatalog.make(for:)` rebuilds catalogue models.
public struct Checkpoint {
  /// The model's identifier: a `ModelName`'s raw value for catalogue models.
  public var model: String
  /// JSON that describes how to build the model (widths, depth...): for the catalogue, its
  /// `CatalogueConfiguration` (the activation); nil in older checkpoints (ReLU).
  public var modelConfiguration: String?
  public var classNames: [String]
  public var epoch: Int
  public var learningRate: Float
  public var weights: [(name: String, tensor: Tensor)]
  public var optimizerState: [(name: String, tensor: Tensor)]
  /// JSON texts by key: "schedule", "early_stopping", "dropout", "history", and the caller's own
  /// (the command line stores "configuration", which holds the normalisation statistics).
  public var records: [String: String]

  public static func fileName(epoch: Int) -> String { String(format: "cp-%04d.safetensors", epoch) }

  /// Metadata keys of the checkpoint itself; every other key is one of `records`.
  static let ownKeys: Set<String> = [
    "model", "model_configuration", "classes", "class_names", "epoch", "learning_rate",
    "learning_rate_bits",
  ]

  public init(
    model: String, modelConfiguration: String? = nil, classNames: [String], epoch: Int,
    learningRate: Float, weights: [(name: String, tensor: Tensor)],
    optimizerState: [(name: String, tensor: Tensor)], records: [String: String]
  ) {
    (self.model, self.modelConfiguration, self.classNames) = (model, modelConfiguration, classNames)
    (self.epoch, self.learningRate) = (epoch, learningRate)
    (self.weights, self.optimizerState, self.records) = (weights, optimizerState, records)
  }

  /// Writes the checkpoint atomically to each of `urls` (the epoch's file and, when it is the best
  /// so far, best.safetensors), encoding it once.
  public func write(to urls: [URL]) throws {
    let bytes = try encoded()
    for url in urls { try AtomicFile.write(bytes, to: url) }
  }

  /// The checkpoint as safetensors bytes. The learning rate is written twice: as a decimal number
  /// for people (`learning_rate`) and as its bit pattern for an exact resume
  /// (`learning_rate_bits`).
  public func encoded() throws -> [UInt8] {
    var metadata = records
    metadata["model"] = model
    metadata["model_configuration"] = modelConfiguration
    metadata["classes"] = String(classNames.count)
    metadata["class_names"] = String(decoding: try JSONEncoder().encode(classNames), as: UTF8.self)
    metadata["epoch"] = String(epoch)
    metadata["learning_rate"] = "\(learningRate)"
    metadata["learning_rate_bits"] = String(learningRate.bitPattern)
    return Safetensors.encode(
      weights + optimizerState.map { ("optimizer.\($0.name)", $0.tensor) }, metadata: metadata)
  }

  /// Reads a checkpoint of any model, every record checked (see `CheckpointValidation.swift`).
  /// Files without the training metadata (bare weights) are refused, naming the file.
  public init(contentsOf url: URL) throws {
    try self.init(file: SafetensorsFile(contentsOf: url))
  }

  /// A checkpoint from its bytes; `source` names it in errors.
  public init(bytes: [UInt8], source: String) throws {
    try self.init(file: SafetensorsFile(bytes: bytes, source: source))
  }

  init(file: SafetensorsFile) throws {
    let (metadata, source) = (file.metadata, file.source)
    guard let model = metadata["model"], !model.isEmpty else {
      throw FileError(
        source, "has no training metadata (model, epoch...): it is not a checkpoint of this tool")
    }
    self.model = model
    modelConfiguration = metadata["model_configuration"]
    classNames = try Self.checkedClassNames(metadata, source: source)
    // Bare weights have no epoch; a present one must be a plausible count (a negative or
    // non-numeric epoch trapped --resume or restarted the run at epoch 1 with trained weights).
    guard let epoch = metadata["epoch"].map({ Int($0) }) ?? 0,
      (0...Self.maximumEpoch).contains(epoch)
    else {
      throw FileError(
        source, "has an unreadable epoch (expected a whole number in 0...\(Self.maximumEpoch))")
    }
    self.epoch = epoch
    learningRate = try Self.checkedLearningRate(metadata, source: source)
    let all = try Self.checkedTensors(file)
    weights = all.filter { !$0.name.hasPrefix("optimizer.") }
    optimizerState = all.filter { $0.name.hasPrefix("optimizer.") }
      .map { (String($0.name.dropFirst("optimizer.".count)), $0.tensor) }
    records = metadata.filter { !Self.ownKeys.contains($0.key) }
    try checkRecords(source: source)
  }

  /// The largest epoch a checkpoint may claim (cp-NNNN names have room for it).
  public static let maximumEpoch = 99_999

  /// The exact learning rate: from `learning_rate_bits`; in checkpoints written before that key
  /// existed, `learning_rate` held the bit pattern itself (all digits, where a decimal Float always
  /// has a point or an exponent); 0 when neither is there.
  static func learningRate(_ metadata: [String: String]) -> Float? {
    if let bits = metadata["learning_rate_bits"] {
      return UInt32(bits).map(Float.init(bitPattern:))
    }
    guard let text = metadata["learning_rate"] else { return 0 }
    if text.allSatisfy(\.isASCIIDigit) { return UInt32(text).map(Float.init(bitPattern:)) }
    return Float(text)
  }

  /// Refuses a checkpoint of another model or class count, saying which.
  public func checkCompatible(model expected: String, classes: Int, source: String) throws {
    guard model == expected else {
      throw FileError(source, "is a checkpoint of model \(model), not \(expected)")
    }
    guard classNames.isEmpty || classNames.count == classes else {
      throw FileError(
        source, "is a checkpoint for \(classNames.count) classes, not \(classes)")
    }
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
