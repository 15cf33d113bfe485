import AlexNetKit
import Foundation

/// Shows a training run's events as `alexnet train` prints them: Keras's lines on standard
/// output (or one JSON object per epoch with --json-log), a progress bar on a terminal's standard
/// error, warnings on standard error.
final class TrainingPrinter: Sendable {
  let quiet: Bool, jsonLog: Bool
  let progress: ProgressLine

  init(quiet: Bool, jsonLog: Bool) {
    (self.quiet, self.jsonLog) = (quiet, jsonLog)
    progress = ProgressLine(enabled: !quiet && !jsonLog && isatty(STDERR_FILENO) != 0)
  }

  func say(_ line: String) { if !quiet && !jsonLog { print(line) } }

  func show(_ event: TrainingEvent) {
    switch event {
    case .note(let line): say(line)
    case .resumed(let checkpoint, let epoch): say("Resuming from \(checkpoint) (epoch \(epoch)).")
    case .started(let start):
      say(
        "Training \(start.model) (\(start.parameters.formatted()) parameters) "
          + "on \(start.trainingImages) images "
          + "of \(start.classes) classes at \(start.side)x\(start.side), \(start.epochs) epochs; "
          + "run directory \(start.directory.relativePath)")
      if start.processes > 1 {
        say(
          "Data-parallel over \(start.processes) processes: global batch \(start.globalBatchSize) "
            + "(\(start.globalBatchSize / start.processes) per process).")
      }
    case .batch(let index, let count, let loss, let accuracy, let rate, let remaining):
      progress.update(
        "\(index)/\(count) " + ProgressLine.bar(Double(index) / Double(max(count, 1)))
          + String(
            format: " - ETA %@ - %.0f img/s - loss: %.4f - accuracy: %.4f",
            ProgressLine.duration(Double(remaining) / max(rate, 1e-9)), rate, loss, accuracy))
    case .epoch(let record, let epochs, let batches):
      epochEnded(record, of: epochs, batches: batches)
    case .badFile(let path, let reason): printError("warning: skipped \(path): \(reason)")
    case .finished(let summary, let checkpoint): finished(summary, lastCheckpoint: checkpoint)
    }
  }

  func epochEnded(_ record: EpochRecord, of epochs: Int, batches: Int) {
    progress.clear()
    if jsonLog {
      // Non-finite numbers become strings ("nan"), so a diverged epoch still prints its line.
      let line = (try? JSONEncoder.runRecords(pretty: false).encode(record)).map {
        String(decoding: $0, as: UTF8.self)
      }
      print(line ?? "{\"epoch\": \(record.epoch)}")
    } else if !quiet {
      print(EpochLine.text(record, of: epochs, batches: batches))
    }
  }

  func finished(_ summary: RunSummary, lastCheckpoint: URL) {
    if !summary.badFiles.isEmpty {
      printError("warning: \(summary.badFiles.count) unreadable images were skipped")
    }
    if let final = summary.validation {
      say(
        String(
          format: "Validation: loss %.4f, top-1 %.2f%%, top-5 %.2f%% on %d images", final.loss,
          final.top1 * 100, final.top5 * 100, final.samples))
    }
    let directory = lastCheckpoint.deletingLastPathComponent().relativePath
    say(
      "Results in \(directory): config.json, \(lastCheckpoint.lastPathComponent), "
        + "best.safetensors, "
        + "history.csv, curves.svg, metrics.json")
  }
}

/// Keras's per-epoch line: `Epoch 3/50 - 231/231 - 19s - loss: ... - learning_rate: ...`.
enum EpochLine {
  static func text(_ r: EpochRecord, of epochs: Int, batches: Int) -> String {
    var parts = [
      "Epoch \(r.epoch)/\(epochs)", "\(batches)/\(batches)", String(format: "%.0fs", r.seconds),
      String(format: "loss: %.4f", r.loss), String(format: "accuracy: %.4f", r.accuracy),
      String(format: "top5: %.4f", r.top5),
    ]
    if let l = r.validationLoss, let a = r.validationAccuracy, let t = r.validationTop5 {
      parts += [
        String(format: "val_loss: %.4f", l), String(format: "val_accuracy: %.4f", a),
        String(format: "val_top5: %.4f", t),
      ]
    }
    parts.append(String(format: "learning_rate: %.4g", r.learningRate))
    return parts.joined(separator: " - ")
  }
}

/// A progress line redrawn in place on a terminal (standard error), silent elsewhere.
final class ProgressLine: Sendable {
  let enabled: Bool
  init(enabled: Bool) { self.enabled = enabled }
  func update(_ text: String) {
    if enabled { FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8)) }
  }
  func clear() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
  /// "1:05" or "12s".
  static func duration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    return whole >= 60 ? String(format: "%d:%02d", whole / 60, whole % 60) : "\(whole)s"
  }

  static func bar(_ fraction: Double, width: Int = 30) -> String {
    let filled = Int((fraction * Double(width)).rounded())
    return "[" + String(repeating: "=", count: filled)
      + String(repeating: ".", count: width - filled) + "]"
  }
}
