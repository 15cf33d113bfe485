/// Classification metrics over a pass: loss, top-1 and top-5 accuracy, per-class accuracy and the
/// confusion matrix (rows: true class, columns: predicted class).
public struct ClassificationMetrics: Sendable, Codable {
  public let classCount: Int
  public internal(set) var samples = 0
  public internal(set) var lossSum: Double = 0
  public internal(set) var top1Correct = 0
  public internal(set) var top5Correct = 0
  public internal(set) var confusion: [[Int]]

  public init(classCount: Int) {
    self.classCount = classCount
    confusion = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
  }

  /// Adds a batch: scores [N, C] (logits or probabilities: only their order matters), labels,
  /// and the batch's mean loss.
  public mutating func add(scores: Tensor, labels: [Int], meanLoss: Float) {
    precondition(
      scores.rank == 2 && scores.shape[0] == labels.count && scores.shape[1] == classCount,
      "metrics: scores \(scores.shape) for \(labels.count) labels of \(classCount) classes")
    scores.withUnsafeBufferPointer { s in
      for (row, label) in labels.enumerated() {
        let rowScores = UnsafeBufferPointer(
          rebasing: s[(row * classCount)..<((row + 1) * classCount)])
        let rank = Self.rank(of: label, in: rowScores)
        if rank == 0 { top1Correct += 1 }
        if rank < 5 { top5Correct += 1 }
        confusion[label][Self.prediction(rowScores)] += 1
      }
    }
    samples += labels.count
    lossSum += Double(meanLoss) * Double(labels.count)
  }

  /// How many classes stand before the true one. Ties and NaN count against the model: a class
  /// scoring the same as the true one, or NaN, stands before it, and a NaN true score is last, so
  /// a constant or broken classifier cannot score by luck of the tie-break.
  static func rank(of label: Int, in scores: UnsafeBufferPointer<Float>) -> Int {
    let target = scores[label]
    guard !target.isNaN else { return Int.max }
    var before = 0
    for (c, score) in scores.enumerated() where c != label && !(score < target) { before += 1 }
    return before
  }

  /// The predicted class for the confusion matrix: the first highest score (NaN never wins; an
  /// all-NaN row predicts class 0).
  static func prediction(_ scores: UnsafeBufferPointer<Float>) -> Int {
    var best = 0
    for c in 1..<scores.count
    where scores[c] > scores[best] || (scores[best].isNaN && !scores[c].isNaN) {
      best = c
    }
    return best
  }

  public var loss: Float { samples == 0 ? .nan : Float(lossSum / Double(samples)) }
  public var top1Accuracy: Float { samples == 0 ? .nan : Float(top1Correct) / Float(samples) }
  public var top5Accuracy: Float { samples == 0 ? .nan : Float(top5Correct) / Float(samples) }

  /// Accuracy per true class (NaN for a class with no samples).
  public var perClassAccuracy: [Float] {
    confusion.enumerated().map { c, row in
      let total = row.reduce(0, +)
      return total == 0 ? .nan : Float(row[c]) / Float(total)
    }
  }
}
