import TestSupport
import Testing

@testable import AlexNetKit

/// The weight and bias gradients in the Winograd domain (A dY Aᵀ, dM·Vᵀ, Gᵀ dU G) against the naive
/// reference and central differences, for every variant on random shapes of its kernel, strided
/// ones through space to depth too (at AlexNet's layers:
/// `WinogradTests.alexNetLayersMatchReference`).
@Suite struct WinogradWeightGradientTests {
  /// The eight-lane A dY Aᵀ against its matrix form, for each variant.
  @Test(arguments: WinogradVariant.allCases)
  func outputGradientTransformMatchesItsMatrixForm(_ variant: WinogradVariant) {
    var rng = SeededGenerator(seed: 31)
    let (m, alpha) = (variant.outputTile, variant.inputTile)
    let blocks = rng.floats(m * m * 8)
    var dm = [Float](repeating: 0, count: alpha * alpha * 8)
    var scratch = [Float](repeating: 0, count: 36 * 8)
    blocks.withUnsafeBufferPointer { b in
      dm.withUnsafeMutableBufferPointer { dm in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winogradOutputGradientTransform8(
            variant, blocks: b.baseAddress!, scratch: scratch.baseAddress!,
            output: dm.baseAddress!, stride: 8)
        }
      }
    }
    for lane in 0..<8 {
      let block = (0..<m).map { i in (0..<m).map { k in blocks[8 * (m * i + k) + lane] } }
      let expected = winogradOutputGradientTileNaive(variant, block)
      for xi in 0..<(alpha * alpha) {
        #expect(abs(dm[8 * xi + lane] - expected[xi / alpha][xi % alpha]) <= 1e-4)
      }
    }
  }

  @Test(
    arguments: WinogradTests.cases(count: 40, seed: 81)
      + WinogradTests.stridedCases(count: 12, seed: 305))
  func matchesReference(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 82 + WinogradTests.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    let fast = winogradConv2dWeightGradient(g, input: x, outputGradient: dy, variant: variant)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-4)
    #expect(maxRelativeError(fast.bias, naive.bias) <= 1e-4)
  }

  /// With a fused ReLU the output gradient is masked where the forward's output was not positive.
  @Test(
    arguments: WinogradTests.cases(count: 12, seed: 83)
      + WinogradTests.stridedCases(count: 6, seed: 307))
  func maskedMatchesReference(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 84 + WinogradTests.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let y = reluForwardNaive(input: conv2dForwardNaive(g, input: x, weight: w, bias: nil))
    let masked = reluBackwardNaive(output: y, outputGradient: dy)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: masked)
    let fast = winogradConv2dWeightGradient(
      g, input: x, reluOutput: y, outputGradient: dy, variant: variant)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-4)
    #expect(maxRelativeError(fast.bias, naive.bias) <= 1e-4)
  }

  /// The weight gradient against central differences of ½·Σy² (y = Winograd forward), quadratic
  /// in w: the steps are `WinogradTests`' for the input gradient, for the same reason, and so is
  /// the sample of at most 128 positions.
  @Test(arguments: WinogradTests.cases(count: 4, seed: 85))
  func matchesFiniteDifferences(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 86 + WinogradTests.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let y = winogradConv2dForward(g, input: x, weight: w, bias: nil, variant: variant)
    let analytic = winogradConv2dWeightGradient(g, input: x, outputGradient: y, variant: variant)
    let loss = { (t: [Tensor]) in
      halfSumOfSquares(
        winogradConv2dForward(g, input: x, weight: t[0], bias: nil, variant: variant))
    }
    let step: Float = variant == .f2x2 ? 0.01 : 0.25
    let positions = sampledPositions(count: w.count, limit: 128, seed: 86)
    let numeric = numericalGradient(
      of: loss, at: [w], input: 0, positions: positions, step: step)
    #expect(gradientError(analytic.weight, numeric, at: positions) <= 1e-3)
  }
}
