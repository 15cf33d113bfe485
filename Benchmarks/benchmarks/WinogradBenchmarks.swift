import AlexNetKit
import Foundation

struct WinogradRow: Codable {
  var layer: String
  var batch: Int
  /// "forward", or "backward" (weight and bias gradients by im2col in all, input gradient by
  /// im2col + col2im or by Winograd).
  var pass: String
  var gemmMilliseconds: Double
  /// F(2×2, 3×3), or F(2×2, 5×5) for 5×5 kernels.
  var winogradMilliseconds: Double
  /// Direct-convolution FLOPs of the pass over the F(2×2) time.
  var winogradEffectiveGFLOPs: Double
  /// im2col ms over F(2×2) ms, timed alternately.
  var speedup: Double
  /// The larger tiles, F(4×4, 3×3) or F(3×3, 5×5), timed in turn with the other two.
  var largeTileMilliseconds: Double?
  var largeTileEffectiveGFLOPs: Double?
  /// im2col ms over the larger tiles' ms.
  var largeTileSpeedup: Double?
  /// Backward rows: the weight and bias gradients alone, by im2col and by F(2×2, r×r), timed in
  /// turn with the others.
  var weightGradientMilliseconds: Double?
  var winogradWeightGradientMilliseconds: Double?
  /// max |fast − naive| / max |naive| of each path where the naive ran (batch 1): the forward
  /// output, or the input gradient.
  var gemmError: Float?
  var winogradError: Float?
  var largeTileError: Float?
}

/// The stride-1 3×3 convolutions of `resnet-small` at 128 px (32 to 256 channels, planes 32x32
/// down to 4x4): where F(4×4)'s 4×4 blocks waste less of the plane than at AlexNet's 13x13.
func resNetSmallConvolutions(batch: Int) -> [(name: String, geometry: ConvGeometry)] {
  [(32, 32), (64, 16), (128, 8), (256, 4)].enumerated().map { stage, shape in
    (
      "layer\(stage + 1)",
      try! ConvGeometry(
        batch: batch, inChannels: shape.0, height: shape.1, width: shape.1, outChannels: shape.0,
        kernel: 3, padding: .explicit(1))
    )
  }
}

