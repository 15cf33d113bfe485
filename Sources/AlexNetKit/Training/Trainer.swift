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
  /// Clip the global gradient norm to this (nil: no clipping).
  public var clipGradientNorm: Float?
  /// When the divergence guard stops a run: after `nonFinite` non-finite steps in a row, or when
  /// an epoch's running loss passes `explosion`·ln(classes) after the first epoch.
  public var guardLimits = (nonFinite: 5, explosion: Float(10))
  /// Mixup's α (0: off), and the generator of its λ and pairings (checkpointed).
  public var mixupAlpha: Float = 0
  public var mixupGenerator = SeededGenerator(seed: 0)
  /// At the end of `fit`, load the weights of the best epoch (lowest validation loss, or training
  /// loss without validation), as Keras's `restore_best_weights`.
  public var restoreBest = false
  var bestWeights: [(name: String, tensor: Tensor)]?
  /// Steps skipped for a non-finite loss or gradient, over the run so far.
  public private(set) var skippedSteps = 0
  var nonFiniteInARow = 0
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
    var targets = oneHotTargets(
      labels: labels, classes: classNames.count, labelSmoothing: labelSmoothing)
    var (input, weights) = (images, classWeights.map { w in labels.map { w[$0] } })
    if mixupAlpha > 0 && labels.count > 1 {
      let lambda = Mixup.sampleBeta(mixupAlpha, using: &mixupGenerator)
      let permutation = Array(labels.indices).shuffled(using: &mixupGenerator)
      (input, targets, weights) = Mixup.mix(
        images: images, targets: targets, weights: weights, lambda: lambda,
        permutation: permutation)
    }
    let logits = model(Variable(input))
    let (loss, _) = logits.softmaxCrossEntropy(targets: targets, weights: weights)
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
      let skippedBefore = skippedSteps
      let record = try trainEpoch(epoch, training: training, validation: validation)
      history.records.append(record)
      if skippedSteps > skippedBefore {
        onNote?(
          "Epoch \(epoch): skipped \(skippedSteps - skippedBefore) steps with a non-finite loss "
            + "or gradient")
      }
      if restoreBest && bestRecord?.epoch == epoch { bestWeights = model.stateDict }
      completedEpochs = epoch
      advanceSchedule(after: record, batches: training.batchCount)
      let monitored =
        earlyStoppingMonitor == "val_loss" ? (record.validationLoss ?? record.loss) : record.loss
      let stop = earlyStopping?.shouldStop(afterEpoch: epoch, value: monitored) ?? false
      try checkWeightsAreFinite(epoch: epoch, batches: training.batchCount)
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
    try restoreBestWeights()
    return history
  }

  /// A finite gradient times a huge rate can still overflow a weight; such weights are never
  /// saved: the run stops before the epoch's checkpoint, naming the first tensor.
  func checkWeightsAreFinite(epoch: Int, batches: Int) throws {
    for (name, variable) in model.namedParameters {
      let finite = variable.value.withUnsafeBufferPointer { $0.allSatisfy(\.isFinite) }
      guard finite else {
        throw TrainingDiverged(
          epoch: epoch, batch: batches, batches: batches,
          reason: "\(name) is no longer finite", learningRate: optimizer.learningRate)
      }
    }
  }

  /// The sound epoch with the lowest validation loss (training loss without validation).
  var bestRecord: EpochRecord? {
    history.records.filter(isSound).min {
      ($0.validationLoss ?? $0.loss) < ($1.validationLoss ?? $1.loss)
    }
  }

  /// An epoch that may become best.safetensors: finite losses, and a training loss below the
  /// explosion limit.
  func isSound(_ record: EpochRecord) -> Bool {
    let limit =
      classNames.count > 1 ? guardLimits.explosion * Float.log(Float(classNames.count)) : .infinity
    return record.loss.isFinite && record.loss <= limit && (record.validationLoss?.isFinite ?? true)
  }

  /// `restoreBest`: the best epoch's weights, kept in memory, or from best.safetensors when the
  /// best epoch came before a resume.
  func restoreBestWeights() throws {
    guard restoreBest, let best = bestRecord, best.epoch != completedEpochs else { return }
    if let bestWeights {
      try model.loadState(bestWeights)
    } else if let directory = outputDirectory {
      let url = directory.appendingPathComponent("best.safetensors")
      do { try model.loadState(Checkpoint(contentsOf: url).weights) } catch {
        throw FileError(url.path, "cannot restore the best weights: \(error)")
      }
    } else {
      return
    }
    onNote?("Restored the weights of epoch \(best.epoch), the best (--restore-best)")
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
      let place = (epoch: epoch, batch: index + 1, of: training.batchCount)
      guard let (loss, logits) = try guardedStep(batch, at: place) else { return }
      metrics.add(scores: logits, labels: batch.labels, meanLoss: loss)
      try checkExplosion(runningLoss: metrics.loss, at: place)
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

  /// The three phases with the divergence guard between the last two: a step whose loss or
  /// gradient is not finite is skipped (counted in `skippedSteps`), and `guardLimits.nonFinite`
  /// such steps in a row stop the run; the global gradient norm is clipped to
  /// `clipGradientNorm`. Returns nil for a skipped step.
  func guardedStep(
    _ batch: Batch, at place: (epoch: Int, batch: Int, of: Int)
  ) throws -> (loss: Float, logits: Tensor)? {
    // Batch norm updates its running statistics in the forward pass; a skipped step puts them
    // back, so one bad batch cannot poison inference.
    let buffers = model.namedBuffers.map(\.variable.value)
    let keys =
      batch.positions.isEmpty
      ? nil : batch.positions.map { Self.sampleKey(epoch: place.epoch - 1, position: $0) }
    let (loss, logits) = computeGradients(
      images: batch.images, labels: batch.labels, sampleKeys: keys)
    reduceGradients(localSamples: batch.labels.count)
    let norm = gradientNorm()
    // After the reduction every rank sees the same norm; a rank's own loss alone must not make
    // it skip a step that the others take.
    guard norm.isFinite, loss.isFinite || dataParallel != nil else {
      for (entry, value) in zip(model.namedBuffers, buffers) { entry.variable.value = value }
      skippedSteps += 1
      nonFiniteInARow += 1
      if nonFiniteInARow >= guardLimits.nonFinite {
        throw TrainingDiverged(
          epoch: place.epoch, batch: place.batch, batches: place.of,
          reason: "\(nonFiniteInARow) steps in a row had a non-finite loss or gradient",
          learningRate: optimizer.learningRate)
      }
      return nil
    }
    nonFiniteInARow = 0
    clipGradients(norm: norm)
    applyUpdate()
    return (loss, logits)
  }

  /// After the first epoch, a running loss above `guardLimits.explosion`·ln(classes) stops the run.
  func checkExplosion(runningLoss: Float, at place: (epoch: Int, batch: Int, of: Int)) throws {
    guard place.epoch > 1, classNames.count > 1 else { return }
    let limit = guardLimits.explosion * Float.log(Float(classNames.count))
    guard runningLoss > limit || !runningLoss.isFinite else { return }
    throw TrainingDiverged(
      epoch: place.epoch, batch: place.batch, batches: place.of,
      reason: "the running loss \(runningLoss) is above "
        + "\(Int(guardLimits.explosion))·ln(\(classNames.count)) = \(limit)",
      learningRate: optimizer.learningRate)
  }

  /// The global L2 norm of all parameter gradients (torch.nn.utils.clip_grad_norm_'s), in Double.
  public func gradientNorm() -> Double {
    var sum = 0.0
    for (_, parameter) in model.namedParameters {
      parameter.grad?.withUnsafeBufferPointer { g in
        var partial: Float = 0
        for value in g { partial += value * value }
        sum += Double(partial)
      }
    }
    return sum.squareRoot()
  }

  /// torch.nn.utils.clip_grad_norm_: above `clipGradientNorm`, every gradient is scaled by
  /// max / (norm + 1e-6); `norm` is `gradientNorm()`.
  func clipGradients(norm: Double) {
    guard let clip = clipGradientNorm, norm > Double(clip) else { return }
    scaleGradients(by: Float(Double(clip) / (norm + 1e-6)))
  }

  func scaleGradients(by factor: Float) {
    for (_, parameter) in model.namedParameters {
      parameter.grad?.withUnsafeMutableBufferPointer { g in
        for i in g.indices { g[i] *= factor }
      }
    }
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
    return minutes == minutes.rounded()
      ? "\(Int(minutes)) min" : String(format: "%.1f min", minutes)
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
    if bestRecord?.epoch == record.epoch {
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
    if mixupAlpha > 0 { records["mixup"] = try json(mixupGenerator.state.map(String.init)) }
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
    if let words = try decode([String].self, "mixup")?.compactMap(UInt64.init),
      let generator = SeededGenerator(state: words)
    {
      mixupGenerator = generator
    }
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

/// The divergence guard stopped a run: one line naming the place, the reason and what to try.
public struct TrainingDiverged: Error, CustomStringConvertible, LocalizedError, Sendable {
  public var epoch: Int, batch: Int, batches: Int
  public var reason: String
  public var learningRate: Float
  public var description: String {
    "training diverged in epoch \(epoch), batch \(batch) of \(batches): \(reason); "
      + "try a lower --lr (the rate was \(learningRate)) or --clip-grad-norm 1"
  }
  public var errorDescription: String? { description }
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
