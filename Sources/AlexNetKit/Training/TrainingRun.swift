import Foundation

/// What a run reports while it prepares and trains; drawing it is the caller's business.
public enum TrainingEvent: Sendable {
  /// A line about the data, in Keras's words ("Found 400 files belonging to 10 classes.").
  case note(String)
  /// Training continues from a checkpoint (its file name) after `epoch` epochs.
  case resumed(checkpoint: String, epoch: Int)
  /// The first epoch is about to start.
  case started(TrainingStart)
  /// A batch finished: its 1-based index of `count`, the running loss and accuracy, images/s,
  /// and the training images still to come this epoch.
  case batch(
    index: Int, count: Int, loss: Float, accuracy: Float, imagesPerSecond: Double, remaining: Int)
  /// An epoch finished (`epochs` is the run's total, `batches` per epoch).
  case epoch(EpochRecord, epochs: Int, batches: Int)
  /// An image could not be read and was skipped.
  case badFile(path: String, reason: String)
  /// The run ended; metrics.json holds the same summary.
  case finished(RunSummary, lastCheckpoint: URL)
}

/// What a run is about to do, for the line that announces it.
public struct TrainingStart: Sendable {
  public var model: String, parameters: Int, trainingImages: Int, classes: Int, side: Int,
    epochs: Int
  public var directory: URL
  /// Images per step over all processes (`--batch-size` times `processes`).
  public var globalBatchSize = 0, processes = 1
}

/// A training run made from a `TrainingConfiguration`: the split, the data statistics, the
/// preprocessing and augmentations, the model, the optimizer, the schedule, early stopping and the
/// run directory, everything `alexnet train` does, in two calls:
///
/// ```swift
/// let run = try TrainingRun(configuration, directory: RunDirectory(url), onEvent: { print($0) })
/// let summary = try run.fit()
/// ```
///
/// Resuming (a directory opened with `.resume`) takes the statistics and class names from
/// config.json and loads the last checkpoint here, before anything is written.
public final class TrainingRun {
  public let configuration: TrainingConfiguration
  public let directory: RunDirectory
  /// config.json's content.
  public let record: RunRecord
  public let model: any Layer
  public let trainer: Trainer
  public let trainingLoader: BatchLoader
  public let validationLoader: BatchLoader?
  let onEvent: @Sendable (TrainingEvent) -> Void

  public var classNames: [String] { record.classNames }
  /// How evaluation, prediction, features and preview see an image for this run.
  public var preprocessing: Preprocessing { record.preprocessing }

