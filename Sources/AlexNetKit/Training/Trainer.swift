import Foundation

/// How the loss treats classes.
public enum ClassWeighting: Sendable, Codable, Equatable {
  case none
  /// n / (classes · count_c), scikit-learn's and Keras's "balanced".
  case balanced
  case given([Float])

  /// Per-class weights for the given class counts (nil: unweighted).
  public func weights(counts: [Int]) -> [Float]? {
    switch self {
    case .none: return nil
    case .given(let weights): return weights
    case .balanced:
      let total = Float(counts.reduce(0, +))
      let classes = Float(counts.count)
      return counts.map { $0 == 0 ? 0 : total / (classes * Float($0)) }
    }
  }
}

/// The training loop: epochs of shuffled batches in training mode, a validation pass in eval mode,
/// the schedule, early stopping, a checkpoint every epoch (and the best by validation loss), the
/// history as CSV and SVG, all in `outputDirectory`.
///
/// The model is any `Layer` (a catalogue model or a network of one's own); `modelIdentifier` names
/// it in the checkpoints ("small" for the catalogue's, anything for one's own), and resuming
/// refuses a checkpoint with another identifier. Batches come from any `BatchSource`.
///
/// A step has three visible phases, `computeGradients`, `reduceGradients` and `applyUpdate`, so
/// that data-parallel training can average gradients across processes between the first and last.
public final class Trainer {
  public let model: any Layer
  /// Recorded in every checkpoint: a `ModelName`'s raw value for catalogue models.
  public let modelIdentifier: String
  /// JSON from which the model's author rebuilds it, recorded in every checkpoint (nil for the
  /// catalogue, whose models the identifier and class count fix).
  public var modelConfiguration: String?
  public let classNames: [String]
  public let optimizer: any Optimizer
  /// The plateau rule, used when `rateSchedule` is `.plateau`.
  public var schedule: ReduceOnPlateau
  /// The rate at every step; nil starts a plateau schedule at the optimizer's rate.
  public var rateSchedule: RateSchedule?
  /// Wall-clock budget of one `fit` call: no epoch starts that would end after it, judged by the
  /// last epoch's duration (nil: no limit).
  public var timeLimit: Duration?
  /// A line for the user (the time limit was reached...).
  public var onNote: ((String) -> Void)?
  public var earlyStopping: EarlyStopping?
  /// "loss" or "val_loss", the quantity early stopping watches.
  public var earlyStoppingMonitor: String
  public var labelSmoothing: Float
  public var classWeights: [Float]?
  public let outputDirectory: URL?
  /// JSON records stored in every checkpoint (configuration, normalisation...).
  public var checkpointRecords: [String: String] = [:]
  public private(set) var history = History()
  public private(set) var completedEpochs = 0
  /// Between-processes reduction of gradients (phase 2); identity for a single process.
  public var gradientReducer: (([(name: String, variable: Variable)]) -> Void)?
  /// Data-parallel training across MPI processes: gradients averaged over the global batch,
  /// metrics summed over the ranks. Set it with loaders sharded the same way (`BatchLoader.shard`).
  public var dataParallel: DataParallel? { didSet { dataParallel?.prepare(model) } }

  /// Progress within an epoch: (batch index, batch count, running loss, running accuracy, images/s).
  public var onBatch: ((Int, Int, Float, Float, Double) -> Void)?
  /// The record of each finished epoch.
  public var onEpoch: ((EpochRecord) -> Void)?

  public init(
    model: any Layer, modelIdentifier: String, modelConfiguration: String? = nil,
    classNames: [String], optimizer: any Optimizer, schedule: ReduceOnPlateau = ReduceOnPlateau(),
    earlyStopping: EarlyStopping? = nil, earlyStoppingMonitor: String = "loss",
    labelSmoothing: Float = 0, classWeights: [Float]? = nil, outputDirectory: URL?
  ) {
    (self.model, self.modelIdentifier, self.classNames) = (model, modelIdentifier, classNames)
    (self.modelConfiguration, self.optimizer) = (modelConfiguration, optimizer)
    (self.schedule, self.earlyStopping, self.earlyStoppingMonitor) = (
      schedule, earlyStopping, earlyStoppingMonitor
    )
    (self.labelSmoothing, self.classWeights, self.outputDirectory) = (
      labelSmoothing, classWeights, outputDirectory
    )
  }

