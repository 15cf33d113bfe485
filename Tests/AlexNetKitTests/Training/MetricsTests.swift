import AlexNetKit
import Testing

@Suite struct MetricsTests {
  @Test func topOneTopFiveAndConfusion() {
    var metrics = ClassificationMetrics(classCount: 6)
    // Row 0: true 0 ranked first. Row 1: true 5 ranked third (top-5, not top-1). Row 2: true 1 ranked last.
    let scores = Tensor(
      shape: [3, 6],
      scalars: [
        9, 1, 2, 3, 4, 5,
        6, 5, 0, 0, 0, 4,
        1, 0, 2, 3, 4, 5,
      ])
    metrics.add(scores: scores, labels: [0, 5, 1], meanLoss: 2)
    #expect(metrics.samples == 3 && metrics.loss == 2)
    #expect(
      abs(metrics.top1Accuracy - 1.0 / 3) < 1e-6 && abs(metrics.top5Accuracy - 2.0 / 3) < 1e-6)
    #expect(
      metrics.confusion[0][0] == 1 && metrics.confusion[5][0] == 1 && metrics.confusion[1][5] == 1)
    #expect(
      metrics.perClassAccuracy[0] == 1 && metrics.perClassAccuracy[5] == 0
        && metrics.perClassAccuracy[2].isNaN)
  }

  /// A classifier that says nothing (all scores equal) or is broken (NaN) must not be credited:
  /// with two balanced classes an all-zero row would otherwise be "100% top-1".
  @Test func tiesAndNaNCountAgainstTheModel() {
    for value in [Float(0), .nan] {
      var metrics = ClassificationMetrics(classCount: 7)
      let scores = Tensor(shape: [4, 7], scalars: [Float](repeating: value, count: 28))
      metrics.add(scores: scores, labels: [0, 1, 2, 6], meanLoss: value)
      #expect(metrics.top1Correct == 0, "value \(value)")
      #expect(metrics.top5Correct == 0, "value \(value): six other classes tie or are NaN")
      #expect(metrics.confusion.map { $0[0] }.reduce(0, +) == 4)
    }
    var metrics = ClassificationMetrics(classCount: 3)
    // The true class is highest but another score is NaN (counts before it); then a true NaN.
    let scores = Tensor(shape: [3, 3], scalars: [5, .nan, 1, 1, 4, 2, .nan, 2, 3])
    metrics.add(scores: scores, labels: [0, 1, 0], meanLoss: 1)
    #expect(metrics.top1Correct == 1 && metrics.top5Correct == 2)
    #expect(
      metrics.confusion[0][0] == 1 && metrics.confusion[1][1] == 1 && metrics.confusion[0][2] == 1)
  }
}