/// The 3×3 and 5×5 stride-1 convolutions of the 2012 AlexNet (conv2-5) and of `resnet-small`,
/// im2col + GEMM against Winograd F(2×2, r×r) and, for 3×3, F(4×4, 3×3), forward and backward,
/// timed in turn; and the two AlexNets' 11×11 stride-4 conv1, forward only, by the 3×3 variants
/// through space to depth.
func runWinogradBenchmarks(batches: [Int], repetitions: Int, only: Set<String>?) -> [WinogradRow] {
  var rows: [WinogradRow] = []
  var rng = SeededGenerator(seed: 6)
  for batch in batches {
    let tvConv1 = try! ConvGeometry(
      batch: batch, inChannels: 3, height: 224, width: 224, outChannels: 64, kernel: 11,
      stride: 4, padding: .explicit(2))
    let tvConv2 = try! ConvGeometry(
      batch: batch, inChannels: 64, height: 27, width: 27, outChannels: 192, kernel: 5,
      padding: .explicit(2))
    for (name, g) in alexNetConvolutions(batch: batch)
      + [("tv-conv1", tvConv1), ("tv-conv2", tvConv2)] + resNetSmallConvolutions(batch: batch)
    where Winograd.supportsForwardAndWeightGradient(g) && (only?.contains(name) ?? true) {
      let x = Tensor.randomUniform(g.inputShape, lower: -1, upper: 1, using: &rng)
      let w = Tensor.randomNormal(g.weightShape, standardDeviation: 0.01, using: &rng)
      let b = Tensor.randomUniform([g.outChannels], using: &rng)
      let dy = Tensor.randomUniform(g.outputShape, lower: -1, upper: 1, using: &rng)
      let (forward, backward, outputs, inputGradients) = timeWinogradPasses(
        g, input: x, weight: w, bias: b, outputGradient: dy, repetitions: repetitions)
      var pathErrors = [[Float?]](repeating: [nil, nil, nil], count: 2)
      if batch == 1 {
        func errors(_ paths: [Tensor], _ reference: Tensor) -> [Float?] {
          (0..<3).map { $0 < paths.count ? relativeError(paths[$0], reference) : nil }
        }
        pathErrors[0] = errors(outputs, conv2dForwardNaive(g, input: x, weight: w, bias: b))
        if Winograd.supports(g) {
          let naiveInput = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy).input
          pathErrors[1] = errors(inputGradients, naiveInput)
        }
      }
      let hasLargeTile = [WinogradVariant.f4x4, .f3x3Kernel5].contains {
        $0.supportsForwardAndWeightGradient(g)
      }
      // A strided shape's second row is its weight gradient alone (its input gradient is im2col's).
      let passes = [
        ("forward", forward, g.forwardFLOPs),
        Winograd.supports(g)
          ? ("backward", backward, 2 * g.forwardFLOPs)
          : ("weight gradient", backward, g.forwardFLOPs),
      ]
      for (i, (pass, times, flops)) in passes.enumerated() {
        rows.append(
          WinogradRow(
            layer: name, batch: batch, pass: pass, gemmMilliseconds: times[0],
            winogradMilliseconds: times[1],
            winogradEffectiveGFLOPs: gflops(flops, milliseconds: times[1]),
            speedup: times[0] / times[1], largeTileMilliseconds: hasLargeTile ? times[2] : nil,
            largeTileEffectiveGFLOPs: hasLargeTile ? gflops(flops, milliseconds: times[2]) : nil,
            largeTileSpeedup: hasLargeTile ? times[0] / times[2] : nil,
            weightGradientMilliseconds: pass == "backward" ? times[times.count - 2] : nil,
            winogradWeightGradientMilliseconds: pass == "backward" ? times.last : nil,
            gemmError: pathErrors[i][0], winogradError: pathErrors[i][1],
            largeTileError: pathErrors[i][2]))
      }
    }
  }
  return rows
}

/// The forward and the backward of `g` by im2col and each Winograd variant, timed in turn: the
/// medians (im2col first) and each path's last output and input gradient. A strided `g` (forward
/// only on the Winograd path) gets no backward times.
func timeWinogradPasses(
  _ g: ConvGeometry, input x: Tensor, weight w: Tensor, bias b: Tensor, outputGradient dy: Tensor,
  repetitions: Int
) -> (forward: [Double], backward: [Double], outputs: [Tensor], inputGradients: [Tensor]) {
  let workspace = Workspace()
  // F(2×2, r×r) first, then the larger tiles, F(4×4, 3×3) or F(3×3, 5×5).
  let variants = [WinogradVariant.f2x2, .f2x2Kernel5, .f4x4, .f3x3Kernel5].filter {
    $0.supportsForwardAndWeightGradient(g)
  }
  // Index 0: im2col; then one per variant.
  var outputs = [Tensor](repeating: Tensor(zeros: [1]), count: 1 + variants.count)
  var inputGradients = outputs
  let im2colForward = {
    outputs[0] = conv2dForward(g, input: x, weight: w, bias: b, workspace: workspace)
    sink += outputs[0][flat: 0]
  }
  let winogradForwards = variants.enumerated().map { i, variant in
    {
      outputs[i + 1] = winogradConv2dForward(
        g, input: x, weight: w, bias: b, workspace: workspace, variant: variant)
      sink += outputs[i + 1][flat: 0]
    }
  }
  let forward = interleavedMedians(
    repetitions: repetitions, [im2colForward] + winogradForwards)
  guard Winograd.supports(g) else {
    let weightGradients = interleavedMedians(
      repetitions: repetitions,
      [{ weightGradientByIm2col(g, input: x, weight: w, outputGradient: dy, workspace) }]
        + variants.map { variant in
          { weightGradientByWinograd(g, input: x, outputGradient: dy, workspace, variant) }
        })
    return (forward, weightGradients, outputs, [])
  }
  let im2colBackward = {
    let gradients = conv2dBackward(g, input: x, weight: w, outputGradient: dy, workspace: workspace)
    inputGradients[0] = gradients.input!
    sink += gradients.weight[flat: 0]
  }
  let winogradBackwards = variants.enumerated().map { i, variant in
    {
      let gradients = winogradConv2dWeightGradient(
        g, input: x, outputGradient: dy, workspace: workspace, variant: variant)
      inputGradients[i + 1] = winogradConv2dInputGradient(
        g, weight: w, outputGradient: dy, workspace: workspace, variant: variant)
      sink += gradients.weight[flat: 0] + inputGradients[i + 1][flat: 0]
    }
  }
  let backward = interleavedMedians(
    repetitions: repetitions,
    [im2colBackward] + winogradBackwards + [
      { weightGradientByIm2col(g, input: x, weight: w, outputGradient: dy, workspace) },
      { weightGradientByWinograd(g, input: x, outputGradient: dy, workspace, variants[0]) },
    ])
  return (forward, backward, outputs, inputGradients)
}

