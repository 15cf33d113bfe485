import RealModule
import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct LocalResponseNormTests {
  static let cases: [(LRNParameters, [Int])] = [
    (.alexNet, [2, 7, 3, 5]),
    (LRNParameters(size: 3, alpha: 0.5, beta: 0.6, k: 1), [1, 4, 5, 5]),
    (LRNParameters(size: 4, alpha: 2, beta: 0.75, k: 1.5, convention: .summed), [3, 6, 2, 3]),
    (LRNParameters(size: 5, alpha: 1, beta: 0.75, k: 2), [2, 3, 1, 1]),
    (LRNParameters(size: 7, alpha: 0.3, beta: 1.2, k: 1), [2, 9]),
  ]

  @Test(arguments: 0..<cases.count)
  func fastMatchesReference(_ index: Int) {
    let (p, shape) = Self.cases[index]
    var rng = SeededGenerator(seed: UInt64(index))
    let x = rng.tensor(shape) * 3
    let dy = rng.tensor(shape)
    #expect(
      maxRelativeError(
        localResponseNormForward(p, input: x), localResponseNormForwardNaive(p, input: x)) <= 1e-5)
    let dx = localResponseNormBackward(p, input: x, outputGradient: dy)
    #expect(
      maxRelativeError(dx, localResponseNormBackwardNaive(p, input: x, outputGradient: dy)) <= 1e-4)
  }

  /// Planes cut into several blocks against the reference, with the paper's β and another: 70 x 61
  /// positions (longer than a block's 4,096) at batch 2, and a 23 x 21 plane at batch 1 on three
  /// threads, cut into six runs of 96 and 3 positions so that every thread gets two.
  @Test(arguments: [LRNParameters.alexNet, LRNParameters(size: 4, alpha: 0.1, beta: 0.9, k: 1)])
  func planesSplitIntoBlocksMatchReference(_ p: LRNParameters) {
    var rng = SeededGenerator(seed: 77)
    for (shape, threads) in [([2, 9, 70, 61], 2), ([1, 40, 23, 21], 3)] {
      let x = rng.tensor(shape) * 3
      let dy = rng.tensor(shape)
      withComputeContext(ComputeContext(threadCount: threads)) {
        #expect(
          maxRelativeError(
            localResponseNormForward(p, input: x), localResponseNormForwardNaive(p, input: x))
            <= 1e-5)
        #expect(
          maxRelativeError(
            localResponseNormBackward(p, input: x, outputGradient: dy),
            localResponseNormBackwardNaive(p, input: x, outputGradient: dy)) <= 1e-4)
      }
    }
  }

  /// Whole planes up to 4,096 positions, longer ones in equal runs of whole cache lines, and at
  /// least two blocks per thread.
  @Test func blockWidths() {
    #expect(lrnBlockWidth(batch: 128, plane: 3025, threads: 2) == 3025)
    #expect(lrnBlockWidth(batch: 2, plane: 70 * 61, threads: 2) == 2144)
    #expect(lrnBlockWidth(batch: 1, plane: 3025, threads: 2) == 768)
    #expect(lrnBlockWidth(batch: 1, plane: 23 * 21, threads: 3) == 96)
    #expect(lrnBlockWidth(batch: 1, plane: 10, threads: 2) == 10)
    #expect(lrnBlockWidth(batch: 64, plane: 20_000, threads: 2) == 4000)
  }

  /// Empty planes and batches give empty results (no block to cut, no division by an empty
  /// block's width).
  @Test func emptyInputs() {
    for shape in [[2, 3, 0, 4], [0, 5, 3, 3]] {
      let x = Tensor(zeros: shape)
      #expect(localResponseNormForward(.alexNet, input: x).shape == shape)
      #expect(localResponseNormBackward(.alexNet, input: x, outputGradient: x).shape == shape)
    }
  }

  @Test(arguments: 0..<cases.count)
  func backwardMatchesFiniteDifferences(_ index: Int) {
    let (p, shape) = Self.cases[index]
    var rng = SeededGenerator(seed: UInt64(10 + index))
    let x = rng.tensor(shape) * 3
    let analytic = localResponseNormBackward(
      p, input: x, outputGradient: localResponseNormForward(p, input: x))
    let numeric = numericalGradient(
      of: { halfSumOfSquares(localResponseNormForward(p, input: $0[0])) },
      at: [x], input: 0, step: 1e-2)
    #expect(gradientError(analytic, numeric) <= 1e-3)
  }

  /// By hand: channels [1, 2, 3] at one pixel, n = 3, k = 1, α = 3 (α/n = 1), β = 1.
  /// Channel 0 window {0, 1}: s = 1 + 1 + 4 = 6, b = 1/6. Channel 1 window {0, 1, 2}: s = 15,
  /// b = 2/15. Channel 2 window {1, 2}: s = 14, b = 3/14. TensorFlow's convention (α as is)
  /// gives s = 1 + 3·5 = 16 for channel 0.
  @Test func handComputedValues() {
    let x = Tensor(shape: [1, 3, 1, 1], scalars: [1, 2, 3])
    let averaged = LRNParameters(size: 3, alpha: 3, beta: 1, k: 1)
    let y = localResponseNormForward(averaged, input: x).scalars
    #expect(
      abs(y[0] - 1.0 / 6) < 1e-6 && abs(y[1] - 2.0 / 15) < 1e-6 && abs(y[2] - 3.0 / 14) < 1e-6)
    let summed = LRNParameters(size: 3, alpha: 3, beta: 1, k: 1, convention: .summed)
    #expect(abs(localResponseNormForward(summed, input: x).scalars[0] - 1.0 / 16) < 1e-6)
    // AlexNet's parameters on a value of 10 alone: 10 / (2 + 1e-4/5·100)^0.75.
    let single = localResponseNormForward(
      .alexNet, input: Tensor(shape: [1, 1, 1, 1], scalars: [10])
    ).scalar
    #expect(abs(single - 10 / Float.pow(2.002, 0.75)) < 1e-5)
  }
}
