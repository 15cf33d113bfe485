import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet train`: fit a model to a folder of images, Keras-style.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a model on a folder of images (root/<class>/<image>).",
    discussion: """
      With no --data, trains the small model on the sample of Imagenette photographs bundled in
      Samples/imagenette-mini, with settings that finish in a few minutes on two cores.
      The run directory receives config.json, a checkpoint per epoch (cp-0001.safetensors...),
      best.safetensors, history.csv, curves.svg and metrics.json.
      """)

  @Option(help: "Image folder, one subfolder per class (default: the bundled sample).")
  var data: String?

  @Option(help: "A separate validation folder (instead of --validation-split).")
  var valData: String?

  @Option(help: "Fraction of --data held out for validation (0 to disable).")
  var validationSplit = 0.1

  @Option(help: "Seed of the split, the weights, the shuffling and the augmentation.")
  var seed: UInt64 = 123

  @Option(help: "Network: \(ModelName.allCases.map(\.rawValue).joined(separator: ", ")).")
  var model: ModelName = .small

  @Option(help: "Input side in pixels (default: the model's own; 64 for the bundled sample).")
  var imageSize: Int?

  @Option(help: "Passes over the training set (default 50; 20 for the bundled sample).")
  var epochs: Int?

  @Option(help: "Images per step.")
  var batchSize = 32

  @Option(help: "sgd (the paper's momentum rule) or adam.")
  var optimizer: OptimizerName = .sgd

  @Option(help: "Initial learning rate.")
  var lr: Float = 0.01

  @Option(help: "SGD momentum.")
  var momentum: Float = 0.9

  @Option(help: "Weight decay (L2, coupled as in the paper; decoupled for adam).")
  var weightDecay: Float = 0.0005

  @Option(help: "Epochs without val_loss improvement before the rate is divided.")
  var lrPatience = 10

  @Option(help: "Factor applied to the rate on a plateau.")
  var lrFactor: Float = 0.1

  @Option(help: "Floor of the learning rate.")
  var minLr: Float = 1e-6

  @Option(help: "Early stopping: epochs without improvement of the monitored loss.")
  var patience = 10

  @Option(help: "What early stopping watches: loss (as the tutorial) or val_loss.")
  var monitor: Monitor = .loss

  @Option(help: "Augmentations, comma-separated: crop, flip, brightness, pca (or none).")
  var augment = "crop,flip"

  @Option(help: "Label smoothing ε in [0, 1).")
  var labelSmoothing: Float = 0

  @Flag(help: "Weight the loss by inverse class frequency (for imbalanced folders).")
  var balanceClasses = false

  @Option(help: "Run directory (default: runs/<model>-<date>).")
  var output: String?

  @Flag(help: "Continue from the last checkpoint in --output.")
  var resume = false

  @Flag(help: "Stop at the first unreadable image instead of skipping it.")
  var stopOnBadFile = false

  @Flag(help: "No progress bar or per-epoch lines.")
  var quiet = false

  @Flag(help: "One JSON object per epoch on standard output, for scripts.")
  var jsonLog = false

  @OptionGroup var compute: ComputeOptions

  enum OptimizerName: String, ExpressibleByArgument, CaseIterable { case sgd, adam }
  enum Monitor: String, ExpressibleByArgument, CaseIterable {
    case loss
    case valLoss = "val_loss"
  }

  var usesSample: Bool { data == nil }

  func validate() throws {
    if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
    guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
    guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative, got \(weightDecay)") }
    guard validationSplit >= 0, validationSplit < 1 else {
      throw ValidationError("--validation-split must be in [0, 1), got \(validationSplit)")
    }
    guard lrFactor > 0, lrFactor < 1 else { throw ValidationError("--lr-factor must be in (0, 1), got \(lrFactor)") }
    guard lrPatience >= 0, patience >= 1 else { throw ValidationError("--lr-patience must be ≥ 0 and --patience ≥ 1") }
    guard labelSmoothing >= 0, labelSmoothing < 1 else {
      throw ValidationError("--label-smoothing must be in [0, 1), got \(labelSmoothing)")
    }
    if let imageSize, imageSize < 16 { throw ValidationError("--image-size must be at least 16, got \(imageSize)") }
    _ = try augmentations()
  }

  func augmentations() throws -> Set<String> {
    let names = Set(augment.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
      .subtracting(["", "none"])
    let unknown = names.subtracting(["crop", "flip", "brightness", "pca"])
    guard unknown.isEmpty else {
      throw ValidationError("--augment: unknown \(unknown.sorted().joined(separator: ", ")); expected crop, flip, brightness, pca or none")
    }
    return names
  }

  func run() throws { try CommandError.reporting(train) }

  func train() throws {
    compute.apply()
    let root = try dataRoot()
    let side = imageSize ?? (usesSample ? 64 : model.defaultImageSize)
    let epochCount = epochs ?? (usesSample ? 20 : 50)
    let say = { (line: String) in if !quiet && !jsonLog { print(line) } }

    // Data: the split, then statistics from the training images.
    let split = valData == nil && validationSplit > 0
    let training = try ImageFolder(root: root, validationSplit: split ? validationSplit : nil, subset: split ? .training : .all, seed: seed)
    training.report.forEach(say)
    let validation: ImageFolder? = try valData.map {
      try ImageFolder(root: URL(fileURLWithPath: $0), classNames: training.classNames)
    } ?? (split ? ImageFolder(root: root, validationSplit: validationSplit, subset: .validation, seed: seed) : nil)
    if let validation, valData == nil { say(validation.report.last ?? "") }
    let network = ModelCatalog.make(model, classes: training.classNames.count, seed: seed)
    do { _ = try network.outputShape(for: [1, 3, side, side]) } catch {
      throw CommandError("\(model.rawValue) does not accept \(side)x\(side) images: \(error.message)")
    }
    guard training.samples.count >= batchSize || usesSample else {
      throw CommandError("\(root.path): \(training.samples.count) training images, fewer than one batch of \(batchSize)")
    }
    let resizeSide = Int((Double(side) * 256 / 224).rounded())
    let statistics = try measureStatistics(training.samples, resizeSide: resizeSide, side: side)
    let chosen = try augmentations()
    var trainTransforms: [ImageTransform] = [.resizeShorterSide(resizeSide), chosen.contains("crop") ? .randomCrop(side) : .centerCrop(side)]
    if chosen.contains("flip") { trainTransforms.append(.randomHorizontalFlip) }
    if chosen.contains("brightness") { trainTransforms.append(.randomBrightness(delta: 0.2)) }
    let evalPipeline = Preprocessing(resizeSide: resizeSide, side: side, normalization: statistics.normalization).pipeline
    let trainPipeline = ImagePipeline(transforms: trainTransforms, side: side, normalization: statistics.normalization,
                                      colorPCA: chosen.contains("pca") ? statistics.pca : nil)
    let trainLoader = BatchLoader(samples: training.samples, pipeline: trainPipeline, batchSize: batchSize, seed: seed,
                                  workers: compute.workers, stopOnBadFile: stopOnBadFile)
    let validationLoader = validation.map {
      BatchLoader(samples: $0.samples, pipeline: evalPipeline, batchSize: batchSize, shuffle: false, seed: seed,
                  workers: compute.workers, stopOnBadFile: stopOnBadFile)
    }
    for loader in [trainLoader] + (validationLoader.map { [$0] } ?? []) {
      loader.onBadFile = { path, reason in printError("warning: skipped \(path): \(reason)") }
    }

    // Output directory and configuration.
    let directory = URL(fileURLWithPath: output ?? "runs/\(model.rawValue)-\(Self.timestamp())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let configuration = RunConfiguration(
      model: model.rawValue, data: root.path, validationData: valData, validationSplit: split ? validationSplit : nil,
      seed: seed, imageSize: side, resizeSide: resizeSide, epochs: epochCount, batchSize: batchSize,
      optimizer: optimizer.rawValue, learningRate: lr, momentum: momentum, weightDecay: weightDecay,
      lrPatience: lrPatience, lrFactor: lrFactor, minLearningRate: minLr, patience: patience, monitor: monitor.rawValue,
      augment: chosen.sorted(), labelSmoothing: labelSmoothing, balanceClasses: balanceClasses,
      classNames: training.classNames, trainingImages: training.samples.count, validationImages: validation?.samples.count ?? 0,
      normalization: statistics.normalization, colorPCA: statistics.pca,
      threads: Parallel.threadCount, blasCore: BLASRuntime.configuration.coreName)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let configurationJSON = String(decoding: try encoder.encode(configuration), as: UTF8.self)
    try AtomicFile.write(configurationJSON + "\n", to: directory.appendingPathComponent("config.json"))

    let optimizerObject: any Optimizer = optimizer == .sgd
      ? SGD(learningRate: lr, momentum: momentum, weightDecay: weightDecay)
      : Adam(learningRate: lr, weightDecay: weightDecay)
    let trainer = Trainer(
      model: network, modelIdentifier: model.rawValue, classNames: training.classNames,
      optimizer: optimizerObject,
      schedule: ReduceOnPlateau(factor: lrFactor, patience: lrPatience, minRate: minLr),
      earlyStopping: EarlyStopping(patience: patience), earlyStoppingMonitor: monitor.rawValue,
      labelSmoothing: labelSmoothing,
      classWeights: balanceClasses ? ClassWeighting.balanced.weights(counts: training.classCounts) : nil,
      outputDirectory: directory)
    trainer.checkpointRecords["configuration"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
    if resume {
      guard let last = Self.lastCheckpoint(in: directory) else {
        throw CommandError("\(directory.path): --resume found no cp-NNNN.safetensors to continue from")
      }
      try trainer.resume(from: Checkpoint(contentsOf: last), source: last.path)
      say("Resuming from \(last.lastPathComponent) (epoch \(trainer.completedEpochs)).")
    }

    let progress = ProgressLine(enabled: !quiet && !jsonLog && isatty(STDERR_FILENO) != 0)
    trainer.onBatch = { index, count, loss, accuracy, rate in
      let remaining = Double(max(0, trainLoader.samples.count - index * batchSize)) / max(rate, 1e-9)
      progress.update("\(index)/\(count) " + ProgressLine.bar(Double(index) / Double(max(count, 1)))
        + String(format: " - ETA %@ - %.0f img/s - loss: %.4f - accuracy: %.4f", ProgressLine.duration(remaining), rate,
                 loss, accuracy))
    }
    trainer.onEpoch = { record in
      progress.clear()
      if jsonLog {
        print(String(decoding: (try? JSONEncoder().encode(record)) ?? Data(), as: UTF8.self))
      } else if !quiet {
        print(EpochLine.text(record, of: epochCount, batches: trainLoader.batchCount))
      }
    }
    say("Training \(model.rawValue) (\(network.parameterCount.formatted()) parameters) on \(training.samples.count) images "
        + "of \(training.classNames.count) classes at \(side)x\(side), \(epochCount) epochs; run directory \(directory.path)")
    try trainer.fit(training: trainLoader, validation: validationLoader, epochs: epochCount)

    // Final metrics with the last weights.
    let final = try validationLoader.map { try evaluate(network, loader: $0, classCount: training.classNames.count) }
    let summary = RunSummary(epochs: trainer.completedEpochs, history: trainer.history.records,
                             validation: final.map(EvaluationReport.init), badFiles: trainLoader.badFiles.map(\.path))
    try AtomicFile.write(String(decoding: try encoder.encode(summary), as: UTF8.self) + "\n",
                         to: directory.appendingPathComponent("metrics.json"))
    if !trainLoader.badFiles.isEmpty { printError("warning: \(trainLoader.badFiles.count) unreadable images were skipped") }
    if let final {
      say(String(format: "Validation: loss %.4f, top-1 %.2f%%, top-5 %.2f%% on %d images", final.loss,
                 final.top1Accuracy * 100, final.top5Accuracy * 100, final.samples))
    }
    say("Results in \(directory.path): config.json, \(Checkpoint.fileName(epoch: trainer.completedEpochs)), best.safetensors, "
        + "history.csv, curves.svg, metrics.json")
  }

  func dataRoot() throws -> URL { try SampleData.folder(data) }

  /// Per-channel mean and standard deviation (the tutorial's calculate_mean_std) and the PCA of
  /// the colours, from up to 500 training images at the input scale.
  func measureStatistics(_ samples: [ImageFolder.Sample], resizeSide: Int, side: Int) throws -> (normalization: Normalization, pca: ColorPCA) {
    var generator = SeededGenerator(seed: seed)
    let chosen = samples.count <= 500 ? samples : Array(samples.shuffled(using: &generator).prefix(500))
    var images: [RGBImage] = []
    for sample in chosen {
      if let image = try? ImageDecoder.decode(contentsOf: sample.url) {
        images.append(image.resized(shorterSide: resizeSide).centerCropped(side: side))
      }
    }
    guard !images.isEmpty else { throw CommandError("no readable images among the training files") }
    return (Normalization.measured(over: images), try ColorPCA.fitted(to: images, pixelStride: 7))
  }

  static func timestamp() -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    return formatter.string(from: Date())
  }

  static func lastCheckpoint(in directory: URL) -> URL? {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasPrefix("cp-") && $0.hasSuffix(".safetensors") }.sorted().last
      .map { directory.appendingPathComponent($0) }
  }
}

/// Every setting of a run and the data statistics, as config.json.
struct RunConfiguration: Codable {
  var model: String, data: String, validationData: String?, validationSplit: Double?
  var seed: UInt64, imageSize: Int, resizeSide: Int, epochs: Int, batchSize: Int
  var optimizer: String, learningRate: Float, momentum: Float, weightDecay: Float
  var lrPatience: Int, lrFactor: Float, minLearningRate: Float, patience: Int, monitor: String
  var augment: [String], labelSmoothing: Float, balanceClasses: Bool
  var classNames: [String], trainingImages: Int, validationImages: Int
  var normalization: Normalization, colorPCA: ColorPCA
  var threads: Int, blasCore: String
}

struct EvaluationReport: Codable {
  var loss: Float, top1: Float, top5: Float, samples: Int
  var perClassAccuracy: [Float?]
  var confusionMatrix: [[Int]]
  init(_ metrics: ClassificationMetrics) {
    (loss, top1, top5, samples) = (metrics.loss, metrics.top1Accuracy, metrics.top5Accuracy, metrics.samples)
    perClassAccuracy = metrics.perClassAccuracy.map { $0.isNaN ? nil : $0 }
    confusionMatrix = metrics.confusion
  }
}

struct RunSummary: Codable {
  var epochs: Int
  var history: [EpochRecord]
  var validation: EvaluationReport?
  var badFiles: [String]
}

/// Keras's per-epoch line: `Epoch 3/50 - 231/231 - 19s - loss: ... - learning_rate: ...`.
enum EpochLine {
  static func text(_ r: EpochRecord, of epochs: Int, batches: Int) -> String {
    var parts = ["Epoch \(r.epoch)/\(epochs)", "\(batches)/\(batches)", String(format: "%.0fs", r.seconds),
                 String(format: "loss: %.4f", r.loss), String(format: "accuracy: %.4f", r.accuracy),
                 String(format: "top5: %.4f", r.top5)]
    if let l = r.validationLoss, let a = r.validationAccuracy, let t = r.validationTop5 {
      parts += [String(format: "val_loss: %.4f", l), String(format: "val_accuracy: %.4f", a), String(format: "val_top5: %.4f", t)]
    }
    parts.append(String(format: "learning_rate: %.4g", r.learningRate))
    return parts.joined(separator: " - ")
  }
}

/// A progress line redrawn in place on a terminal (standard error), silent elsewhere.
final class ProgressLine {
  let enabled: Bool
  init(enabled: Bool) { self.enabled = enabled }
  func update(_ text: String) { if enabled { FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8)) } }
  func clear() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
  /// "1:05" or "12s".
  static func duration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    return whole >= 60 ? String(format: "%d:%02d", whole / 60, whole % 60) : "\(whole)s"
  }

  static func bar(_ fraction: Double, width: Int = 30) -> String {
    let filled = Int((fraction * Double(width)).rounded())
    return "[" + String(repeating: "=", count: filled) + String(repeating: ".", count: width - filled) + "]"
  }
}

/// The sample dataset in the repository, found from the working directory or beside the binary.
enum SampleData {
  /// The folder given, or else the bundled sample.
  static func folder(_ given: String?) throws -> URL {
    if let given { return URL(fileURLWithPath: given) }
    if let location { return location }
    throw CommandError("no --data given and the bundled sample (Samples/imagenette-mini) was not found; "
                       + "run from the repository or pass --data DIR")
  }

  static var location: URL? {
    var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
    var binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<5 {
      candidates.append(binary)
      binary = binary.deletingLastPathComponent()
    }
    return candidates.map { $0.appendingPathComponent("Samples/imagenette-mini") }
      .first { FileManager.default.fileExists(atPath: $0.path) }
  }
}
