import AlexNetKit
import Foundation
import Testing

@Suite struct ScheduleTests {
  @Test func plateauWaitsForPatienceThenDivides() {
    var schedule = ReduceOnPlateau(factor: 0.1, patience: 2, minRate: 1e-6)
    var rate: Float = 0.01
    for (epoch, loss) in [1.0, 0.9, 0.95, 0.92].enumerated() {
      rate = schedule.rate(afterEpoch: epoch + 1, metric: Float(loss), current: rate)
    }
    #expect(abs(rate - 0.001) < 1e-9)  // two epochs without beating 0.9
  }

  @Test func plateauResetsPatienceOnImprovement() {
    var schedule = ReduceOnPlateau(factor: 0.1, patience: 2)
    var rate: Float = 0.01
    for (epoch, loss) in [1.0, 1.1, 0.8, 0.85, 0.7, 0.75].enumerated() {
      rate = schedule.rate(afterEpoch: epoch + 1, metric: Float(loss), current: rate)
    }
    #expect(rate == 0.01)
    // An improvement smaller than minDelta does not count.
    var strict = ReduceOnPlateau(factor: 0.5, patience: 1, minDelta: 0.1)
    _ = strict.rate(afterEpoch: 1, metric: 1.0, current: 1)
    #expect(strict.rate(afterEpoch: 2, metric: 0.95, current: 1) == 0.5)
  }

  @Test func plateauRespectsTheFloorAndCooldown() {
    var schedule = ReduceOnPlateau(factor: 0.1, patience: 1, minRate: 1e-6, cooldown: 2)
    var rate: Float = 2e-6
    var rates: [Float] = []
    for epoch in 1...6 {
      rate = schedule.rate(afterEpoch: epoch, metric: 1.0, current: rate)
      rates.append(rate)
    }
    // Epoch 1 sets the best; epoch 2 reduces to the floor; epochs 3-4 cool down; 5 reduces again (stays at the floor).
    #expect(rates[0] == 2e-6 && rates[1] == 1e-6 && rates.allSatisfy { $0 >= 1e-6 })
    #expect(schedule.cooldownLeft <= 2)
  }

  @Test func stepDecayAndConstant() {
    var step = StepDecay(stepSize: 3, factor: 0.5)
    var rate: Float = 1
    for epoch in 1...6 { rate = step.rate(afterEpoch: epoch, metric: nil, current: rate) }
    #expect(rate == 0.25)
    var constant = ConstantRate()
    #expect(constant.rate(afterEpoch: 9, metric: 0, current: 0.3) == 0.3)
  }

  @Test func earlyStoppingCountsEpochsWithoutImprovement() {
    var stopping = EarlyStopping(patience: 2)
    let losses: [Float] = [1.0, 0.8, 0.9, 0.7, 0.75, 0.71]
    let decisions = losses.enumerated().map {
      stopping.shouldStop(afterEpoch: $0.offset + 1, value: $0.element)
    }
    #expect(decisions == [false, false, false, false, false, true])
    #expect(stopping.bestEpoch == 4 && stopping.best == 0.7)
  }

  /// Schedules are Codable, so a checkpoint can carry their position.
  @Test func plateauStateSurvivesEncoding() throws {
    var schedule = ReduceOnPlateau(patience: 3)
    _ = schedule.rate(afterEpoch: 1, metric: 1, current: 0.1)
    _ = schedule.rate(afterEpoch: 2, metric: 2, current: 0.1)
    let copy = try JSONDecoder().decode(ReduceOnPlateau.self, from: JSONEncoder().encode(schedule))
    #expect(copy.best == 1 && copy.epochsWithoutImprovement == 1)
  }
}
