import AlexNetKit
import Testing

@Suite struct MetricsTests {
  @Test func topOneTopFiveAndConfusion() {
    var metrics = ClassificationMetrics(classCount: 6)
    // Row 0: true 0 ranked first. Row 1: true 5 ranked third (top-5, not top-1). Row 2: true 1 ranked last.
    let scores = Tensor(shape: [3, 6], scalars: [
      9, 1, 2, 3, 4, 5,
      6, 5, 0, 0, 0, 4,
      1, 0, 2, 3, 4, 5,
    ])
    metrics.add(scores: scores, labels: [0, 5, 1], meanLoss: 2)
    #expect(metrics.samples == 3 && metrics.loss == 2)
    #expect(abs(metrics.top1Accuracy - 1.0 / 3) < 1e-6 && abs(metrics.top5Accuracy - 2.0 / 3) < 1e-6)
    #expect(metrics.confusion[0][0] == 1 && metrics.confusion[5][0] == 1 && metrics.confusion[1][5] == 1)
    #expect(metrics.perClassAccuracy[0] == 1 && metrics.perClassAccuracy[5] == 0 && metrics.perClassAccuracy[2].isNaN)
  }
}
