import AlexNetKit
import RealModule
import TestSupport
import Testing

@Suite struct SoftmaxCrossEntropyTests {
  @Test func fastMatchesReference() {
    var rng = SeededGenerator(seed: 3)
    let logits = rng.tensor([5, 7]) * 4
    let targets = oneHotTargets(labels: [0, 6, 3, 3, 1], classes: 7, labelSmoothing: 0.1)
    for weights in [nil, [Float]([1, 2, 0.5, 1, 3])] {
      let fast = softmaxCrossEntropy(logits: logits, targets: targets, weights: weights)
      let naive = softmaxCrossEntropyNaive(logits: logits, targets: targets, weights: weights)
      #expect(abs(fast.loss - naive.loss) <= 1e-5 * max(1, abs(naive.loss)))
      #expect(maxRelativeError(fast.gradient, naive.gradient) <= 1e-5)
      #expect(maxRelativeError(fast.probabilities, naive.probabilities) <= 1e-5)
    }
  }

  @Test func gradientMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 4)
    let logits = rng.tensor([3, 4]) * 2
    let targets = oneHotTargets(labels: [1, 0, 3], classes: 4, labelSmoothing: 0.2)
    let weights: [Float] = [1, 0.5, 2]
    let analytic = softmaxCrossEntropy(logits: logits, targets: targets, weights: weights).gradient
    let numeric = numericalGradient(
      of: {
        Double(softmaxCrossEntropyNaive(logits: $0[0], targets: targets, weights: weights).loss)
      },
      at: [logits], input: 0, step: 1e-2)
    #expect(gradientError(analytic, numeric) <= 1e-3)
  }

  /// Logits of 1e4 would overflow exp; the fused form subtracts the maximum first.
  @Test func hugeLogitsStayFinite() {
    let logits = Tensor(shape: [2, 3], scalars: [1e4, 0, -1e4, 1e4, 1e4, 0])
    let result = softmaxCrossEntropy(
      logits: logits, targets: oneHotTargets(labels: [0, 2], classes: 3))
    #expect(result.gradient.isFinite && result.probabilities.isFinite && result.loss.isFinite)
    // Row 0 is certain and right (loss 0); row 1 puts ~0 on class 2: loss 1e4 + log 2.
    #expect(abs(result.loss - (1e4 + Float.log(2)) / 2) < 1)
  }

  /// Uniform logits over C classes give loss log C.
  @Test func uniformLogitsGiveLogOfClassCount() {
    let result = softmaxCrossEntropy(
      logits: Tensor(zeros: [4, 10]), targets: oneHotTargets(labels: [1, 2, 3, 4], classes: 10))
    #expect(abs(result.loss - Float.log(10)) < 1e-6)
  }
}
