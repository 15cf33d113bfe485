import Foundation

/// Everything needed to resume training exactly: the weights and batch-norm statistics, the
/// optimizer's state (prefix `optimizer.`), and in the safetensors metadata the epoch, learning
/// rate, schedule and early-stopping state, dropout generators, class names and the caller's
/// records (the configuration, with the normalisation statistics). One file (`cp-0001.safetensors`...), written atomically: a run killed at any
/// moment leaves the previous checkpoint whole.
public struct Checkpoint {
  public var model: ModelName
  public var classNames: [String]
  public var epoch: Int
  public var learningRate: Float
  public var weights: [(name: String, tensor: Tensor)]
  public var optimizerState: [(name: String, tensor: Tensor)]
  /// JSON texts by key: "schedule", "early_stopping", "dropout", "history", and the caller's own
  /// (the command line stores "configuration", which holds the normalisation statistics).
  public var records: [String: String]

  public static func fileName(epoch: Int) -> String { String(format: "cp-%04d.safetensors", epoch) }

  public init(model: ModelName, classNames: [String], epoch: Int, learningRate: Float,
              weights: [(name: String, tensor: Tensor)], optimizerState: [(name: String, tensor: Tensor)],
              records: [String: String]) {
    (self.model, self.classNames, self.epoch, self.learningRate) = (model, classNames, epoch, learningRate)
    (self.weights, self.optimizerState, self.records) = (weights, optimizerState, records)
  }

  /// Writes the checkpoint atomically to each of `urls` (the epoch's file and, when it is the best
  /// so far, best.safetensors), encoding it once.
  public func write(to urls: [URL]) throws {
    let bytes = try encoded()
    for url in urls { try AtomicFile.write(bytes, to: url) }
  }

  /// The checkpoint as safetensors bytes.
  public func encoded() throws -> [UInt8] {
    var metadata = records
    metadata["model"] = model.rawValue
    metadata["classes"] = String(classNames.count)
    metadata["class_names"] = String(decoding: try JSONEncoder().encode(classNames), as: UTF8.self)
    metadata["epoch"] = String(epoch)
    metadata["learning_rate"] = String(learningRate.bitPattern)  // bit-exact
    return Safetensors.encode(weights + optimizerState.map { ("optimizer.\($0.name)", $0.tensor) }, metadata: metadata)
  }

  /// Reads a checkpoint (or bare weights: a file without the metadata gives epoch 0 and no names).
  public init(contentsOf url: URL) throws {
    let file = try SafetensorsFile(contentsOf: url)
    let metadata = file.metadata
    guard let modelName = metadata["model"] else {
      throw FileError(url.path, "has no training metadata (model, epoch...): it is not a checkpoint of this tool")
    }
    guard let model = ModelName(rawValue: modelName) else {
      throw FileError(url.path, "was made for model \(modelName), which this version does not know")
    }
    self.model = model
    classNames = (try? JSONDecoder().decode([String].self, from: Data((metadata["class_names"] ?? "[]").utf8))) ?? []
    epoch = Int(metadata["epoch"] ?? "") ?? 0
    learningRate = Float(bitPattern: UInt32(metadata["learning_rate"] ?? "") ?? 0)
    let all = file.tensors()
    weights = all.filter { !$0.name.hasPrefix("optimizer.") }
    optimizerState = all.filter { $0.name.hasPrefix("optimizer.") }.map { (String($0.name.dropFirst("optimizer.".count)), $0.tensor) }
    records = metadata.filter { !["model", "classes", "class_names", "epoch", "learning_rate"].contains($0.key) }
  }

  /// Refuses a checkpoint of another model or class count, saying which.
  public func checkCompatible(model expected: ModelName, classes: Int, source: String) throws {
    guard model == expected else {
      throw FileError(source, "is a checkpoint of model \(model.rawValue), not \(expected.rawValue)")
    }
    guard classNames.isEmpty || classNames.count == classes else {
      throw FileError(source, "is a checkpoint for \(classNames.count) classes, not \(classes)")
    }
  }
}
