import Foundation

/// Everything that defines a training run, as `alexnet train` takes it and config.json records it:
/// the data and its split, the model, the input size, the optimizer and its schedule, early
/// stopping, augmentation and the loss. Defaults are the command line's; `validate()` checks every
/// setting and names the first one out of range.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
  public enum OptimizerKind: String, Codable, Sendable, CaseIterable { case sgd, adam }
  public enum Monitor: String, Codable, Sendable, CaseIterable {
    case loss
    case valLoss = "val_loss"
  }

  /// A catalogue name (`ModelName`), or the identifier of a network the caller supplies.
  public var model = ModelName.small.rawValue
  /// Image folder, one subfolder per class.
  public var data: String
  /// A separate validation folder; when set, `validationSplit` is not used.
  public var validationData: String?
  /// Fraction of `data` held out for validation, in [0, 1); 0 disables validation.
  public var validationSplit = 0.1
  /// Seed of the split, the weights, the shuffling and the augmentation.
  public var seed: UInt64 = 123
  /// The non-linearity of a catalogue model (ReLU in a config.json written before the choice).
  public var activation = Nonlinearity.relu
  /// Input side in pixels; nil takes the catalogue model's own.
  public var imageSize: Int?
  /// The centre crop's side for validation and for the saved weights' evaluation and prediction
  /// (nil: `imageSize`). Random-resized crops show objects larger than a centre crop of the same
  /// side does, so testing at a larger side than training is often more accurate (Touvron et al.
  /// 2019, "Fixing the train-test resolution discrepancy"; timm's test_input_size).
  public var testImageSize: Int?
  public var epochs = 50
  public var batchSize = 32
  /// Adam at 0.001 by default: on small folders of photos SGD at 0.01 with momentum 0.9 could
  /// blow up in its first epochs (issue 13), Adam at 0.001 learned them. For SGD pass --lr 0.01.
  public var optimizer = OptimizerKind.adam
  public var learningRate: Float = 0.001
  public var momentum: Float = 0.9
  public var weightDecay: Float = 0.0005
  /// Epochs without improvement before the rate is multiplied by `lrFactor`, floored at
  /// `minLearningRate`.
  public var lrPatience = 10
  public var lrFactor: Float = 0.1
  public var minLearningRate: Float = 1e-6
  /// Early stopping: epochs without improvement of `monitor`. `val_loss` (Keras's default) falls
  /// back to the training loss when there is no validation set.
  public var patience = 10
  public var monitor = Monitor.valLoss
  public var augment: [Augmentation] = [.crop, .flip]
  public var labelSmoothing: Float = 0
  public var balanceClasses = false
  /// How the rate moves: the plateau rule above, or a closed form of the step (`RateSchedule`).
  public var schedule = RateSchedule.Kind.plateau
  /// Linear warmup over this many epochs (fractions allowed), before any schedule; one by
  /// default, so that the first steps, with the largest gradients, are small.
  public var warmupEpochs = 1.0
  /// `step` schedule: the rate is multiplied by `lrGamma` every `lrStepSize` epochs.
  public var lrStepSize = 30
  public var lrGamma: Float = 0.1
  /// Wall-clock budget in minutes: no epoch starts that the last epoch's duration says would
  /// end after it (nil: none).
  public var timeLimit: Double?
  /// Clip the global L2 norm of the gradients to this (0: no clipping). On by default: a
  /// safety net that rarely binds once training has settled.
  public var clipGradNorm: Float = 5
  /// Mixup's α: pairs within the batch mixed with λ ~ Beta(α, α) (0: off).
  public var mixup: Float = 0
  /// Finish with the best epoch's weights (lowest validation loss) instead of the last.
  public var restoreBest = false
  /// Weights to start from (a checkpoint, or safetensors under PyTorch's names; see
  /// `InitialWeights`), with a fresh optimizer; nil starts from the model's initialisation.
  public var initWeights: String?
  /// Parameter-name prefixes not trained ("features"; see `Layer.freeze`); nil trains all.
  /// Optional so that config.json files written before it existed still read.
  public var freeze: [String]?

  public init(data: String) { self.data = data }

  /// The batch `learningRate`'s default is meant for; smaller batches get it scaled down.
  public static let referenceBatchSize = 32

  /// The rate to use when none is given: the default for batches of 32 or more, and
  /// rate · batch / 32 below (Goyal et al. 2017's linear scaling rule, applied downwards only).
  /// A batch of 8 has noisier gradients: on two classes at the full rate the training loss
  /// climbed back by 0.22-0.29 mid-run in three seeds, at a quarter by 0.13 at most in seven
  /// (issue 13).
  public static func defaultLearningRate(batchSize: Int) -> Float {
    let fraction = Float(min(max(batchSize, 1), referenceBatchSize)) / Float(referenceBatchSize)
    return TrainingConfiguration(data: "").learningRate * fraction
  }

  /// Settings missing from a stored config.json (written before they existed) keep their
  /// defaults, so older runs still resume.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    var read = TrainingConfiguration(data: try c.decode(String.self, forKey: .data))
    // Records written before warmup and clipping existed ran without them; the defaults of new
    // runs must not change an old run when it resumes.
    (read.warmupEpochs, read.clipGradNorm) = (0, 0)
    func take<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<Self, T>) throws {
      if let value = try c.decodeIfPresent(T.self, forKey: key) { read[keyPath: path] = value }
    }
    func take<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<Self, T?>) throws {
      if let value = try c.decodeIfPresent(T.self, forKey: key) { read[keyPath: path] = value }
    }
    try take(.model, \.model)
    try take(.activation, \.activation)
    try take(.validationData, \.validationData)
    try take(.validationSplit, \.validationSplit)
    try take(.seed, \.seed)
    try take(.imageSize, \.imageSize)
    try take(.testImageSize, \.testImageSize)
    try take(.epochs, \.epochs)
    try take(.batchSize, \.batchSize)
    try take(.optimizer, \.optimizer)
    try take(.learningRate, \.learningRate)
    try take(.momentum, \.momentum)
    try take(.weightDecay, \.weightDecay)
    try take(.lrPatience, \.lrPatience)
    try take(.lrFactor, \.lrFactor)
    try take(.minLearningRate, \.minLearningRate)
    try take(.patience, \.patience)
    try take(.monitor, \.monitor)
    try take(.augment, \.augment)
    try take(.labelSmoothing, \.labelSmoothing)
    try take(.balanceClasses, \.balanceClasses)
    try take(.schedule, \.schedule)
    try take(.warmupEpochs, \.warmupEpochs)
    try take(.lrStepSize, \.lrStepSize)
    try take(.lrGamma, \.lrGamma)
    try take(.timeLimit, \.timeLimit)
    try take(.clipGradNorm, \.clipGradNorm)
    try take(.mixup, \.mixup)
    try take(.restoreBest, \.restoreBest)
    try take(.initWeights, \.initWeights)
    try take(.freeze, \.freeze)
    self = read
  }

  /// The rate schedule of a run with `stepsPerEpoch` batches per epoch.
  public func rateSchedule(stepsPerEpoch: Int) -> RateSchedule {
    var rates = RateSchedule(schedule, baseRate: learningRate)
    rates.warmupSteps = Int((warmupEpochs * Double(stepsPerEpoch)).rounded())
    (rates.stepSize, rates.gamma, rates.minRate) = (lrStepSize, lrGamma, 0)
    (rates.stepsPerEpoch, rates.totalSteps) = (stepsPerEpoch, stepsPerEpoch * epochs)
    return rates
  }

  /// The validation split drawn from `data` (nil with a validation folder or a split of 0).
  public var effectiveValidationSplit: Double? {
    validationData == nil && validationSplit > 0 ? validationSplit : nil
  }

  /// The catalogue model, when `model` names one.
  public var catalogueModel: ModelName? { ModelName(rawValue: model) }

  /// The input side: `imageSize`, or the catalogue model's default.
  public func resolvedImageSize() throws -> Int {
    if let imageSize { return imageSize }
    guard let catalogueModel else {
      throw ConfigurationError(
        "--image-size", "must be given for the model \(model), which has no default")
    }
    return catalogueModel.defaultImageSize
  }

  /// Checks every setting; the error names the setting (as its flag) and the expected range.
  public func validate() throws {
    func check(_ ok: Bool, _ flag: String, _ expected: String, _ value: Any) throws {
      if !ok { throw ConfigurationError(flag, "must be \(expected), got \(value)") }
    }
    try check(!model.isEmpty, "--model", "a model name", "an empty name")
    try check(epochs >= 1 && epochs <= 1_000_000, "--epochs", "in 1...1000000", epochs)
    try check(batchSize >= 1 && batchSize <= 65_536, "--batch-size", "in 1...65536", batchSize)
    try check(
      validationSplit >= 0 && validationSplit < 1, "--validation-split", "in [0, 1)",
      validationSplit)
    if let imageSize {
      try check(imageSize >= 16 && imageSize <= 1024, "--image-size", "in 16...1024", imageSize)
    }
    if let testImageSize {
      try check(
        testImageSize >= 16 && testImageSize <= 1024, "--test-image-size", "in 16...1024",
        testImageSize)
    }
    try check(learningRate > 0 && learningRate.isFinite, "--lr", "a positive number", learningRate)
    try check(momentum >= 0 && momentum < 1, "--momentum", "in [0, 1)", momentum)
    try check(
      weightDecay >= 0 && weightDecay.isFinite, "--weight-decay", "a number ≥ 0", weightDecay)
    try check(lrPatience >= 0, "--lr-patience", "≥ 0", lrPatience)
    try check(lrFactor > 0 && lrFactor < 1, "--lr-factor", "in (0, 1)", lrFactor)
    try check(
      minLearningRate >= 0 && minLearningRate.isFinite, "--min-lr", "a number ≥ 0", minLearningRate)
    try check(patience >= 1, "--patience", "≥ 1", patience)
    for prefix in freeze ?? [] {
      try check(!prefix.isEmpty && prefix != ".", "--freeze", "a parameter-name prefix", "\"\"")
    }
    try check(
      labelSmoothing >= 0 && labelSmoothing < 1, "--label-smoothing", "in [0, 1)", labelSmoothing)
    try check(
      warmupEpochs >= 0 && warmupEpochs <= 1000, "--warmup-epochs", "in 0...1000", warmupEpochs)
    try check(lrStepSize >= 1, "--lr-step-size", "≥ 1", lrStepSize)
    try check(lrGamma > 0 && lrGamma <= 1, "--lr-gamma", "in (0, 1]", lrGamma)
    try check(
      clipGradNorm >= 0 && clipGradNorm.isFinite, "--clip-grad-norm", "a number ≥ 0 (0: off)",
      clipGradNorm)
    try check(mixup >= 0 && mixup <= 100, "--mixup", "in 0...100", mixup)
    if let timeLimit {
      try check(
        timeLimit > 0 && timeLimit.isFinite, "--time-limit", "a positive number of minutes",
        timeLimit)
    }
  }
}

