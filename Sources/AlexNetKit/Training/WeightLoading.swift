import Foundation

/// Weights to start a new run from (transfer learning, fine-tuning): a checkpoint of this tool,
/// weights it exported, or a PyTorch state dict saved with safetensors under PyTorch's names
/// (`safetensors.torch.save_file(model.state_dict(), "w.safetensors")`). Only weights are taken:
/// the optimizer state, schedule and history of a checkpoint are not (that is `--resume`).
public struct InitialWeights {
  /// The file, for messages.
  public var source: String
  /// The entries under the model's names: the `module.` prefix removed, optimizer state and
  /// batch-norm counters (`num_batches_tracked`) left out.
  public var state: [(name: String, tensor: Tensor)]
  /// The prefix removed from every name (`module.`, which PyTorch's DataParallel adds), or nil.
  public var strippedPrefix: String?
  /// The model the file records (checkpoints and exports of this tool), nil for bare weights.
  public var model: String?

  /// The prefix `torch.nn.DataParallel` and `DistributedDataParallel` put before every name.
  public static let dataParallelPrefix = "module."

  /// Reads `url`; a file that is not safetensors, or holds integer weights, is an error naming it.
  public init(contentsOf url: URL) throws { try self.init(try SafetensorsFile(contentsOf: url)) }

  /// The weights of a file already read; integer weights are an error naming it.
  public init(_ file: SafetensorsFile) throws {
    source = file.source
    model = file.metadata["model"]
    // A checkpoint keeps the optimizer's state beside the weights; torch keeps a step counter per
    // batch norm that this library does not use.
    let relevant = file.entries.filter {
      !$0.name.hasPrefix("optimizer.") && !$0.name.hasSuffix("num_batches_tracked")
    }
    let integers = relevant.filter { [.u8, .i32, .i64].contains($0.dtype) }
    if let first = integers.first {
      throw FileError(
        source, "\(first.name) has dtype \(first.dtype.rawValue), expected F32, F16, BF16 or F64")
    }
    let prefix = Self.dataParallelPrefix
    let prefixed = !relevant.isEmpty && relevant.allSatisfy { $0.name.hasPrefix(prefix) }
    strippedPrefix = prefixed ? prefix : nil
    state = relevant.map { entry in
      (prefixed ? String(entry.name.dropFirst(prefix.count)) : entry.name, file.tensor(entry))
    }
  }

  public init(
    source: String, state: [(name: String, tensor: Tensor)], model: String? = nil
  ) {
    (self.source, self.state, self.model, strippedPrefix) = (source, state, model, nil)
  }
}

/// What loading initial weights did, for the lines a run prints.
public struct WeightLoadingReport: Sendable, Equatable {
  /// The prefix removed from every name, or nil.
  public var strippedPrefix: String?
  /// The entries taken from the file.
  public var loaded: Int
  /// The last layer, kept freshly initialised because the file has another class count.
  public var replacedHead: ReplacedHead?

  public struct ReplacedHead: Sendable, Equatable {
    /// The layer's name in the model ("classifier.6").
    public var layer: String
    /// Outputs (classes) in the file, and in the model.
    public var fileClasses: Int, modelClasses: Int
    public init(layer: String, fileClasses: Int, modelClasses: Int) {
      (self.layer, self.fileClasses, self.modelClasses) = (layer, fileClasses, modelClasses)
    }
  }

  /// One line per thing worth saying, naming `source`.
  public func lines(source: String) -> [String] {
    var lines: [String] = []
    if let strippedPrefix {
      lines.append(
        "\(source): removed the prefix \"\(strippedPrefix)\" from every name "
          + "(as PyTorch's DataParallel writes it)")
    }
    if let head = replacedHead {
      lines.append(
        "\(source): replaced the last layer \(head.layer) (\(head.fileClasses) classes in the "
          + "file, \(head.modelClasses) here) with a fresh one")
    }
    lines.append("Starting from \(loaded) weights of \(source)")
    return lines
  }
}

