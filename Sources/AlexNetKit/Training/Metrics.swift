/// Classification metrics over a pass: loss, top-1 and top-5 accuracy, per-class accuracy and the
/// confusion matrix (rows: true class, columns: predicted class).
public struct ClassificationMetrics: Sendable, Codable {
  public let classCount: Int
  public private(set) var samples = 0
  public private(set) var lossSum: Double = 0
  public private(set) var top1Correct = 0
  public private(set) var top5Correct = 0
  public private(set) var confusion: [[Int]]

  public init(classCount: Int) {
    self.classCount = classCount
    confusion = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
  }

  /// Adds a batch: scores [N, C] (logits or probabilities: only their order matters), labels,
  /// and the batch's mean loss.
  public mutating func add(scores: Tensor, labels: [Int], meanLoss: Float) {
    precondition(scores.rank == 2 && scores.shape[0] == labels.count && scores.shape[1] == classCount,
                 "metrics: scores \(scores.shape) for \(labels.count) labels of \(classCount) classes")
    scores.withUnsafeBufferPointer { s in
      for (row, label) in labels.enumerated() {
        let rowScores = s[(row * classCount)..<((row + 1) * classCount)]
        let target = rowScores[rowScores.startIndex + label]
        // Rank of the true class: how many classes score strictly higher (ties count for it).
        let higher = rowScores.reduce(0) { $0 + ($1 > target ? 1 : 0) }
        if higher == 0 { top1Correct += 1 }
        if higher < 5 { top5Correct += 1 }
        var predicted = 0
        for c in 1..<classCount where rowScores[rowScores.startIndex + c] > rowScores[rowScores.startIndex + predicted] {
          predicted = c
        }
        confusion[label][predicted] += 1
      }
    }
    samples += labels.count
    lossSum += Double(meanLoss) * Double(labels.count)
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