  // MARK: - The step

  /// Phase 1: forward and backward on a batch; returns the loss and the logits. With
  /// `sampleKeys` (one per image, `sampleKey(epoch:position:)`), every dropout layer draws each
  /// image's mask from its key, so a rank's shard is masked as in one process.
  public func computeGradients(images: Tensor, labels: [Int], sampleKeys: [UInt64]? = nil) -> (
    loss: Float, logits: Tensor
  ) {
    let dropouts = model.namedLayers.compactMap { $0.layer as? Dropout }
    for dropout in dropouts { dropout.sampleKeys = sampleKeys }
    defer { for dropout in dropouts { dropout.sampleKeys = nil } }
    model.zeroGradients()
    let targets = oneHotTargets(
      labels: labels, classes: classNames.count, labelSmoothing: labelSmoothing)
    let logits = model(Variable(images))
    let (loss, _) = logits.softmaxCrossEntropy(
      targets: targets, weights: classWeights.map { w in labels.map { w[$0] } })
    let value = loss.value.scalar
    let scores = logits.value
    guard let dataParallel else {
      loss.backward()
      return (value, scores)
    }
    // Gradient buckets are averaged across processes while the backward goes on.
    dataParallel.beginStep(model.unfrozenParameters, localSamples: labels.count)
    loss.backward(onGradientFinished: dataParallel.gradientFinished)
    return (value, scores)
  }

  /// The key of the image at `position` of epoch `epoch`'s order (epochs from 0), from which
  /// its dropout masks are drawn.
  public static func sampleKey(epoch: Int, position: Int) -> UInt64 {
    UInt64(epoch) << 40 ^ UInt64(position)
  }

  /// Phase 2: averages gradients across processes (nothing to do in one process);
  /// `localSamples` is this process's batch size, which weights its gradients.
  public func reduceGradients(localSamples: Int = 0) {
    if let dataParallel {
      dataParallel.finishStep(model.unfrozenParameters, localSamples: localSamples)
    } else {
      gradientReducer?(model.unfrozenParameters)
    }
  }

  /// Phase 3: the optimizer's update, of the parameters not frozen (a frozen one gets no weight
  /// decay either).
  public func applyUpdate() { optimizer.step(model.unfrozenParameters) }

  // MARK: - Epochs

  /// Trains until `epochs` (counting epochs already completed, so a resumed run continues to the
  /// same end), until early stopping, or until the next epoch would overrun `timeLimit`. The rate
  /// follows `rateSchedule` at every step. Returns the history.
  @discardableResult
  public func fit(
    training: any BatchSource, validation: (any BatchSource)?, epochs: Int
  ) throws -> History {
    var rates = rateSchedule ?? RateSchedule(.plateau, baseRate: optimizer.learningRate)
    (rates.stepsPerEpoch, rates.totalSteps) = (training.batchCount, epochs * training.batchCount)
    rateSchedule = rates
    let clock = ContinuousClock()
    let started = clock.now
    while completedEpochs < epochs {
      let epoch = completedEpochs + 1
      let record = try trainEpoch(epoch, training: training, validation: validation)
      history.records.append(record)
      completedEpochs = epoch
      advanceSchedule(after: record, batches: training.batchCount)
      let monitored =
        earlyStoppingMonitor == "val_loss" ? (record.validationLoss ?? record.loss) : record.loss
      let stop = earlyStopping?.shouldStop(afterEpoch: epoch, value: monitored) ?? false
      try saveEpoch(record)
      onEpoch?(record)
      if stop { break }
      if completedEpochs < epochs, let timeLimit {
        let used = (clock.now - started).seconds
        // The next epoch is assumed to take as long as the last one did.
        if used + record.seconds > timeLimit.seconds {
          onNote?(
            "Stopping after epoch \(epoch): another epoch (about \(Int(record.seconds.rounded())) s) "
              + "would not fit in the time limit of \(Self.minutes(timeLimit)) "
              + "(\(Int(used.rounded())) s used)")
          break
        }
      }
    }
    return history
  }