/// Loading weights for transfer learning: names checked as `loadState` checks them, except the
/// last layer, which is kept as initialised when the class counts differ.
public enum WeightLoading {
  /// Loads `weights` into `model`. When `modelIdentifier` is given and the file records another
  /// model, that is the error. With `replacingHead`, a last layer (the last one with parameters)
  /// whose outputs differ from the file's, everything else alike, keeps its fresh
  /// initialisation; any other mismatch throws `FileError` with `StateMismatchError`'s line.
  /// Nothing changes unless everything fits.
  @discardableResult
  public static func load(
    _ weights: InitialWeights, into model: any Layer, modelIdentifier: String? = nil,
    replacingHead: Bool = true
  ) throws -> WeightLoadingReport {
    if let expected = modelIdentifier, let recorded = weights.model, recorded != expected {
      throw FileError(weights.source, "holds weights of model \(recorded), not \(expected)")
    }
    var state = weights.state
    let head = replacingHead ? replaceableHead(of: model, given: state) : nil
    if let head {
      // The model's own fresh values stand in for the file's, so one check covers the rest.
      let own = Dictionary(uniqueKeysWithValues: model.stateDict.map { ($0.name, $0.tensor) })
      state = state.map { head.names.contains($0.name) ? ($0.name, own[$0.name]!) : $0 }
    }
    // Checked like a checkpoint's weights: NaN here started a run that only diverged, and the
    // message blamed the learning rate.
    for (name, tensor) in state {
      if let bad = Checkpoint.firstNonFinite(tensor) {
        throw FileError(weights.source, "has \(bad.isNaN ? "NaN" : "infinity") in \(name)")
      }
    }
    do { try model.loadState(state) } catch {
      throw FileError(weights.source, error.description)
    }
    return WeightLoadingReport(
      strippedPrefix: weights.strippedPrefix, loaded: state.count - (head?.names.count ?? 0),
      replacedHead: head?.report)
  }

  /// Reads `url` and loads it (see `load(_:into:modelIdentifier:replacingHead:)`).
  @discardableResult
  public static func load(
    contentsOf url: URL, into model: any Layer, modelIdentifier: String? = nil,
    replacingHead: Bool = true
  ) throws -> WeightLoadingReport {
    try load(
      InitialWeights(contentsOf: url), into: model, modelIdentifier: modelIdentifier,
      replacingHead: replacingHead)
  }

  /// The model's last layer with parameters, when the file has each of its entries with another
  /// first dimension (the outputs) and the same other dimensions.
  static func replaceableHead(
    of model: any Layer, given state: [(name: String, tensor: Tensor)]
  ) -> (names: Set<String>, report: WeightLoadingReport.ReplacedHead)? {
    guard let last = model.namedLeaves.last(where: { !$0.layer.parameters.isEmpty }) else {
      return nil
    }
    let given = Dictionary(state.map { ($0.name, $0.tensor.shape) }, uniquingKeysWith: { $1 })
    let entries = (last.layer.parameters + last.layer.buffers).map {
      (name: "\(last.name).\($0.name)", shape: $0.variable.shape)
    }
    var fileOutputs: Set<Int> = []
    for entry in entries {
      guard let shape = given[entry.name], shape.count == entry.shape.count, !shape.isEmpty,
        shape.dropFirst() == entry.shape.dropFirst()
      else { return nil }
      fileOutputs.insert(shape[0])
    }
    guard fileOutputs.count == 1, let fileClasses = fileOutputs.first,
      let modelClasses = entries.first?.shape.first, fileClasses != modelClasses
    else { return nil }
    return (
      Set(entries.map(\.name)),
      .init(layer: last.name, fileClasses: fileClasses, modelClasses: modelClasses)
    )
  }
}

// MARK: - Freezing

extension Layer {
  /// The parameters that train: those not frozen (`requiresGradient`), in `namedParameters` order.
  public var unfrozenParameters: [(name: String, variable: Variable)] {
    namedParameters.filter(\.variable.requiresGradient)
  }

  /// Freezes every parameter whose name is one of `prefixes` or lies below one ("features"
  /// freezes `features.0.weight`, not `featuresX.weight`): it gets no gradient, so no update and no
  /// weight decay, and the backward pass stops where nothing below needs a gradient. Batch-norm
  /// statistics still follow the data in training mode, as in PyTorch. Returns the frozen names.
  /// A prefix that matches nothing, or freezing every parameter, is a `ConfigurationError` naming
  /// `--freeze`.
  @discardableResult
  public func freeze(_ prefixes: [String]) throws -> [String] {
    let parameters = namedParameters
    var frozen: [String] = []
    for prefix in prefixes {
      let stem = prefix.hasSuffix(".") ? String(prefix.dropLast()) : prefix
      let matched = parameters.filter { $0.name == stem || $0.name.hasPrefix(stem + ".") }
      guard !matched.isEmpty else {
        let tops = parameters.map { String($0.name.split(separator: ".")[0]) }
        let shown = tops.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        throw ConfigurationError(
          "--freeze",
          "\(prefix) matches no parameter (names start with \(shown.joined(separator: ", ")))")
      }
      frozen += matched.map(\.name).filter { !frozen.contains($0) }
    }
    guard frozen.count < parameters.count || parameters.isEmpty else {
      throw ConfigurationError(
        "--freeze", "\(prefixes.joined(separator: ", ")) freezes every parameter: nothing to train")
    }
    for (name, variable) in parameters where frozen.contains(name) {
      variable.requiresGradient = false
    }
    return frozen
  }
}