/// The weight and bias gradients of `g` alone by im2col.
func weightGradientByIm2col(
  _ g: ConvGeometry, input x: Tensor, weight w: Tensor, outputGradient dy: Tensor,
  _ workspace: Workspace
) {
  let gradients = conv2dBackward(
    g, input: x, weight: w, outputGradient: dy, needsInputGradient: false, workspace: workspace)
  sink += gradients.weight[flat: 0]
}

/// The weight and bias gradients of `g` alone by Winograd `variant`.
func weightGradientByWinograd(
  _ g: ConvGeometry, input x: Tensor, outputGradient dy: Tensor, _ workspace: Workspace,
  _ variant: WinogradVariant
) {
  let gradients = winogradConv2dWeightGradient(
    g, input: x, outputGradient: dy, workspace: workspace, variant: variant)
  sink += gradients.weight[flat: 0]
}

func printWinogradTable(_ rows: [WinogradRow], repetitions: Int) {
  print(
    "\n3x3 and 5x5 stride-1 convolutions (and conv1 through space to depth: forward and weight"
      + " gradient):"
      + " im2col + SGEMM vs Winograd F(2x2,rxr) and larger tiles,"
      + " in turn,"
      + " median of \(repetitions) ms")
  func error(_ e: Float?) -> String { e.map { String(format: "%.1e", $0) } ?? "-" }
  printTable(
    [
      "layer", "batch", "pass", "GEMM ms", "F2 ms", "F2 GFLOP/s", "F2 speedup", "F4|F3 ms",
      "F4|F3 GFLOP/s", "F4|F3 speedup", "dW ms", "F2 dW ms", "GEMM err", "F2 err", "F4|F3 err",
    ],
    rows.map { r in
      [
        r.layer, "\(r.batch)", r.pass, format(r.gemmMilliseconds, 2),
        format(r.winogradMilliseconds, 2), format(r.winogradEffectiveGFLOPs),
        String(format: "%.2fx", r.speedup), format(r.largeTileMilliseconds, 2),
        format(r.largeTileEffectiveGFLOPs),
        r.largeTileSpeedup.map { String(format: "%.2fx", $0) } ?? "-",
        format(r.weightGradientMilliseconds, 2), format(r.winogradWeightGradientMilliseconds, 2),
        error(r.gemmError), error(r.winogradError), error(r.largeTileError),
      ]
    })
  print(
    "F2: Winograd F(2x2,3x3), or F(2x2,5x5) for conv2 (5x5); F4|F3: F(4x4,3x3), or F(3x3,5x5)"
      + " for 5x5;"
      + " GFLOP/s: effective, direct-convolution FLOPs / time;"
  )
  print(
    "backward: every gradient by im2col (GEMM) or by that Winograd variant;")
  print("dW, F2 dW: the weight and bias gradients alone, by im2col and by F2;")
  print(
    "err: max |fast - naive| / max |naive| of the output (forward) or the input gradient"
      + " (backward), at batch 1.")
}
