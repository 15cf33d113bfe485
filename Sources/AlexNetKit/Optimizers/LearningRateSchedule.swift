/// Changes the learning rate between epochs. Schedules are values with Codable state, so a
/// checkpoint can resume them exactly.
public protocol LearningRateSchedule: Codable, Sendable {
  /// The rate for the next epoch, given the epoch just finished (from 1), its monitored metric,
  /// and the rate it ran with.
  mutating func rate(afterEpoch epoch: Int, metric: Float?, current: Float) -> Float
}

/// The rate never changes.
public struct ConstantRate: LearningRateSchedule {
  public init() {}
  public mutating func rate(afterEpoch epoch: Int, metric: Float?, current: Float) -> Float {
    current
  }
}

/// Multiplies the rate by `factor` every `stepSize` epochs (PyTorch's StepLR).
public struct StepDecay: LearningRateSchedule {
  public var stepSize: Int
  public var factor: Float
  public init(stepSize: Int, factor: Float = 0.1) {
    precondition(stepSize > 0 && factor > 0, "step decay needs stepSize > 0 and factor > 0")
    (self.stepSize, self.factor) = (stepSize, factor)
  }
  public mutating func rate(afterEpoch epoch: Int, metric: Float?, current: Float) -> Float {
    epoch % stepSize == 0 ? current * factor : current
  }
}

/// Divides the rate when the monitored metric (validation loss) stops improving, as Keras's
/// `ReduceLROnPlateau` does and the tutorial uses: after `patience` epochs without an improvement
/// larger than `minDelta`, rate ← max(rate·factor, minRate), then `cooldown` epochs without
/// counting. The paper divided by 10 by hand when validation error stopped improving.
public struct ReduceOnPlateau: LearningRateSchedule {
  public var factor: Float
  public var patience: Int
  public var minRate: Float
  public var minDelta: Float
  public var cooldown: Int
  /// Best metric so far, epochs since it, cooldown epochs left.
  public private(set) var best: Float?
  public private(set) var epochsWithoutImprovement = 0
  public private(set) var cooldownLeft = 0

  public init(
    factor: Float = 0.1, patience: Int = 10, minRate: Float = 1e-6, minDelta: Float = 1e-4,
    cooldown: Int = 0
  ) {
    precondition(
      factor > 0 && factor < 1, "ReduceOnPlateau factor must be in (0, 1), got \(factor)")
    precondition(
      patience >= 0 && cooldown >= 0, "ReduceOnPlateau patience and cooldown must not be negative")
    (self.factor, self.patience, self.minRate, self.minDelta, self.cooldown) = (
      factor, patience, minRate, minDelta, cooldown
    )
  }

  public mutating func rate(afterEpoch epoch: Int, metric: Float?, current: Float) -> Float {
    guard let metric, metric.isFinite else { return current }
    if cooldownLeft > 0 {
      cooldownLeft -= 1
      epochsWithoutImprovement = 0
    }
    if best.map({ metric < $0 - minDelta }) ?? true {
      best = metric
      epochsWithoutImprovement = 0
      return current
    }
    guard cooldownLeft == 0 else { return current }
    epochsWithoutImprovement += 1
    guard epochsWithoutImprovement >= patience else { return current }
    epochsWithoutImprovement = 0
    cooldownLeft = cooldown
    return Swift.max(current * factor, minRate)
  }
}