  /// Prepares the run (reads the data, measures it, builds the model and, when resuming, loads
  /// the checkpoint); writes nothing. `network` builds the model for a class count instead of the
  /// catalogue (its parameter names must stay the same from run to run, for resuming); the
  /// checkpoints record it under `configuration.model`.
  ///
  /// With `dataParallel`, this process is one rank of a data-parallel job: `batchSize` is per
  /// process, the loaders are sharded by rank, and only rank 0 reports events (`directory` is a
  /// follower's on the other ranks, which write nothing). Sizes whose estimate exceeds
  /// `memoryBudget` (default `MemoryBudget.system()`) are refused before the model is built.
  public init(
    _ configuration: TrainingConfiguration, directory: RunDirectory, workers: Int = 1,
    stopOnBadFile: Bool = false, network: ((_ classes: Int) -> any Layer)? = nil,
    dataParallel: DataParallel? = nil, memoryBudget: MemoryBudget? = nil,
    onEvent givenOnEvent: @escaping @Sendable (TrainingEvent) -> Void = { _ in }
  ) throws {
    let silent: @Sendable (TrainingEvent) -> Void = { _ in }
    let onEvent = (dataParallel?.world.isRoot ?? true) ? givenOnEvent : silent
    try configuration.validate()
    let stored = directory.mode == .resume ? try directory.storedRecord() : nil
    let data = try TrainingData(configuration, onEvent: onEvent)
    if let stored { try data.checkClasses(stored, directory: directory) }
    let side = try configuration.resolvedImageSize()
    let budget = try memoryBudget ?? MemoryBudget.system()
    let (batch, classes) = (configuration.batchSize, data.classNames.count)
    let flags = MemoryEstimate.Flags(
      imageSize: "--image-size", batch: "--batch-size", classes: "class folders of --data:")
    try budget.checkBeforeBuilding(
      network == nil ? configuration.catalogueModel : nil, classes: classes, side: side,
      batch: batch, mode: .training, flags: flags)
    model = try Self.makeModel(configuration, classes: classes, side: side, network: network)
    try budget.check(
      model, side: side, batch: batch, resizeSide: Preprocessing.resizeSide(for: side),
      mode: .training, flags: flags)
    if let test = configuration.testImageSize {
      try budget.check(
        model, side: test, batch: batch, resizeSide: Preprocessing.resizeSide(for: test),
        mode: .inference,
        flags: MemoryEstimate.Flags(imageSize: "--test-image-size", batch: "--batch-size"))
    }
    try data.checkBatchSize()
    try Self.prepareTransfer(configuration, model: model, resuming: stored != nil, onEvent: onEvent)
    try data.checkValidationSplit()
    let statistics =
      try stored.map { ($0.normalization, $0.colorPCA) } ?? data.measureStatistics(side: side)
    record = try RunRecord(
      configuration: configuration, classNames: data.classNames,
      trainingImages: data.training.samples.count,
      validationImages: data.validation?.samples.count ?? 0,
      normalization: statistics.0, colorPCA: statistics.1)
    (self.configuration, self.directory, self.onEvent) = (record.configuration, directory, onEvent)
    (trainingLoader, validationLoader) = data.loaders(
      record, workers: workers, stopOnBadFile: stopOnBadFile)
    for loader in [trainingLoader] + (validationLoader.map { [$0] } ?? []) {
      loader.onBadFile = { path, reason in onEvent(.badFile(path: path, reason: reason)) }
      if let world = dataParallel?.world { loader.shard = (world.rank, world.size) }
    }
    trainer = try Self.makeTrainer(record, model: model, data: data, directory: directory)
    trainer.dataParallel = dataParallel
    trainer.rateSchedule = configuration.rateSchedule(stepsPerEpoch: trainingLoader.batchCount)
    trainer.timeLimit = configuration.timeLimit.map { .milliseconds(Int64($0 * 60_000)) }
    trainer.clipGradientNorm = configuration.clipGradNorm > 0 ? configuration.clipGradNorm : nil
    (trainer.mixupAlpha, trainer.restoreBest) = (configuration.mixup, configuration.restoreBest)
    trainer.mixupGenerator = SeededGenerator(seed: configuration.seed &+ 0x6d69_7875)  // "mixu"
    if directory.mode == .resume {
      let (url, checkpoint) = try directory.lastCheckpoint()
      try checkpoint.checkBelongs(to: record, source: url.path)
      try trainer.resume(from: checkpoint, source: url.path)
      onEvent(.resumed(checkpoint: url.lastPathComponent, epoch: trainer.completedEpochs))
    }
  }

  /// Trains to `configuration.epochs` (or early stopping), writing config.json, a checkpoint per
  /// epoch, best.safetensors, the history and curves; then evaluates the last weights on the
  /// validation images and writes metrics.json.
  @discardableResult
  public func fit() throws -> RunSummary {
    try directory.begin(record)
    let processes = trainer.dataParallel?.world.size ?? 1
    let batchSize = configuration.batchSize * processes
    let total = trainingLoader.samples.count
    let onEvent = self.onEvent
    let batches = trainingLoader.batchCount
    let epochs = configuration.epochs
    trainer.onBatch = { index, count, loss, accuracy, rate in
      onEvent(
        .batch(
          index: index, count: count, loss: loss, accuracy: accuracy,
          imagesPerSecond: rate * Double(processes),
          remaining: max(0, total - index * batchSize)))
    }
    trainer.onEpoch = { record in onEvent(.epoch(record, epochs: epochs, batches: batches)) }
    trainer.onNote = { onEvent(.note($0)) }
    onEvent(
      .started(
        TrainingStart(
          model: configuration.model, parameters: model.parameterCount, trainingImages: total,
          classes: classNames.count, side: try configuration.resolvedImageSize(), epochs: epochs,
          directory: directory.url, globalBatchSize: batchSize, processes: processes)))
    try trainer.fit(training: trainingLoader, validation: validationLoader, epochs: epochs)
    let final = try validationLoader.map { try trainer.evaluate(loader: $0) }
    let summary = RunSummary(
      epochs: trainer.completedEpochs, history: trainer.history.records,
      validation: final.map(EvaluationReport.init),
      badFiles: trainingLoader.badFiles.map(\.path))
    try directory.writeMetrics(summary)
    onEvent(
      .finished(summary, lastCheckpoint: directory.checkpointURL(epoch: trainer.completedEpochs)))
    return summary
  }

