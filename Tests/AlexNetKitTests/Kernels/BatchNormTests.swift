import AlexNetKit
import TestSupport
import Testing

@Suite struct BatchNormTests {
  static let shapes: [[Int]] = [[3, 4, 5, 3], [2, 3, 1, 7], [5, 6], [1, 2, 3, 3]]
  /// Planes of 42 and 33 floats: several 8-wide vector steps and a remainder in each channel sum.
  static let shapesWithLongPlanes = shapes + [[2, 3, 6, 7], [3, 2, 11, 3]]

  @Test(arguments: shapesWithLongPlanes)
  func trainingMatchesReference(_ shape: [Int]) {
    var rng = SeededGenerator(seed: UInt64(shape.reduce(0, +)))
    let c = shape[1]
    let x = rng.tensor(shape) * 2 + 0.5
    let gamma = rng.tensor([c]) + 1
    let beta = rng.tensor([c])
    let dy = rng.tensor(shape)
    for p in [BatchNormParameters.pytorch, .keras] {
      var mean = rng.tensor([c])
      var variance = rng.tensor([c]) + 2
      var meanNaive = mean
      var varianceNaive = variance
      let fast = batchNormForwardTraining(
        p, input: x, gamma: gamma, beta: beta, runningMean: &mean, runningVariance: &variance)
      let naive = batchNormForwardTrainingNaive(
        p, input: x, gamma: gamma, beta: beta, runningMean: &meanNaive,
        runningVariance: &varianceNaive)
      #expect(maxRelativeError(fast.output, naive) <= 1e-5)
      #expect(maxRelativeError(mean, meanNaive) <= 1e-5)
      #expect(maxRelativeError(variance, varianceNaive) <= 1e-5)
      let backward = batchNormBackwardTraining(
        input: x, gamma: gamma, statistics: fast.statistics, outputGradient: dy)
      let reference = batchNormBackwardTrainingNaive(p, input: x, gamma: gamma, outputGradient: dy)
      #expect(maxRelativeError(backward.input, reference.input) <= 1e-4)
      #expect(maxRelativeError(backward.gamma, reference.gamma) <= 1e-4)
      #expect(maxRelativeError(backward.beta, reference.beta) <= 1e-4)
    }
  }

  @Test(arguments: shapes)
  func trainingBackwardMatchesFiniteDifferences(_ shape: [Int]) {
    var rng = SeededGenerator(seed: 99)
    let c = shape[1]
    let x = rng.tensor(shape)
    let gamma = rng.tensor([c]) + 1.5
    let beta = rng.tensor([c])
    func forward(_ t: [Tensor]) -> Tensor {
      var m = Tensor(zeros: [c])
      var v = Tensor(zeros: [c])
      return batchNormForwardTraining(
        .pytorch, input: t[0], gamma: t[1], beta: t[2], runningMean: &m, runningVariance: &v
      ).output
    }
    var m = Tensor(zeros: [c])
    var v = Tensor(zeros: [c])
    let fwd = batchNormForwardTraining(
      .pytorch, input: x, gamma: gamma, beta: beta, runningMean: &m, runningVariance: &v)
    let analytic = batchNormBackwardTraining(
      input: x, gamma: gamma, statistics: fwd.statistics, outputGradient: fwd.output)
    let loss = { (t: [Tensor]) in halfSumOfSquares(forward(t)) }
    #expect(
      gradientError(
        analytic.input, numericalGradient(of: loss, at: [x, gamma, beta], input: 0, step: 1e-2))
        <= 2e-3)
    #expect(
      gradientError(analytic.gamma, numericalGradient(of: loss, at: [x, gamma, beta], input: 1))
        <= 1e-3)
    #expect(
      gradientError(analytic.beta, numericalGradient(of: loss, at: [x, gamma, beta], input: 2))
        <= 1e-3)
  }

  @Test func inferenceUsesRunningAverages() {
    var rng = SeededGenerator(seed: 4)
    let x = rng.tensor([2, 3, 2, 2])
    let gamma = rng.tensor([3]) + 1
    let beta = rng.tensor([3])
    let mean = rng.tensor([3])
    let variance = rng.tensor([3]) + 2
    let y = batchNormForwardInference(
      .keras, input: x, gamma: gamma, beta: beta, runningMean: mean, runningVariance: variance)
    for i in 0..<x.count {
      let c = (i / 4) % 3
      let expected =
        gamma[flat: c] * (x[flat: i] - mean[flat: c]) / (variance[flat: c] + 1e-3).squareRoot()
        + beta[flat: c]
      #expect(abs(y[flat: i] - expected) < 1e-5)
    }
    let backward = batchNormBackwardInference(
      .keras, input: x, gamma: gamma, runningMean: mean, runningVariance: variance,
      outputGradient: y)
    let loss = { (t: [Tensor]) in
      halfSumOfSquares(
        batchNormForwardInference(
          .keras, input: t[0], gamma: t[1], beta: t[2], runningMean: mean,
          runningVariance: variance))
    }
    #expect(
      gradientError(backward.input, numericalGradient(of: loss, at: [x, gamma, beta], input: 0))
        <= 1e-3)
    #expect(
      gradientError(backward.gamma, numericalGradient(of: loss, at: [x, gamma, beta], input: 1))
        <= 1e-3)
  }

  /// Running averages follow each convention: PyTorch's momentum 0.1 with unbiased variance;
  /// Keras's 0.99 (0.01 here) with the biased one.
  @Test func runningAverageConventions() {
    // mean 3, biased variance 3.5, unbiased 14/3
    let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 6])
    var mean = Tensor(zeros: [1])
    var variance = Tensor(shape: [1], repeating: 1)
    _ = batchNormForwardTraining(
      .pytorch, input: x, gamma: Tensor(shape: [1], repeating: 1), beta: Tensor(zeros: [1]),
      runningMean: &mean, runningVariance: &variance)
    #expect(abs(mean.scalar - 0.3) < 1e-6 && abs(variance.scalar - (0.9 + 0.1 * 14 / 3)) < 1e-5)
    mean = Tensor(zeros: [1])
    variance = Tensor(shape: [1], repeating: 1)
    _ = batchNormForwardTraining(
      .keras, input: x, gamma: Tensor(shape: [1], repeating: 1), beta: Tensor(zeros: [1]),
      runningMean: &mean, runningVariance: &variance)
    #expect(abs(mean.scalar - 0.03) < 1e-6 && abs(variance.scalar - (0.99 + 0.01 * 3.5)) < 1e-5)
  }
}
