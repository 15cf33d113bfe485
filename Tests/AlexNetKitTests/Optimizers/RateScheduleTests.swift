import Foundation
import Testing

@testable import AlexNetKit

/// Golden rates from PyTorch 2 (the lr of each step, read before `scheduler.step()`):
///
///     p = [torch.nn.Parameter(torch.zeros(1))]
///     o = torch.optim.SGD(p, lr=0.1)
///     s = torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10)
///     # CosineAnnealingLR(o, T_max=8, eta_min=0.001); StepLR(o, step_size=2, gamma=0.5)
///     for i in range(n): print(o.param_groups[0]['lr']); o.step(); s.step()
@Suite struct RateScheduleTests {
  func expectClose(
    _ actual: [Float], _ expected: [Float], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
      #expect(
        abs(a - e) <= 1e-5 * max(abs(e), 1e-3), "step \(i): \(a), PyTorch \(e)",
        sourceLocation: sourceLocation)
    }
  }

  @Test func oneCycleMatchesPyTorch() {
    var rates = RateSchedule(.onecycle, baseRate: 0.1)
    rates.totalSteps = 10
    expectClose(
      (0..<10).map { rates.rate(atStep: $0) },
      [
        0.004, 0.052, 0.1, 0.0950485, 0.0811746, 0.0611262, 0.0388742, 0.0188258, 0.00495194,
        4e-07,
      ])
  }

  @Test func cosineMatchesPyTorch() {
    var rates = RateSchedule(.cosine, baseRate: 0.1)
    (rates.totalSteps, rates.minRate) = (8, 0.001)
    expectClose(
      (0..<8).map { rates.rate(atStep: $0) },
      [0.1, 0.096232, 0.0855018, 0.0694428, 0.0505, 0.0315572, 0.0154982, 0.00476796])
  }

  /// StepLR counts epochs; every batch of an epoch has its epoch's rate.
  @Test func stepMatchesStepLR() {
    var rates = RateSchedule(.step, baseRate: 0.1)
    (rates.stepSize, rates.gamma, rates.stepsPerEpoch) = (2, 0.5, 3)
    let perEpoch: [Float] = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    expectClose((0..<18).map { rates.rate(atStep: $0) }, perEpoch.flatMap { [$0, $0, $0] })
  }

  @Test func warmupRampsLinearlyThenLeavesTheSchedule() {
    var rates = RateSchedule(.cosine, baseRate: 0.2)
    (rates.totalSteps, rates.warmupSteps) = (20, 4)
    for step in 0..<20 {
      let cosine = 0.1 * (1 + cos(Double.pi * Double(step) / 20))
      let expected = Float(min(1, Double(step + 1) / 4) * cosine)
      #expect(abs(rates.rate(atStep: step) - expected) < 1e-6, "step \(step)")
    }
    var constant = RateSchedule(.constant, baseRate: 0.01)
    constant.warmupSteps = 10
    #expect(constant.rate(atStep: 0) == 0.001 && constant.rate(atStep: 9) == 0.01)
    #expect(constant.rate(atStep: 500) == 0.01)
  }

  @Test func configurationBuildsTheScheduleInSteps() {
    var configuration = TrainingConfiguration(data: "x")
    (configuration.schedule, configuration.warmupEpochs, configuration.epochs) = (.step, 1.5, 4)
    (configuration.lrStepSize, configuration.lrGamma) = (3, 0.5)
    let rates = configuration.rateSchedule(stepsPerEpoch: 10)
    #expect(rates.kind == .step && rates.warmupSteps == 15 && rates.totalSteps == 40)
    #expect(
      rates.stepSize == 3 && rates.gamma == 0.5 && rates.baseRate == configuration.learningRate)
  }

  /// The trainer sets the rate before every batch: what the optimizer held during batch i is the
  /// schedule's rate at global step i, across epochs.
  @Test func trainerUpdatesTheRateEveryBatch() throws {
    let helper = TrainerTests()
    let folder = try helper.syntheticFolder(perClass: 6)
    let trainer = helper.trainer(folder, output: nil, optimizer: Adam())
    var rates = RateSchedule(.onecycle, baseRate: 0.002)
    rates.warmupSteps = 2
    trainer.rateSchedule = rates
    var seen: [Float] = []
    trainer.onBatch = { _, _, _, _, _ in seen.append(trainer.optimizer.learningRate) }
    try trainer.fit(training: helper.loader(folder), validation: nil, epochs: 2)
    rates.totalSteps = 6  // 12 images in batches of 4, two epochs
    #expect(seen.count == 6)
    expectClose(seen, (0..<6).map { rates.rate(atStep: $0) })
    #expect(trainer.history.records.map(\.learningRate) == [seen[2], seen[5]])
  }

  @Test func timeLimitStopsWhenTheNextEpochWouldNotFit() throws {
    let helper = TrainerTests()
    let folder = try helper.syntheticFolder()
    let trainer = helper.trainer(folder, output: nil)
    trainer.timeLimit = .milliseconds(1)
    var notes: [String] = []
    trainer.onNote = { notes.append($0) }
    try trainer.fit(training: helper.loader(folder), validation: nil, epochs: 4)
    #expect(trainer.completedEpochs == 1)
    #expect(notes.count == 1 && notes[0].hasPrefix("Stopping after epoch 1"), "\(notes)")

    let roomy = helper.trainer(folder, output: nil)
    roomy.timeLimit = .seconds(3600)
    try roomy.fit(training: helper.loader(folder), validation: nil, epochs: 3)
    #expect(roomy.completedEpochs == 3)
  }

  /// config.json written before these settings existed still reads: with the defaults, except
  /// warmup and clipping, which those runs did not have (a resume must not add them).
  @Test func olderConfigurationsDecodeWithDefaults() throws {
    var configuration = TrainingConfiguration(data: "photos")
    configuration.epochs = 7
    var object =
      try JSONSerialization.jsonObject(with: JSONEncoder().encode(configuration)) as! [String: Any]
    for key in ["schedule", "warmupEpochs", "lrStepSize", "lrGamma", "clipGradNorm"] {
      #expect(object.removeValue(forKey: key) != nil, "\(key) is encoded")
    }
    let decoded = try JSONDecoder().decode(
      TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
    (configuration.warmupEpochs, configuration.clipGradNorm) = (0, 0)
    #expect(decoded == configuration)
    #expect(
      try JSONDecoder().decode(
        TrainingConfiguration.self, from: JSONEncoder().encode(TrainingConfiguration(data: "p")))
        == TrainingConfiguration(data: "p"))
  }
}
