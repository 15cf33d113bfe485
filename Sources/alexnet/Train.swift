import AlexNetKit
import ArgumentParser
import Foundation
import Synchronization

/// `alexnet train`: flags become a `TrainingConfiguration`, the library's `TrainingRun` trains,
/// and `TrainingPrinter` shows its events. Options are optional so that a flag given can be told
/// from a default: a resumed run takes what it was trained with, and a flag given again must agree.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a model on a folder of images (root/<class>/<image>).",
    discussion: """
      With no --data, trains the small model on the sample of Imagenette photographs bundled in \
      Samples/imagenette-mini, with settings that finish in a few minutes on two cores.
      The run directory receives config.json, a checkpoint per epoch (cp-0001.safetensors...), \
      best.safetensors, history.csv, curves.svg and metrics.json. A directory that is not empty \
      is refused unless --resume (continue its run, with its settings) or --overwrite is given.
      """)

  /// The defaults, from the one place they are written.
  static let defaults = TrainingConfiguration(data: "")

  @Option(help: "Image folder, one subfolder per class (default: the bundled sample).")
  var data: String?

  @Option(help: "A separate validation folder (instead of --validation-split).")
  var valData: String?

  @Option(
    help: ArgumentHelp(
      "Fraction of --data held out for validation (0 to disable; "
        + "default: \(defaults.validationSplit))."))
  var validationSplit: Double?

  @Option(
    help: ArgumentHelp(
      "Seed of the split, the weights, the shuffling and the augmentation "
        + "(default: \(defaults.seed))."))
  var seed: UInt64?

  @Option(
    help: ArgumentHelp(
      "Network: \(ModelName.allCases.map(\.rawValue).joined(separator: ", ")) "
        + "(default: \(defaults.model))."))
  var model: ModelName?

  @Option(
    help: ArgumentHelp(
      "Non-linearity of the catalogue model: relu or tanh (the paper's figure 1) "
        + "(default: \(defaults.activation.rawValue))."))
  var activation: Nonlinearity?

  @Option(help: "Input side in pixels (default: the model's own; 64 for the bundled sample).")
  var imageSize: Int?

  @Option(
    help: ArgumentHelp(
      "Centre crop side for validation and for the saved weights' evaluation and prediction "
        + "(default: --image-size). Larger than --image-size offsets the enlargement of "
        + "random-resized crops (FixRes)."))
  var testImageSize: Int?

  @Option(
    help: "Passes over the training set (default: \(defaults.epochs); 20 for the bundled sample).")
  var epochs: Int?

  @Option(help: "Images per step (default: \(defaults.batchSize)).")
  var batchSize: Int?

  @Option(
    help: "sgd (the paper's momentum rule) or adam (default: \(defaults.optimizer.rawValue)).")
  var optimizer: TrainingConfiguration.OptimizerKind?

  @Option(
    help: ArgumentHelp(
      "Initial learning rate (default: \(defaults.learningRate), times batch/"
        + "\(TrainingConfiguration.referenceBatchSize) for smaller batches)."))
  var lr: Float?

  @Option(help: "SGD momentum (default: \(defaults.momentum)).")
  var momentum: Float?

  @Option(
    help: ArgumentHelp(
      "Weight decay (L2, coupled as in the paper; decoupled for adam; "
        + "default: \(defaults.weightDecay))."))
  var weightDecay: Float?

  @Option(
    help: ArgumentHelp(
      "Epochs without val_loss improvement before the rate is divided "
        + "(default: \(defaults.lrPatience))."))
  var lrPatience: Int?

  @Option(help: "Factor applied to the rate on a plateau (default: \(defaults.lrFactor)).")
  var lrFactor: Float?

  @Option(help: "Floor of the learning rate (default: \(defaults.minLearningRate)).")
  var minLr: Float?

  @Option(
    help: ArgumentHelp(
      "Learning-rate schedule: plateau (divide by --lr-factor after --lr-patience epochs), "
        + "cosine, onecycle (--lr is the peak), step or constant; cosine and onecycle change the "
        + "rate every batch (default: \(defaults.schedule.rawValue))."))
  var schedule: RateSchedule.Kind?

  @Option(
    help: ArgumentHelp(
      "Linear warmup from ~0 to the schedule's rate over this many epochs, per batch "
        + "(default: \(defaults.warmupEpochs))."))
  var warmupEpochs: Double?

  @Option(help: "step schedule: epochs between rate cuts (default: \(defaults.lrStepSize)).")
  var lrStepSize: Int?

  @Option(help: "step schedule: factor of each cut (default: \(defaults.lrGamma)).")
  var lrGamma: Float?

  @Option(
    help: ArgumentHelp(
      "Clip the global L2 norm of the gradients to N, as torch.nn.utils.clip_grad_norm_; 0 "
        + "is off (default: \(defaults.clipGradNorm))."))
  var clipGradNorm: Float?

  @Option(
    help: ArgumentHelp(
      "Mixup α: images and labels of pairs in a batch mixed with λ ~ Beta(α, α); 0 is off "
        + "(default: \(defaults.mixup))."))
  var mixup: Float?

  @Flag(
    inversion: .prefixedNo,
    help: "End with the best epoch's weights (lowest val_loss), as Keras's restore_best_weights.")
  var restoreBest: Bool?

  @Option(
    help: ArgumentHelp(
      "Wall-clock budget in minutes: stop after the epoch when the next would not fit "
        + "(default: none)."))
  var timeLimit: Double?

  @Option(
    help: ArgumentHelp(
      "Early stopping: epochs without improvement of the monitored loss "
        + "(default: \(defaults.patience))."))
  var patience: Int?

  @Option(
    help: ArgumentHelp(
      "What early stopping watches: val_loss (the training loss when there is no validation "
        + "set) or loss (default: \(defaults.monitor.rawValue))."))
  var monitor: TrainingConfiguration.Monitor?

  @Option(
    help: ArgumentHelp(
      "Augmentations, comma-separated: crop, flip, brightness, pca, scale, or none "
        + "(default: \(defaults.augment.map(\.rawValue).joined(separator: ",")))."))
  var augment: String?

  @Option(help: "Label smoothing ε in [0, 1) (default: \(defaults.labelSmoothing)).")
  var labelSmoothing: Float?

  @Flag(
    inversion: .prefixedNo,
    help: "Weight the loss by inverse class frequency (for imbalanced folders).")
  var balanceClasses: Bool?

  @Option(
    help: ArgumentHelp(
      "Start from these weights with a fresh optimizer: a checkpoint, or a PyTorch state dict "
        + "saved as safetensors (a module. prefix is removed; a last layer for another class "
        + "count is replaced).",
      valueName: "file"))
  var initWeights: String?

  @Option(
    help: ArgumentHelp(
      "Do not train the parameters under this name prefix (repeatable), e.g. features.",
      valueName: "prefix"))
  var freeze: [String] = []

  @Option(help: "Run directory (default: runs/<model>-<date>).")
  var output: String?

  @Flag(help: "Continue the run in --output from its last checkpoint, with its settings.")
  var resume = false

  @Option(
    help: ArgumentHelp(
      "Continue the run in --output from this checkpoint (implies --resume).",
      valueName: "cp-NNNN.safetensors"))
  var resumeFrom: String?

  @Flag(
    help: "Replace the run in --output (its checkpoints, history and metrics are removed first).")
  var overwrite = false

  @Flag(
    help: ArgumentHelp(
      "Under mpirun: batch-norm statistics over the global batch (all processes), "
        + "as PyTorch's SyncBatchNorm; one process already has them."))
  var syncBatchNorm = false

  @Flag(
    help: ArgumentHelp(
      "Under mpirun: average gradients after the backward, not in buckets started during it "
        + "(the reference the overlapped scheme is checked against)."))
  var oneShotAllreduce = false

  @Option(
    help: "Under mpirun: megabytes of gradients per allreduce bucket (PyTorch DDP's 25).")
  var bucketMegabytes = 25

  @Flag(help: "Stop at the first unreadable image instead of skipping it.")
  var stopOnBadFile = false

  @Flag(
    help: ArgumentHelp(
      "Keep the decoded, resized images in memory after the first epoch (uint8: about "
        + "8,500 x 146x146x3 = 545 MB at --image-size 128); the batches stay the same."))
  var cacheImages = false

  @Flag(help: "No progress bar or per-epoch lines.")
  var quiet = false

  @Flag(help: "One JSON object per epoch on standard output, for scripts.")
  var jsonLog = false

  @Option(
    help: ArgumentHelp(
      "Also write TensorBoard event files into this directory (train/ and validation/, "
        + "as Keras's TensorBoard callback).",
      valueName: "dir"))
  var tensorboard: String?

  @Option(help: "With --tensorboard: also write batch scalars every N training steps.")
  var tensorboardEvery: Int?

  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    if let resumeFrom, !Self.isCheckpointName(resumeFrom) {
      throw ValidationError(
        "--resume-from must name a checkpoint of the run (cp-NNNN.safetensors), got \(resumeFrom)")
    }
    if resuming && overwrite {
      throw ValidationError("--resume and --overwrite exclude each other")
    }
    if let tensorboardEvery {
      guard tensorboard != nil else {
        throw ValidationError("--tensorboard-every needs --tensorboard DIR")
      }
      guard tensorboardEvery >= 1 else {
        throw ValidationError("--tensorboard-every must be at least 1, got \(tensorboardEvery)")
      }
    }
    if bucketMegabytes < 1 {
      throw ValidationError("--bucket-megabytes must be at least 1, got \(bucketMegabytes)")
    }
    if resuming && output == nil {
      throw ValidationError("--resume needs --output, the run directory to continue")
    }
    do { try Self.defaults.applying(try overrides(data: "")).validate() } catch let error
      as ConfigurationError
    {
      throw ValidationError(error.description)
    }
  }

  func run() throws { try compute.run(train) }

  /// --resume-from implies --resume.
  var resuming: Bool { resume || resumeFrom != nil }

  static func isCheckpointName(_ name: String) -> Bool {
    name.count == "cp-0000.safetensors".count && name.hasPrefix("cp-")
      && name.hasSuffix(".safetensors") && name.dropFirst(3).prefix(4).allSatisfy(\.isNumber)
  }

  func train() throws {
    if let world = MPIWorld.launched() { return try trainDistributed(world) }
    let mode: RunDirectory.Mode = resuming ? .resume : overwrite ? .overwrite : .new
    let directory = try RunDirectory(URL(fileURLWithPath: outputPath()), mode: mode)
    directory.resumeFrom = resumeFrom
    let configuration = try resolvedConfiguration(
      stored: resuming ? directory.storedRecord().configuration : nil)
    let printer = TrainingPrinter(quiet: quiet, jsonLog: jsonLog)
    let relay = TensorBoardRelay()
    let run = try TrainingRun(
      configuration, directory: directory, workers: compute.workers,
      stopOnBadFile: stopOnBadFile,
      onEvent: {
        printer.show($0)
        relay.record($0)
      })
    if cacheImages {
      for loader in [run.trainingLoader] + (run.validationLoader.map { [$0] } ?? []) {
        loader.cacheDecodedImages()
      }
    }
    try relay.open(tensorboard, everySteps: tensorboardEvery, after: run)
    try run.fit()
    try relay.finish()
  }

  /// One rank of `mpirun -np N alexnet train`: rank 0 opens (locks) the run directory, prints and
  /// writes; the others follow it. A failure while preparing stops every rank at the same point;
  /// a failure while training aborts the whole job (the other ranks would wait in an allreduce).
  func trainDistributed(_ world: MPIWorld) throws {
    guard let output else {
      if world.isRoot { printError("Error: --output must be given under mpirun (one directory)") }
      world.finalize()
      throw ExitCode(2)
    }
    let mode: RunDirectory.Mode = resuming ? .resume : overwrite ? .overwrite : .new
    let url = URL(fileURLWithPath: output)
    var directory: RunDirectory?
    var run: TrainingRun?
    var failure: Error?
    let relay = TensorBoardRelay()
    if world.isRoot {
      do { directory = try RunDirectory(url, mode: mode) } catch { failure = error }
    }
    if world.allSucceeded(failure == nil) {
      do {
        let opened = directory ?? RunDirectory(following: url, mode: mode)
        opened.resumeFrom = resumeFrom
        let configuration = try resolvedConfiguration(
          stored: resuming ? opened.storedRecord().configuration : nil, processes: world.size)
        let printer = TrainingPrinter(quiet: quiet, jsonLog: jsonLog)
        let dataParallel = DataParallel(
          world: world, bucketFloats: bucketMegabytes << 18, synchronizesBatchNorm: syncBatchNorm,
          overlapsCommunication: !oneShotAllreduce)
        run = try TrainingRun(
          configuration, directory: opened, workers: compute.workers,
          stopOnBadFile: stopOnBadFile, dataParallel: dataParallel,
          onEvent: {
            printer.show($0)
            relay.record($0)
          })
        if world.isRoot, let run {
          try relay.open(tensorboard, everySteps: tensorboardEvery, after: run)
        }
      } catch { failure = error }
    }
    guard world.allSucceeded(failure == nil), let run else {
      world.finalize()
      // Every rank fails alike; rank 0 alone says why.
      if let failure, world.isRoot { throw failure }
      throw ExitCode.failure
    }
    do { try run.fit() } catch {
      printError("Error: rank \(world.rank): \(error)")
      world.abort(code: 1)
    }
    world.finalize()
    try relay.finish()
  }

  /// A new run: the defaults (the bundled sample's when no --data) and the flags. A resumed run:
  /// what it was trained with, which the flags given must agree with (--epochs may extend it).
  /// Without --lr the rate is scaled to the batch of all `processes` together.
  func resolvedConfiguration(stored: TrainingConfiguration?, processes: Int = 1) throws
    -> TrainingConfiguration
  {
    if let stored { return try stored.resuming(with: try overrides(data: data.map(Self.absolute))) }
    let root = try SampleData.folder(data)
    var base = Self.defaults
    base.data = Self.absolute(root.path)
    if data == nil { (base.epochs, base.imageSize) = (20, 64) }
    var resolved = base.applying(try overrides(data: base.data))
    if lr == nil {
      resolved.learningRate = TrainingConfiguration.defaultLearningRate(
        batchSize: resolved.batchSize * processes)
    }
    return resolved
  }

  /// Every setting given as a flag (`data` is the resolved folder, or nil when not given).
  func overrides(data: String?) throws -> [TrainingConfiguration.Override] {
    typealias Setting = TrainingConfiguration.Override
    var given: [Setting?] = [
      data.map { .set("--data", \.data, to: $0) },
      valData.map {
        .set("--val-data", \.validationData, to: Self.absolute($0), show: { $0 ?? "(none)" })
      },
      validationSplit.map { .set("--validation-split", \.validationSplit, to: $0) },
      seed.map { .set("--seed", \.seed, to: $0) },
      model.map { .set("--model", \.model, to: $0.rawValue) },
      activation.map {
        .set("--activation", \.activation, to: $0, show: \.rawValue)
      },
      imageSize.map {
        .set("--image-size", \.imageSize, to: $0, show: { $0.map(String.init) ?? "(default)" })
      },
      testImageSize.map {
        .set(
          "--test-image-size", \.testImageSize, to: $0,
          show: { $0.map(String.init) ?? "(--image-size)" })
      },
      epochs.map { .set("--epochs", \.epochs, to: $0, mayChangeOnResume: true) },
      batchSize.map { .set("--batch-size", \.batchSize, to: $0) },
      optimizer.map { .set("--optimizer", \.optimizer, to: $0, show: \.rawValue) },
      lr.map { .set("--lr", \.learningRate, to: $0) },
      momentum.map { .set("--momentum", \.momentum, to: $0) },
      weightDecay.map { .set("--weight-decay", \.weightDecay, to: $0) },
      lrPatience.map { .set("--lr-patience", \.lrPatience, to: $0) },
      lrFactor.map { .set("--lr-factor", \.lrFactor, to: $0) },
      minLr.map { .set("--min-lr", \.minLearningRate, to: $0) },
      patience.map { .set("--patience", \.patience, to: $0) },
      monitor.map { .set("--monitor", \.monitor, to: $0, show: \.rawValue) },
      labelSmoothing.map { .set("--label-smoothing", \.labelSmoothing, to: $0) },
      balanceClasses.map { .set("--balance-classes", \.balanceClasses, to: $0) },
    ]
    given += scheduleOverrides()
    given += [
      initWeights.map {
        .set("--init-weights", \.initWeights, to: Self.absolute($0), show: { $0 ?? "(none)" })
      },
      freeze.isEmpty
        ? nil
        : .set(
          "--freeze", \.freeze, to: freeze, show: { $0?.joined(separator: ",") ?? "(none)" }),
    ]
    if let augment {
      let list = try Augmentation.list(augment)
      given.append(
        .set(
          "--augment", \.augment, to: list,
          show: { $0.isEmpty ? "none" : $0.map(\.rawValue).joined(separator: ",") }))
    }
    return given.compactMap { $0 }
  }

  /// The flags of the rate schedule and the training loop, given explicitly.
  func scheduleOverrides() -> [TrainingConfiguration.Override?] {
    [
      schedule.map { .set("--schedule", \.schedule, to: $0, show: \.rawValue) },
      warmupEpochs.map { .set("--warmup-epochs", \.warmupEpochs, to: $0) },
      lrStepSize.map { .set("--lr-step-size", \.lrStepSize, to: $0) },
      lrGamma.map { .set("--lr-gamma", \.lrGamma, to: $0) },
      clipGradNorm.map { .set("--clip-grad-norm", \.clipGradNorm, to: $0) },
      mixup.map { .set("--mixup", \.mixup, to: $0) },
      restoreBest.map { .set("--restore-best", \.restoreBest, to: $0) },
      timeLimit.map {
        .set(
          "--time-limit", \.timeLimit, to: $0, mayChangeOnResume: true,
          show: { $0.map { "\($0)" } ?? "(none)" })
      },
    ]
  }

  func outputPath() -> String {
    output ?? "runs/\(model?.rawValue ?? Self.defaults.model)-\(Self.timestamp())"
  }

  static func absolute(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
  }

  static func timestamp() -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    return formatter.string(from: Date())
  }
}

/// Passes a run's events to its TensorBoard log, which is opened only once the run is prepared
/// (so a refused run leaves no event file) but must see the events from the start of `fit`.
final class TensorBoardRelay: Sendable {
  let log = Mutex<TensorBoardLog?>(nil)

  func record(_ event: TrainingEvent) { log.withLock { $0 }?.record(event) }

  /// Opens `directory`'s log (nothing without one), counting steps from the run's completed
  /// epochs when it resumes.
  func open(_ directory: String?, everySteps: Int?, after run: TrainingRun) throws {
    guard let directory else { return }
    let opened = try TensorBoardLog(
      directory: URL(fileURLWithPath: directory), everySteps: everySteps,
      completedEpochs: run.trainer.completedEpochs)
    log.withLock { $0 = opened }
  }

  func finish() throws { try log.withLock { $0 }?.finish() }
}

extension TrainingConfiguration.OptimizerKind: ExpressibleByArgument {}
extension TrainingConfiguration.Monitor: ExpressibleByArgument {}
extension RateSchedule.Kind: ExpressibleByArgument {}
extension Nonlinearity: ExpressibleByArgument {}
