import TestSupport
import Testing

@testable import AlexNetKit

/// F(4×4, 3×3): the same claims as `WinogradTests` makes of F(2×2), on 6×6 tiles.
@Suite struct Winograd4x4Tests {
  /// The eight-lane transforms against the matrix products Bᵀ d B, G g Gᵀ and Aᵀ m A.
  @Test func transformsMatchTheirMatrixForms() {
    var rng = SeededGenerator(seed: 15)
    // Six rows of 34 floats hold eight overlapping 6×6 tiles, the l-th from column 4l.
    let rows = rng.floats(6 * 34)
    var v = [Float](repeating: 0, count: 36 * 8)
    var scratch = [Float](repeating: 0, count: 36 * 8)
    rows.withUnsafeBufferPointer { r in
      v.withUnsafeMutableBufferPointer { v in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd4x4InputTransform8(
            rows: r.baseAddress!, rowLength: 34, scratch: scratch.baseAddress!,
            output: v.baseAddress!, stride: 8)
        }
      }
    }
    for lane in 0..<8 {
      let tile = (0..<6).map { r in Array(rows[(34 * r + 4 * lane)..<(34 * r + 4 * lane + 6)]) }
      let expected = winograd4x4InputTileNaive(tile)
      for xi in 0..<36 { #expect(abs(v[8 * xi + lane] - expected[xi / 6][xi % 6]) <= 1e-5) }
    }
    let kernel = rng.floats(9)
    var u = [Float](repeating: 0, count: 36)
    for flipped in [false, true] {
      kernel.withUnsafeBufferPointer { k in
        u.withUnsafeMutableBufferPointer {
          winograd4x4FilterTransform(
            k.baseAddress!, flipped: flipped, output: $0.baseAddress!, stride: 1)
        }
      }
      func cell(_ r: Int, _ c: Int) -> Float {
        flipped ? kernel[(2 - r) * 3 + 2 - c] : kernel[r * 3 + c]
      }
      let g: [[Float]] = (0..<3).map { r in (0..<3).map { c in cell(r, c) } }
      let expected = winograd4x4FilterTileNaive(g)
      for xi in 0..<36 { #expect(abs(u[xi] - expected[xi / 6][xi % 6]) <= 1e-6) }
    }
    let m = rng.floats(36 * 8)
    var y = [Float](repeating: 0, count: 16 * 8)
    m.withUnsafeBufferPointer { m in
      y.withUnsafeMutableBufferPointer { y in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd4x4OutputTransform8(
            input: m.baseAddress!, stride: 8, scratch: scratch.baseAddress!,
            output: y.baseAddress!)
        }
      }
    }
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<6).map { r in (0..<6).map { c in m[8 * (6 * r + c) + lane] } }
      let expected = winograd4x4OutputTileNaive(tile)
      for i in 0..<4 {
        for k in 0..<4 { #expect(abs(y[8 * (4 * i + k) + lane] - expected[i][k]) <= 1e-4) }
      }
    }
  }

  /// The matrices are Lavin and Gray's: one tile's Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 4×4 valid
  /// correlation of the 6×6 tile with the kernel, computed directly.
  @Test func oneTileIsACorrelation() {
    var rng = SeededGenerator(seed: 16)
    let d = (0..<6).map { _ in rng.floats(6) }
    let g = (0..<3).map { _ in rng.floats(3) }
    let u = winograd4x4FilterTileNaive(g)
    let v = winograd4x4InputTileNaive(d)
    let product = (0..<6).map { i in (0..<6).map { j in u[i][j] * v[i][j] } }
    let y = winograd4x4OutputTileNaive(product)
    for i in 0..<4 {
      for k in 0..<4 {
        var direct: Float = 0
        for a in 0..<3 { for b in 0..<3 { direct += d[i + a][k + b] * g[a][b] } }
        #expect(abs(y[i][k] - direct) <= 1e-4, "output (\(i), \(k))")
      }
    }
  }

  @Test(arguments: ConvGeometry.randomWinogradCases(count: 40, seed: 171))
  func forwardMatchesReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 172)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([g.outChannels])
    let naive = conv2dForwardNaive(g, input: x, weight: w, bias: b)
    let fast = winogradConv2dForward(g, input: x, weight: w, bias: b, variant: .f4x4)
    #expect(maxRelativeError(fast, naive) <= 1e-4)
    #expect(
      maxRelativeError(
        winogradConv2dForward(
          g, input: x, weight: w, bias: nil, activation: .relu, variant: .f4x4),
        reluForwardNaive(input: conv2dForwardNaive(g, input: x, weight: w, bias: nil))) <= 1e-4)
  }

  @Test(arguments: ConvGeometry.randomWinogradCases(count: 40, seed: 173))
  func inputGradientMatchesReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 174)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy).input
    let fast = winogradConv2dInputGradient(g, weight: w, outputGradient: dy, variant: .f4x4)
    #expect(maxRelativeError(fast, naive) <= 1e-4)
  }

  /// With a fused ReLU the output gradient is masked where the forward's output was not positive.
  @Test(arguments: ConvGeometry.randomWinogradCases(count: 12, seed: 175))
  func maskedInputGradientMatchesReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 176)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let y = reluForwardNaive(input: conv2dForwardNaive(g, input: x, weight: w, bias: nil))
    let masked = reluBackwardNaive(output: y, outputGradient: dy)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: masked).input
    let fast = winogradConv2dInputGradient(
      g, weight: w, reluOutput: y, outputGradient: dy, variant: .f4x4)
    #expect(maxRelativeError(fast, naive) <= 1e-4)
  }

  /// The input gradient against central differences of ½·Σy² (y = F(4×4) forward). The loss is
  /// quadratic in x, so a central difference has no truncation error at any step; a step of 0.25
  /// instead of 0.01 keeps F(4×4)'s rounding (constants up to 8 and 1/24) from dominating the
  /// difference quotient (at 0.01 it reached 4e-3 of the gradient on one case).
  @Test(arguments: ConvGeometry.randomWinogradCases(count: 4, seed: 177))
  func inputGradientMatchesFiniteDifferences(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 178)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let y = winogradConv2dForward(g, input: x, weight: w, bias: nil, variant: .f4x4)
    let analytic = winogradConv2dInputGradient(g, weight: w, outputGradient: y, variant: .f4x4)
    let loss = { (t: [Tensor]) in
      halfSumOfSquares(winogradConv2dForward(g, input: t[0], weight: w, bias: nil, variant: .f4x4))
    }
    let numeric = numericalGradient(of: loss, at: [x], input: 0, step: 0.25)
    #expect(gradientError(analytic, numeric) <= 1e-3)
  }

  /// AlexNet's conv3, conv4 and conv5 (13x13, 256 to 384 channels, the paper's groups) at batch 1:
  /// F(4×4)'s larger transform constants still stay within 1e-4 of the reference's scale.
  @Test(arguments: [(256, 384, 1), (384, 384, 2), (384, 256, 2)])
  func alexNetLayersMatchReference(_ channels: (Int, Int, Int)) throws {
    let g = try ConvGeometry(
      batch: 1, inChannels: channels.0, height: 13, width: 13, outChannels: channels.1,
      kernel: 3, padding: .explicit(1), groups: channels.2)
    var rng = SeededGenerator(seed: 179)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    #expect(
      maxRelativeError(
        winogradConv2dForward(g, input: x, weight: w, bias: nil, variant: .f4x4),
        conv2dForwardNaive(g, input: x, weight: w, bias: nil)) <= 1e-4)
    #expect(
      maxRelativeError(
        winogradConv2dInputGradient(g, weight: w, outputGradient: dy, variant: .f4x4),
        conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy).input) <= 1e-4)
  }

  /// Filters transformed once serve any batch of the same convolution.
  @Test func transformedFiltersServeOtherBatches() throws {
    let g = try ConvGeometry(
      batch: 1, inChannels: 4, height: 9, width: 11, outChannels: 6, kernel: 3,
      padding: .same, groups: 2)
    var rng = SeededGenerator(seed: 180)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([6])
    let filters = WinogradFilters(g, weight: w, variant: .f4x4)
    let big = g.withBatch(3)
    let x = rng.tensor(big.inputShape)
    #expect(
      maxRelativeError(
        winogradConv2dForward(big, input: x, filters: filters, bias: b),
        conv2dForwardNaive(big, input: x, weight: w, bias: b)) <= 1e-4)
  }
}
