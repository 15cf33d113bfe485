import TestSupport
import Testing

@testable import AlexNetKit

extension ConvGeometry {
  /// Random `kernel`×`kernel` stride-1 convolutions: odd and even planes up to 17 high and 35
  /// wide (wider than one group of eight tiles), every padding kind including explicit paddings
  /// up to `kernel` (a cropping input gradient), groups 1 to 3, batches 1 to 3.
  static func randomWinogradCases(count: Int, seed: UInt64, kernel: Int = 3) -> [ConvGeometry] {
    var rng = SeededGenerator(seed: seed)
    var cases: [ConvGeometry] = []
    while cases.count < count {
      let groups = rng.int(in: 1...3)
      let padding: Padding = [.valid, .same, .explicit(rng.int(in: 0...kernel))][
        rng.nextInt(below: 3)]
      if let g = try? ConvGeometry(
        batch: rng.int(in: 1...3), inChannels: groups * rng.int(in: 1...4),
        height: rng.int(in: 1...17),
        width: rng.int(in: 1...35), outChannels: groups * rng.int(in: 1...4), kernel: kernel,
        padding: padding,
        groups: groups)
      {
        cases.append(g)
      }
    }
    return cases
  }
}

@Suite struct WinogradTests {
  /// The eight-lane transforms against the matrix products Bᵀ d B, G g Gᵀ and Aᵀ m A.
  @Test func transformsMatchTheirMatrixForms() {
    var rng = SeededGenerator(seed: 5)
    // Four rows of 18 floats hold eight overlapping 4×4 tiles, the l-th from column 2l.
    let rows = (0..<4).map { _ in rng.floats(18) }
    var v = [Float](repeating: 0, count: 16 * 8)
    rows[0].withUnsafeBufferPointer { r0 in
      rows[1].withUnsafeBufferPointer { r1 in
        rows[2].withUnsafeBufferPointer { r2 in
          rows[3].withUnsafeBufferPointer { r3 in
            v.withUnsafeMutableBufferPointer { v in
              winogradInputTransform8(
                rows: (r0.baseAddress!, r1.baseAddress!, r2.baseAddress!, r3.baseAddress!),
                output: v.baseAddress!, stride: 8)
            }
          }
        }
      }
    }
    for lane in 0..<8 {
      let tile = (0..<4).map { r in Array(rows[r][(2 * lane)..<(2 * lane + 4)]) }
      let expected = winogradInputTileNaive(tile)
      for xi in 0..<16 { #expect(abs(v[8 * xi + lane] - expected[xi / 4][xi % 4]) <= 1e-6) }
    }
    let kernel = rng.floats(9)
    var u = [Float](repeating: 0, count: 16)
    for flipped in [false, true] {
      kernel.withUnsafeBufferPointer { k in
        u.withUnsafeMutableBufferPointer {
          winogradFilterTransform(
            k.baseAddress!, flipped: flipped,
            output: $0.baseAddress!, stride: 1)
        }
      }
      func cell(_ r: Int, _ c: Int) -> Float {
        flipped ? kernel[(2 - r) * 3 + 2 - c] : kernel[r * 3 + c]
      }
      let g: [[Float]] = (0..<3).map { r in (0..<3).map { c in cell(r, c) } }
      let expected = winogradFilterTileNaive(g)
      for xi in 0..<16 { #expect(abs(u[xi] - expected[xi / 4][xi % 4]) <= 1e-6) }
    }
    let m = rng.floats(16 * 8)
    let y = m.withUnsafeBufferPointer {
      winogradOutputTransform8(input: $0.baseAddress!, stride: 8)
    }
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<4).map { r in (0..<4).map { c in m[8 * (4 * r + c) + lane] } }
      let expected = winogradOutputTileNaive(tile)
      let got: [[Float]] = [[y.0[lane], y.1[lane]], [y.2[lane], y.3[lane]]]
      for i in 0..<2 { for j in 0..<2 { #expect(abs(got[i][j] - expected[i][j]) <= 1e-5) } }
    }
  }

  /// `count` random cases of its kernel for each variant: F(2×2, 3×3)'s drawn from `seed`,
  /// F(4×4, 3×3)'s from `seed + 100`, F(2×2, 5×5)'s from `seed + 200`, F(3×3, 5×5)'s from
  /// `seed + 300`.
  static func cases(count: Int, seed: UInt64) -> [(WinogradVariant, ConvGeometry)] {
    WinogradVariant.allCases.flatMap { variant in
      ConvGeometry.randomWinogradCases(
        count: count, seed: seed + offset(variant), kernel: variant.kernel
      ).map { (variant, $0) }
    }
  }

  /// `count` random strided cases for each variant (WinogradSpaceToDepth.swift: forward and
  /// weight gradient only), seeded as `cases`: strides 2 to 4, kernels whose ⌈k / s⌉ is the
  /// variant's (so the view kernel is zero-padded for most), odd and even planes, every padding
  /// kind, groups 1 to 3, batches 1 to 3.
  static func stridedCases(count: Int, seed: UInt64) -> [(WinogradVariant, ConvGeometry)] {
    WinogradVariant.allCases.flatMap { variant in
      var rng = SeededGenerator(seed: seed + offset(variant))
      var cases: [(WinogradVariant, ConvGeometry)] = []
      while cases.count < count {
        let stride = rng.int(in: 2...4)
        let kernel = rng.int(in: ((variant.kernel - 1) * stride + 1)...(variant.kernel * stride))
        let groups = rng.int(in: 1...3)
        let padding: Padding = [.valid, .same, .explicit(rng.int(in: 0...kernel / 2))][
          rng.nextInt(below: 3)]
        if let g = try? ConvGeometry(
          batch: rng.int(in: 1...3), inChannels: groups * rng.int(in: 1...3),
          height: rng.int(in: kernel...kernel + 20), width: rng.int(in: kernel...kernel + 40),
          outChannels: groups * rng.int(in: 1...3), kernel: kernel, stride: stride,
          padding: padding, groups: groups)
        {
          cases.append((variant, g))
        }
      }
      return cases
    }
  }

  /// Each variant's data come from seeds 100 apart.
  static func offset(_ variant: WinogradVariant) -> UInt64 {
    switch variant {
    case .f2x2: 0
    case .f4x4: 100
    case .f2x2Kernel5: 200
    case .f3x3Kernel5: 300
    }
  }

  @Test(arguments: cases(count: 40, seed: 71) + stridedCases(count: 16, seed: 301))
  func forwardMatchesReference(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 72 + Self.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([g.outChannels])
    let naive = conv2dForwardNaive(g, input: x, weight: w, bias: b)
    let fast = winogradConv2dForward(g, input: x, weight: w, bias: b, variant: variant)
    #expect(maxRelativeError(fast, naive) <= 1e-4)
    #expect(
      maxRelativeError(
        winogradConv2dForward(
          g, input: x, weight: w, bias: nil, activation: .relu, variant: variant),
        reluForwardNaive(input: conv2dForwardNaive(g, input: x, weight: w, bias: nil))) <= 1e-4)
  }

  @Test(arguments: cases(count: 40, seed: 73))
  func inputGradientMatchesReference(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 74 + Self.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy).input
    let fast = winogradConv2dInputGradient(g, weight: w, outputGradient: dy, variant: variant)
    #expect(maxRelativeError(fast, naive) <= 1e-4)
  }