  static func makeModel(
    _ configuration: TrainingConfiguration, classes: Int, side: Int,
    network: ((Int) -> any Layer)?
  ) throws -> any Layer {
    let made: any Layer
    if let network {
      guard configuration.activation == .relu else {
        throw ConfigurationError(
          "--activation", "applies to catalogue models only, not to \(configuration.model)")
      }
      made = network(classes)
    } else {
      guard let name = configuration.catalogueModel else {
        let known = ModelName.allCases.map(\.rawValue).joined(separator: ", ")
        throw ConfigurationError("--model", "must be one of \(known), got \(configuration.model)")
      }
      made = ModelCatalog.make(
        name, classes: classes, seed: configuration.seed,
        activation: configuration.activation)
    }
    do { _ = try made.outputShape(for: [1, 3, side, side]) } catch {
      throw ConfigurationError(
        "--image-size",
        "\(side): \(configuration.model) does not accept \(side)x\(side) images: "
          + error.description
      )
    }
    return made
  }

  /// A new run with `initWeights` starts from them (a resumed one from its checkpoint instead);
  /// every run freezes `freeze`. Says what it did in notes.
  static func prepareTransfer(
    _ configuration: TrainingConfiguration, model: any Layer, resuming: Bool,
    onEvent: (TrainingEvent) -> Void
  ) throws {
    if let path = configuration.initWeights, !resuming {
      let report = try WeightLoading.load(
        contentsOf: URL(fileURLWithPath: path), into: model,
        modelIdentifier: configuration.model)
      for line in report.lines(source: path) { onEvent(.note(line)) }
    }
    let prefixes = configuration.freeze ?? []
    guard !prefixes.isEmpty else { return }
    let frozen = Set(try model.freeze(prefixes))
    let count = model.namedParameters.filter { frozen.contains($0.name) }
      .reduce(0) { $0 + $1.variable.value.count }
    onEvent(
      .note(
        "Frozen: \(prefixes.joined(separator: ", ")) (\(frozen.count) tensors, "
          + "\(count.formatted()) parameters); training "
          + "\((model.trainableParameterCount - count).formatted())"))
  }

  static func makeTrainer(
    _ record: RunRecord, model: any Layer, data: TrainingData,
    directory: RunDirectory
  ) throws -> Trainer {
    let c = record.configuration
    let optimizer: any Optimizer =
      c.optimizer == .sgd
      ? SGD(learningRate: c.learningRate, momentum: c.momentum, weightDecay: c.weightDecay)
      : Adam(learningRate: c.learningRate, weightDecay: c.weightDecay)
    let trainer = Trainer(
      model: model, modelIdentifier: c.model,
      modelConfiguration: c.catalogueModel.map { _ in
        CatalogueConfiguration(activation: c.activation).json
      },
      classNames: record.classNames, optimizer: optimizer,
      schedule: ReduceOnPlateau(
        factor: c.lrFactor, patience: c.lrPatience, minRate: c.minLearningRate),
      earlyStopping: EarlyStopping(patience: c.patience), earlyStoppingMonitor: c.monitor.rawValue,
      labelSmoothing: c.labelSmoothing,
      classWeights: c.balanceClasses
        ? ClassWeighting.balanced.weights(counts: data.training.classCounts) : nil,
      outputDirectory: directory.isFollower ? nil : directory.url)
    let json = try JSONEncoder.runRecords(pretty: false).encode(record)
    trainer.checkpointRecords["configuration"] = String(decoding: json, as: UTF8.self)
    return trainer
  }
}

/// The images of a run: the training folder or split, and the validation folder or split.
struct TrainingData {
  let configuration: TrainingConfiguration
  let training: ImageFolder
  let validation: ImageFolder?
  var classNames: [String] { training.classNames }