  /// One pass over the training batches at the schedule's rates, then the validation pass.
  func trainEpoch(
    _ epoch: Int, training: any BatchSource, validation: (any BatchSource)?
  ) throws -> EpochRecord {
    let clock = ContinuousClock()
    let started = clock.now
    model.train()
    var metrics = ClassificationMetrics(classCount: classNames.count)
    var seen = 0
    var rate = optimizer.learningRate
    try training.forEachBatch(epoch: epoch - 1) { index, batch in
      if let rateSchedule {
        rate = rateSchedule.rate(atStep: (epoch - 1) * training.batchCount + index)
        optimizer.learningRate = rate
      }
      if batch.labels.isEmpty {
        // An empty shard still takes part in the step, which the other ranks wait for.
        guard let dataParallel else { return }
        dataParallel.takePartInBatchNormWithoutImages(model)
        model.zeroGradients()
        reduceGradients(localSamples: 0)
        applyUpdate()
        return
      }
      let keys =
        batch.positions.isEmpty
        ? nil : batch.positions.map { Self.sampleKey(epoch: epoch - 1, position: $0) }
      let (loss, logits) = computeGradients(
        images: batch.images, labels: batch.labels, sampleKeys: keys)
      reduceGradients(localSamples: batch.labels.count)
      applyUpdate()
      metrics.add(scores: logits, labels: batch.labels, meanLoss: loss)
      seen += batch.labels.count
      let elapsed = (clock.now - started).seconds
      onBatch?(
        index + 1, training.batchCount, metrics.loss, metrics.top1Accuracy,
        Double(seen) / max(elapsed, 1e-9))
    }
    if let dataParallel {
      metrics = dataParallel.reduce(metrics)
      dataParallel.broadcastBuffers(of: model)
    }
    let validationMetrics = try validation.map { try evaluate(loader: $0) }
    return EpochRecord(
      epoch: epoch, loss: metrics.loss, accuracy: metrics.top1Accuracy,
      top5: metrics.top5Accuracy,
      validationLoss: validationMetrics?.loss,
      validationAccuracy: validationMetrics?.top1Accuracy,
      validationTop5: validationMetrics?.top5Accuracy, learningRate: rate,
      seconds: (clock.now - started).seconds)
  }

  /// Between epochs: the plateau rule lowers its level (the other schedules are closed forms of
  /// the step), and the optimizer takes the next step's rate, which the checkpoint records.
  func advanceSchedule(after record: EpochRecord, batches: Int) {
    guard var rates = rateSchedule else { return }
    if rates.kind == .plateau {
      rates.level = schedule.rate(
        afterEpoch: record.epoch, metric: record.validationLoss ?? record.loss,
        current: rates.level)
    }
    rateSchedule = rates
    optimizer.learningRate = rates.rate(atStep: record.epoch * batches)
  }

  static func minutes(_ duration: Duration) -> String {
    let minutes = duration.seconds / 60
    return minutes == minutes.rounded() ? "\(Int(minutes)) min" : String(format: "%.1f min", minutes)
  }

  /// `evaluate` on this process's shard of `loader`, with the metrics of all ranks summed.
  public func evaluate(loader: any BatchSource) throws -> ClassificationMetrics {
    let local = try AlexNetKit.evaluate(model, loader: loader, classCount: classNames.count)
    return dataParallel?.reduce(local) ?? local
  }

  func saveEpoch(_ record: EpochRecord) throws {
    guard let directory = outputDirectory else { return }
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    var targets = [directory.appendingPathComponent(Checkpoint.fileName(epoch: record.epoch))]
    if history.best?.epoch == record.epoch {
      targets.append(directory.appendingPathComponent("best.safetensors"))
    }
    try makeCheckpoint().write(to: targets)
    try AtomicFile.write(history.csv, to: directory.appendingPathComponent("history.csv"))
    try AtomicFile.write(history.svg, to: directory.appendingPathComponent("curves.svg"))
  }