  /// With a fused ReLU the output gradient is masked where the forward's output was not positive.
  @Test(arguments: cases(count: 12, seed: 75))
  func maskedInputGradientMatchesReference(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 76 + Self.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let y = reluForwardNaive(input: conv2dForwardNaive(g, input: x, weight: w, bias: nil))
    let masked = reluBackwardNaive(output: y, outputGradient: dy)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: masked).input
    let fast = winogradConv2dInputGradient(
      g, weight: w, reluOutput: y, outputGradient: dy, variant: variant)
    #expect(maxRelativeError(fast, naive) <= 1e-4)
  }

  /// The input gradient against central differences of ½·Σy² (y = Winograd forward). The loss is
  /// quadratic in x, so a central difference has no truncation error at any step; F(4×4) takes a
  /// step of 0.25 instead of 0.01 so that its rounding (constants up to 8 and 1/24) does not
  /// dominate the difference quotient (at 0.01 it reached 4e-3 of the gradient on one case);
  /// F(2×2, 5×5) shares its points, and its 25-term sums, so it takes 0.25 too. Inputs of more
  /// than 128 elements are differenced at a sample of 128 positions, the first and last among
  /// them: every element took minutes of a debug build per run.
  @Test(arguments: cases(count: 4, seed: 77))
  func inputGradientMatchesFiniteDifferences(_ variant: WinogradVariant, _ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 78 + Self.offset(variant))
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let y = winogradConv2dForward(g, input: x, weight: w, bias: nil, variant: variant)
    let analytic = winogradConv2dInputGradient(g, weight: w, outputGradient: y, variant: variant)
    let loss = { (t: [Tensor]) in
      halfSumOfSquares(
        winogradConv2dForward(g, input: t[0], weight: w, bias: nil, variant: variant))
    }
    let step: Float = variant == .f2x2 ? 0.01 : 0.25
    let positions = sampledPositions(count: x.count, limit: 128, seed: 78)
    let numeric = numericalGradient(
      of: loss, at: [x], input: 0, positions: positions, step: step)
    #expect(gradientError(analytic, numeric, at: positions) <= 1e-3)
  }

  /// AlexNet's layers at batch 1, with the paper's groups: conv3, conv4 and conv5 (13x13, 256 to
  /// 384 channels) for the 3×3 variants, conv2 of the 2012 net and of torchvision's (27x27, 96 to
  /// 256 and 64 to 192 channels) for F(2×2, 5×5). The transforms' extra roundings (F(4×4)'s
  /// larger constants too) stay within 1e-4 of the reference's scale.
  static let alexNetLayers: [ConvGeometry] = [
    (256, 384, 1, 13, 3), (384, 384, 2, 13, 3), (384, 256, 2, 13, 3), (96, 256, 2, 27, 5),
    (64, 192, 1, 27, 5),
  ].map { shape in
    try! ConvGeometry(
      batch: 1, inChannels: shape.0, height: shape.3, width: shape.3, outChannels: shape.1,
      kernel: shape.4, padding: .explicit(shape.4 / 2), groups: shape.2)
  }

  /// Every variant of the layer's kernel, forward, input gradient and weight and bias gradients,
  /// against one naive forward and backward: at these sizes the naive reference is most of a
  /// debug build's time, so it runs once per layer rather than once per variant and gradient.
  @Test(arguments: alexNetLayers)
  func alexNetLayersMatchReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 79)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let forward = conv2dForwardNaive(g, input: x, weight: w, bias: nil)
    let backward = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    for variant in WinogradVariant.allCases where variant.kernel == g.kernel {
      let y = winogradConv2dForward(g, input: x, weight: w, bias: nil, variant: variant)
      #expect(maxRelativeError(y, forward) <= 1e-4, "\(variant) forward")
      let dx = winogradConv2dInputGradient(g, weight: w, outputGradient: dy, variant: variant)
      #expect(maxRelativeError(dx, backward.input) <= 1e-4, "\(variant) input gradient")
      let dw = winogradConv2dWeightGradient(g, input: x, outputGradient: dy, variant: variant)
      #expect(maxRelativeError(dw.weight, backward.weight) <= 1e-4, "\(variant) weight gradient")
      #expect(maxRelativeError(dw.bias, backward.bias) <= 1e-4, "\(variant) bias gradient")
    }
  }

  /// Filters transformed once serve any batch of the same convolution.
  @Test(arguments: WinogradVariant.allCases)
  func transformedFiltersServeOtherBatches(_ variant: WinogradVariant) throws {
    let g = try ConvGeometry(
      batch: 1, inChannels: 4, height: 9, width: 11, outChannels: 6, kernel: variant.kernel,
      padding: .same, groups: 2)
    var rng = SeededGenerator(seed: 80 + Self.offset(variant))
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([6])
    let filters = WinogradFilters(g, weight: w, variant: variant)
    let big = g.withBatch(3)
    let x = rng.tensor(big.inputShape)
    #expect(
      maxRelativeError(
        winogradConv2dForward(big, input: x, filters: filters, bias: b),
        conv2dForwardNaive(big, input: x, weight: w, bias: b)) <= 1e-4)
  }

  /// Winograd computes 3×3 and 5×5 kernels at stride 1; each variant only its own kernel.
  @Test func supportsThreeByThreeAndFiveByFiveAtStrideOne() throws {
    func g(_ kernel: Int, stride: Int = 1) throws -> ConvGeometry {
      try ConvGeometry(
        batch: 1, inChannels: 1, height: 9, width: 9, outChannels: 1, kernel: kernel,
        stride: stride, padding: .same)
    }
    let (g3, g5) = (try g(3), try g(5))
    #expect(Winograd.supports(g3) && Winograd.supports(g5))
    for other in [try g(3, stride: 2), try g(5, stride: 2), try g(1), try g(7)] {
      #expect(!Winograd.supports(other))
    }
    #expect(WinogradVariant.f4x4.supports(g3) && !WinogradVariant.f4x4.supports(g5))
    #expect(WinogradVariant.f2x2Kernel5.supports(g5) && !WinogradVariant.f2x2Kernel5.supports(g3))
    #expect(ConvolutionAlgorithm.winograd.winogradVariant(for: g5) == .f2x2Kernel5)
    #expect(ConvolutionAlgorithm.winograd4x4.winogradVariant(for: g5) == nil)
    #expect(WinogradVariant.f3x3Kernel5.supports(g5) && !WinogradVariant.f3x3Kernel5.supports(g3))
    #expect(ConvolutionAlgorithm.winograd3x3.winogradVariant(for: g5) == .f3x3Kernel5)
    #expect(ConvolutionAlgorithm.winograd3x3.winogradVariant(for: g3) == nil)
  }
}