  init(_ configuration: TrainingConfiguration, onEvent: (TrainingEvent) -> Void) throws {
    self.configuration = configuration
    let root = URL(fileURLWithPath: configuration.data)
    let split = configuration.effectiveValidationSplit
    let seed = configuration.seed
    training = try ImageFolder(
      root: root, validationSplit: split, subset: split == nil ? .all : .training, seed: seed)
    for line in training.report { onEvent(.note(line)) }
    if let folder = configuration.validationData {
      validation = try ImageFolder(
        root: URL(fileURLWithPath: folder), classNames: training.classNames)
    } else if let split {
      let held = try ImageFolder(
        root: root, validationSplit: split, subset: .validation, seed: seed)
      held.report.last.map { onEvent(.note($0)) }
      validation = held
    } else {
      validation = nil
    }
  }

  /// A run needs at least one full batch of training images.
  func checkBatchSize() throws {
    guard training.samples.count >= configuration.batchSize else {
      throw FileError(
        configuration.data,
        "\(training.samples.count) training images, fewer than one batch of "
          + "\(configuration.batchSize)")
    }
  }

  /// An empty validation split would end the run after its first epoch with NaN metrics.
  func checkValidationSplit() throws {
    guard let split = configuration.effectiveValidationSplit, let validation,
      validation.samples.isEmpty
    else { return }
    throw ConfigurationError(
      "--validation-split",
      "\(split) of \(configuration.data) leaves no validation images (of "
        + "\(training.samples.count)); give a larger split or 0")
  }

  /// A resumed run must see the classes it was trained on, in the same order.
  func checkClasses(_ stored: RunRecord, directory: RunDirectory) throws {
    guard stored.classNames != classNames else { return }
    let shown =
      stored.classNames.prefix(4).joined(separator: ", ")
      + (stored.classNames.count > 4 ? ", ..." : "")
    throw FileError(
      directory.configurationURL,
      "this run was trained on \(stored.classNames.count) classes "
        + "(\(shown)); \(configuration.data) has \(classNames.count) that differ")
  }

  /// Per-channel mean and standard deviation (the tutorial's calculate_mean_std) and the PCA of
  /// the colours, from up to 500 training images (a seeded choice) at the input scale.
  func measureStatistics(side: Int) throws -> (Normalization, ColorPCA) {
    var generator = SeededGenerator(seed: configuration.seed)
    let samples = training.samples
    let chosen =
      samples.count <= 500 ? samples : Array(samples.shuffled(using: &generator).prefix(500))
    let resizeSide = Preprocessing.resizeSide(for: side)
    var images: [RGBImage] = []
    for sample in chosen {
      // An unreadable image is reported by the loader when training reaches it.
      guard let image = try? ImageDecoder.decode(contentsOf: sample.url) else { continue }
      images.append(image.resized(shorterSide: resizeSide).centerCropped(side: side))
    }
    guard !images.isEmpty else {
      throw FileError(configuration.data, "no readable images among the training files")
    }
    return (Normalization.measured(over: images), try ColorPCA.fitted(to: images, pixelStride: 7))
  }

  /// The training loader (augmented, shuffled) and the validation loader (centre views, in order).
  func loaders(_ record: RunRecord, workers: Int, stopOnBadFile: Bool) -> (
    BatchLoader, BatchLoader?
  ) {
    let c = record.configuration
    let side = c.imageSize ?? record.preprocessing.side
    let pipeline = ImagePipeline(
      transforms: Augmentation.transforms(c.augment, side: side), side: side,
      normalization: record.normalization,
      colorPCA: c.augment.contains(.pca) ? record.colorPCA : nil)
    let training = BatchLoader(
      samples: self.training.samples, pipeline: pipeline, batchSize: c.batchSize,
      seed: c.seed, workers: workers, stopOnBadFile: stopOnBadFile)
    let validation = self.validation.map {
      BatchLoader(
        samples: $0.samples, pipeline: record.preprocessing.pipeline, batchSize: c.batchSize,
        shuffle: false, seed: c.seed, workers: workers, stopOnBadFile: stopOnBadFile)
    }
    return (training, validation)
  }
}