/// A setting out of range, or in disagreement with a stored run: one line naming the setting.
public struct ConfigurationError: Error, CustomStringConvertible, LocalizedError, Sendable {
  /// The setting's flag, "--lr".
  public var setting: String
  public var description: String
  /// "--lr must be a positive number, got -1".
  public init(_ setting: String, _ reason: String) {
    (self.setting, description) = (setting, "\(setting) \(reason)")
  }
  init(setting: String, message: String) { (self.setting, description) = (setting, message) }
  public var errorDescription: String? { description }
}

// MARK: - Settings given explicitly

extension TrainingConfiguration {
  /// One setting given explicitly (a flag on the command line), as opposed to left at its default
  /// or at what a stored run recorded. Resuming checks that it agrees with the stored run.
  public struct Override {
    /// The setting's flag, "--optimizer".
    public let flag: String
    /// Whether a resumed run may change it (`--epochs` extends a run).
    public let mayChangeOnResume: Bool
    let apply: (inout TrainingConfiguration) -> Void
    let agrees: (TrainingConfiguration) -> Bool
    let stored: (TrainingConfiguration) -> String

    /// `value` for the setting at `keyPath`, shown as `show` shows it when a stored run disagrees.
    public static func set<Value: Equatable>(
      _ flag: String, _ keyPath: WritableKeyPath<TrainingConfiguration, Value>, to value: Value,
      mayChangeOnResume: Bool = false, show: @escaping (Value) -> String = { "\($0)" }
    ) -> Override {
      Override(
        flag: flag, mayChangeOnResume: mayChangeOnResume, apply: { $0[keyPath: keyPath] = value },
        agrees: { $0[keyPath: keyPath] == value }, stored: { show($0[keyPath: keyPath]) })
    }
  }

  /// This configuration with the overrides applied (a new run).
  public func applying(_ overrides: [Override]) -> TrainingConfiguration {
    overrides.reduce(into: self) { configuration, override in override.apply(&configuration) }
  }

  /// This stored run's configuration, continued with `overrides`: each must agree with what the
  /// run was trained with, except those a resumed run may change. The error is one line
  /// ("this run was trained with --optimizer adam").
  public func resuming(with overrides: [Override]) throws -> TrainingConfiguration {
    for override in overrides where !override.mayChangeOnResume && !override.agrees(self) {
      throw ConfigurationError(
        setting: override.flag,
        message: "this run was trained with \(override.flag) \(override.stored(self))")
    }
    return applying(overrides.filter(\.mayChangeOnResume))
  }
}
