/// Stops training when the monitored quantity has not improved by more than `minDelta` for
/// `patience` epochs (Keras's EarlyStopping; the tutorial monitors the training loss).
public struct EarlyStopping: Codable, Sendable {
  public var patience: Int
  public var minDelta: Float
  public private(set) var best: Float?
  public private(set) var epochsWithoutImprovement = 0
  /// The epoch (from 1) with the best value.
  public private(set) var bestEpoch = 0

  public init(patience: Int = 10, minDelta: Float = 0) {
    precondition(patience >= 1, "early stopping patience must be at least 1, got \(patience)")
    (self.patience, self.minDelta) = (patience, minDelta)
  }

  /// Records an epoch's value; true when training should stop.
  public mutating func shouldStop(afterEpoch epoch: Int, value: Float) -> Bool {
    if best.map({ value < $0 - minDelta }) ?? value.isFinite {
      best = value
      bestEpoch = epoch
      epochsWithoutImprovement = 0
      return false
    }
    epochsWithoutImprovement += 1
    return epochsWithoutImprovement >= patience
  }
}
