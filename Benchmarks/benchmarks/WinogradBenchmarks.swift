import AlexNetKit
import Foundation

struct WinogradRow: Codable {
  var layer: String
  var batch: Int
  /// "forward", or "backward" (weight and bias gradients by im2col in both, input gradient by
  /// im2col + col2im or by Winograd).
  var pass: String
  var gemmMilliseconds: Double
  var winogradMilliseconds: Double
  /// Direct-convolution FLOPs of the pass over the Winograd time.
  var winogradEffectiveGFLOPs: Double
  /// im2col ms over Winograd ms, timed alternately.
  var speedup: Double
  /// max |fast − naive| / max |naive| of each path where the naive ran (batch 1): the forward
  /// output, or the input gradient.
  var gemmError: Float?
  var winogradError: Float?
}

/// The 3×3 stride-1 convolutions of the 2012 AlexNet, im2col + GEMM against Winograd F(2×2, 3×3),
/// forward and backward, timed alternately.
func runWinogradBenchmarks(batches: [Int], repetitions: Int, only: Set<String>?) -> [WinogradRow] {
  var rows: [WinogradRow] = []
  var rng = SeededGenerator(seed: 6)
  for batch in batches {
    for (name, g) in alexNetConvolutions(batch: batch)
    where Winograd.supports(g) && (only?.contains(name) ?? true) {
      let x = Tensor.randomUniform(g.inputShape, lower: -1, upper: 1, using: &rng)
      let w = Tensor.randomNormal(g.weightShape, standardDeviation: 0.01, using: &rng)
      let b = Tensor.randomUniform([g.outChannels], using: &rng)
      let dy = Tensor.randomUniform(g.outputShape, lower: -1, upper: 1, using: &rng)
      let workspace = Workspace()
      var gemmOutput = Tensor(zeros: [1])
      var winogradOutput = gemmOutput
      let (gemmForward, winogradForward) = interleavedMedianMilliseconds(
        repetitions: repetitions,
        {
          gemmOutput = conv2dForward(g, input: x, weight: w, bias: b, workspace: workspace)
          sink += gemmOutput[flat: 0]
        },
        {
          winogradOutput = winogradConv2dForward(
            g, input: x, weight: w, bias: b, workspace: workspace)
          sink += winogradOutput[flat: 0]
        })
      var gemmInputGradient = Tensor(zeros: [1])
      var winogradInputGradient = gemmInputGradient
      let (gemmBackward, winogradBackward) = interleavedMedianMilliseconds(
        repetitions: repetitions,
        {
          let gradients = conv2dBackward(
            g, input: x, weight: w, outputGradient: dy, workspace: workspace)
          gemmInputGradient = gradients.input!
          sink += gradients.weight[flat: 0]
        },
        {
          let gradients = conv2dBackward(
            g, input: x, weight: w, outputGradient: dy, needsInputGradient: false,
            workspace: workspace)
          winogradInputGradient = winogradConv2dInputGradient(
            g, weight: w, outputGradient: dy, workspace: workspace)
          sink += gradients.weight[flat: 0] + winogradInputGradient[flat: 0]
        })
      var errors: [(Float?, Float?)] = [(nil, nil), (nil, nil)]
      if batch == 1 {
        let naive = conv2dForwardNaive(g, input: x, weight: w, bias: b)
        let naiveInput = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy).input
        errors = [
          (relativeError(gemmOutput, naive), relativeError(winogradOutput, naive)),
          (
            relativeError(gemmInputGradient, naiveInput),
            relativeError(winogradInputGradient, naiveInput)
          ),
        ]
      }
      for (i, (pass, gemm, winograd, flops)) in [
        ("forward", gemmForward, winogradForward, g.forwardFLOPs),
        ("backward", gemmBackward, winogradBackward, 2 * g.forwardFLOPs),
      ].enumerated() {
        rows.append(
          WinogradRow(
            layer: name, batch: batch, pass: pass, gemmMilliseconds: gemm,
            winogradMilliseconds: winograd,
            winogradEffectiveGFLOPs: gflops(flops, milliseconds: winograd),
            speedup: gemm / winograd,
            gemmError: errors[i].0, winogradError: errors[i].1))
      }
    }
  }
  return rows
}

func printWinogradTable(_ rows: [WinogradRow], repetitions: Int) {
  print(
    "\n3x3 stride-1 convolutions: im2col + SGEMM vs Winograd F(2x2,3x3), alternating, median of \(repetitions) ms"
  )
  func error(_ e: Float?) -> String { e.map { String(format: "%.1e", $0) } ?? "-" }
  printTable(
    [
      "layer", "batch", "pass", "GEMM ms", "Winograd ms", "effective GFLOP/s", "speedup",
      "GEMM err", "Winograd err",
    ],
    rows.map { r in
      [
        r.layer, "\(r.batch)", r.pass, format(r.gemmMilliseconds, 2),
        format(r.winogradMilliseconds, 2),
        format(r.winogradEffectiveGFLOPs), String(format: "%.2fx", r.speedup), error(r.gemmError),
        error(r.winogradError),
      ]
    })
  print(
    "effective GFLOP/s: direct-convolution FLOPs / Winograd time; backward: weight and bias gradients by"
  )
  print(
    "im2col in both, the input gradient by col2im or by Winograd; err: max |fast - naive| / max |naive| of"
  )
  print("the output (forward) or the input gradient (backward), at batch 1.")
}
