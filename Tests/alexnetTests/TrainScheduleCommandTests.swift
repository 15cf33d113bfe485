import AlexNetKit
import ArgumentParser
import Foundation
import Testing

@testable import alexnet

/// `alexnet train`'s schedule, warmup and time-limit flags.
@Suite struct TrainScheduleCommandTests {
  @Test func scheduleFlagsBecomeTheConfiguration() throws {
    let given = try Train.parse([
      "--data", "x", "--schedule", "step", "--warmup-epochs", "0.5", "--lr-step-size", "4",
      "--lr-gamma", "0.3", "--time-limit", "45",
    ]).resolvedConfiguration(stored: nil)
    #expect(given.schedule == .step && given.warmupEpochs == 0.5)
    #expect(given.lrStepSize == 4 && given.lrGamma == 0.3 && given.timeLimit == 45)
    let defaults = try Train.parse(["--data", "x"]).resolvedConfiguration(stored: nil)
    #expect(defaults.timeLimit == nil && defaults.schedule == Train.defaults.schedule)
    for kind in RateSchedule.Kind.allCases {
      #expect(try Train.parse(["--schedule", kind.rawValue]).schedule == kind)
    }
    for bad in [
      ["--schedule", "linear"], ["--warmup-epochs", "-1"], ["--lr-step-size", "0"],
      ["--lr-gamma", "1.5"], ["--time-limit", "0"], ["--time-limit", "nan"],
    ] {
      #expect(throws: (any Error).self, "\(bad)") { try Train.parse(bad) }
    }
  }

  /// Through the built binary: an absurd rate makes the run diverge; it stops with one error line
  /// naming the epoch, the batch and what to try, a non-zero exit, and no unsound best epoch.
  @Test func aDivergingRunStopsWithOneLine() throws {
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let result = try runAlexnet([
      "train", "--data", try CommandTests.dataFolder(perClass: 6).path, "--validation-split",
      "0.2", "--batch-size", "4", "--image-size", "32", "--epochs", "6", "--optimizer", "sgd",
      "--lr", "1e6", "--warmup-epochs", "0", "--clip-grad-norm", "0", "--output", run.path,
    ])
    #expect(result.status != 0, "\(result.output)")
    let lines = result.error.split(separator: "\n").filter { !$0.hasPrefix("note:") }
    #expect(lines.count == 1, "\(result.error)")
    #expect(lines.first?.contains("training diverged in epoch ") ?? false, "\(result.error)")
    #expect(lines.first?.contains("--clip-grad-norm") ?? false)
    let best = run.appendingPathComponent("best.safetensors")
    if FileManager.default.fileExists(atPath: best.path) {
      let history = try Checkpoint(contentsOf: best).records["history"] ?? ""
      #expect(!history.contains("nan") && !history.contains("inf"), "\(history)")
    }
  }

  @Test func guardAndRegulariserFlagsBecomeTheConfiguration() throws {
    let given = try Train.parse([
      "--data", "x", "--clip-grad-norm", "2.5", "--mixup", "0.2", "--restore-best",
    ]).resolvedConfiguration(stored: nil)
    #expect(given.clipGradNorm == 2.5 && given.mixup == 0.2 && given.restoreBest)
    #expect(try Train.parse(["--clip-grad-norm", "0"]).clipGradNorm == 0)  // off
    for bad in [["--clip-grad-norm", "-1"], ["--clip-grad-norm", "inf"], ["--mixup", "-0.5"]] {
      #expect(throws: (any Error).self, "\(bad)") { try Train.parse(bad) }
    }
  }
}
