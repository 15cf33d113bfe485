import Foundation

/// A training run's scalars as TensorBoard event files, laid out as Keras's `TensorBoard`
/// callback lays them out, so TensorBoard overlays training and validation in one chart:
///
/// - `DIR/train`: `epoch_loss`, `epoch_accuracy`, `epoch_top5`, `epoch_learning_rate` and
///   `epoch_images_per_second` at step = epoch; with `everySteps: N`, also `batch_loss`,
///   `batch_accuracy` (running means over the epoch so far) and `batch_images_per_second` every
///   N training steps, at step = global step (counting from the run's first epoch).
/// - `DIR/validation`: `epoch_loss`, `epoch_accuracy`, `epoch_top5` at step = epoch.
///
/// Feed it a `TrainingRun`'s events (`record`), then call `finish()`. A resumed run writes new
/// event files beside the old ones and continues their steps. A write error is kept and thrown
/// by `finish()`, so it never interrupts the training itself.
public final class TensorBoardLog: @unchecked Sendable {
  public let directory: URL
  /// Per-step scalars every this many steps; nil for per-epoch scalars only.
  public let everySteps: Int?
  // Events may come from the loader's and the trainer's threads; one lock guards all state.
  private let lock = NSLock()
  private var training: EventFileWriter
  private var validation: EventFileWriter?
  private var completedEpochs = 0
  private var lastImagesPerSecond = 0.0
  private var failure: (any Error)?

  /// Creates `directory/train` and its first event file (errors here are the caller's to show
  /// before training starts). `completedEpochs`: where a resumed run starts counting steps.
  public init(directory: URL, everySteps: Int? = nil, completedEpochs: Int = 0) throws {
    precondition(everySteps.map { $0 >= 1 } ?? true, "everySteps must be positive")
    (self.directory, self.everySteps) = (directory, everySteps)
    self.completedEpochs = completedEpochs
    training = try EventFileWriter(directory: directory.appendingPathComponent("train"))
  }

  /// The event files written so far.
  public var files: [URL] {
    lock.withLock { [training.url] + (validation.map { [$0.url] } ?? []) }
  }

  public func record(_ event: TrainingEvent) {
    lock.withLock {
      do { try handle(event) } catch { if failure == nil { failure = error } }
    }
  }

  private func handle(_ event: TrainingEvent) throws {
    switch event {
    case .resumed(_, let epoch): completedEpochs = epoch
    case .batch(let index, let count, let loss, let accuracy, let rate, _):
      lastImagesPerSecond = rate
      guard let everySteps, index % everySteps == 0 else { return }
      try training.addScalars(
        [
          ("batch_loss", loss), ("batch_accuracy", accuracy),
          ("batch_images_per_second", Float(rate)),
        ], step: completedEpochs * count + index)
    case .epoch(let record, _, _):
      completedEpochs = record.epoch
      try epochEnded(record)
    default: return
    }
  }

  private func epochEnded(_ record: EpochRecord) throws {
    try training.addScalars(
      [
        ("epoch_loss", record.loss), ("epoch_accuracy", record.accuracy),
        ("epoch_top5", record.top5), ("epoch_learning_rate", record.learningRate),
        ("epoch_images_per_second", Float(lastImagesPerSecond)),
      ], step: record.epoch)
    guard let loss = record.validationLoss, let accuracy = record.validationAccuracy,
      let top5 = record.validationTop5
    else { return }
    if validation == nil {
      validation = try EventFileWriter(directory: directory.appendingPathComponent("validation"))
    }
    try validation?.addScalars(
      [("epoch_loss", loss), ("epoch_accuracy", accuracy), ("epoch_top5", top5)],
      step: record.epoch)
  }

  /// Closes the files; throws the first error met while writing, if any.
  public func finish() throws {
    try lock.withLock {
      try training.close()
      try validation?.close()
      if let failure { throw failure }
    }
  }
}