  /// The complete state after the epochs completed so far. A record that cannot be encoded is an
  /// error, never an empty record (a checkpoint must resume or not be written).
  public func makeCheckpoint() throws -> Checkpoint {
    let encoder = JSONEncoder.runRecords(pretty: false)  // a NaN loss is "nan"
    func json<T: Encodable>(_ value: T) throws -> String {
      String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    var records = checkpointRecords
    records["schedule"] = try json(schedule)
    if let rateSchedule { records["rate_schedule"] = try json(rateSchedule) }
    if let earlyStopping { records["early_stopping"] = try json(earlyStopping) }
    records["dropout"] = try json(dropoutStates().mapValues { $0.map(String.init) })
    records["history"] = try json(history)
    return Checkpoint(
      model: modelIdentifier, modelConfiguration: modelConfiguration, classNames: classNames,
      epoch: completedEpochs, learningRate: optimizer.learningRate, weights: model.stateDict,
      optimizerState: optimizer.state, records: records)
  }

  /// Restores everything a checkpoint holds, so training continues as if it had never stopped.
  public func resume(from checkpoint: Checkpoint, source: String) throws {
    try checkpoint.checkCompatible(
      model: modelIdentifier, classes: classNames.count, source: source)
    do { try model.loadState(checkpoint.weights) } catch {
      throw FileError(source, error.description)
    }
    do { try optimizer.loadState(checkpoint.optimizerState) } catch {
      throw FileError(source, error.description)
    }
    optimizer.learningRate = checkpoint.learningRate
    completedEpochs = checkpoint.epoch
    let decoder = JSONDecoder.runRecords
    func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T? {
      guard let text = checkpoint.records[key] else { return nil }
      do { return try decoder.decode(type, from: Data(text.utf8)) } catch {
        throw FileError(source, "has an unreadable \(key) record")
      }
    }
    if let restored = try decode(ReduceOnPlateau.self, "schedule") { schedule = restored }
    if let restored = try decode(RateSchedule.self, "rate_schedule") {
      rateSchedule = restored
    } else if rateSchedule?.kind == .plateau {
      // A checkpoint from before per-step schedules: its rate is the plateau's level.
      rateSchedule?.level = checkpoint.learningRate
    }
    if let restored = try decode(EarlyStopping.self, "early_stopping") { earlyStopping = restored }
    if let restored = try decode(History.self, "history") { history = restored }
    if let states = try decode([String: [String]].self, "dropout") {
      for (name, layer) in model.namedLayers {
        guard let dropout = layer as? Dropout, let words = states[name]?.compactMap(UInt64.init),
          let generator = SeededGenerator(state: Array(words.prefix(4)))
        else { continue }
        dropout.generator = generator
        // A fifth word is the layer's seed, from which per-sample masks are drawn (checkpoints
        // written before per-sample masks have four).
        if words.count == 5 { dropout.seed = words[4] }
      }
    }
  }

  /// Every dropout layer's generator state and seed, by the layer's name in the tree.
  func dropoutStates() -> [String: [UInt64]] {
    var states: [String: [UInt64]] = [:]
    for (name, layer) in model.namedLayers {
      if let dropout = layer as? Dropout { states[name] = dropout.generator.state + [dropout.seed] }
    }
    return states
  }
}

/// Loss, top-1/top-5, per-class accuracy and confusion matrix of any model over a batch source, in
/// eval mode and without recording a graph.
public func evaluate(
  _ model: any Layer, loader: any BatchSource, classCount: Int,
  epoch: Int = 0
) throws -> ClassificationMetrics {
  try model.inInferenceMode {
    var metrics = ClassificationMetrics(classCount: classCount)
    try loader.forEachBatch(epoch: epoch) { _, batch in
      guard !batch.labels.isEmpty else { return }
      let logits = withGradientsDisabled { model(Variable(batch.images)) }.value
      let loss = softmaxCrossEntropy(
        logits: logits, targets: oneHotTargets(labels: batch.labels, classes: classCount)
      ).loss
      metrics.add(scores: logits, labels: batch.labels, meanLoss: loss)
    }
    return metrics
  }
}

extension Duration {
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
