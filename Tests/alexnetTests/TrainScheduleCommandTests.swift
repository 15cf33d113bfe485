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
}
