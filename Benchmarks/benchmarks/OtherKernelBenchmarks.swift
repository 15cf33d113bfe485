import AlexNetKit
import Foundation

/// One of AlexNet's kernels outside the GEMMs (LRN, max pooling), naive against fast.
struct OtherKernelRow: Codable {
  var kernel: String
  var shape: [Int]
  var pass: String
  /// The naive reference at batch 1, per image.
  var naiveMillisecondsPerImage: Double
  var fastMilliseconds: Double
  var fastMillisecondsPerImage: Double
  var speedup: Double
  /// Fast against naive at batch 1: max |fast − naive| / max |naive|.
  var maxRelativeError: Float
}

/// LRN and max pooling at the shapes they have in the 2012 AlexNet, forward and backward: the naive
/// reference at batch 1 (also the accuracy check), the fast kernel at `batch`.
func runOtherKernelBenchmarks(batch: Int, repetitions: Int) -> [OtherKernelRow] {
  var rows: [OtherKernelRow] = []
  var rng = SeededGenerator(seed: 2)
  /// Times `naive` (batch 1) and `fast` (batch `batch`), and checks `fastOnOne` (the fast kernel
  /// at batch 1) against the naive result.
  func measure(
    _ kernel: String, _ shape: [Int], _ pass: String, naive: () -> Tensor, fast: () -> Tensor,
    fastOnOne: () -> Tensor
  ) {
    var reference = Tensor(zeros: [1])
    let naiveMs = medianMilliseconds(repetitions: max(1, repetitions / 2), warmUp: false) {
      reference = naive()
    }
    let fastMs = medianMilliseconds(repetitions: repetitions) { sink += fast()[flat: 0] }
    rows.append(
      OtherKernelRow(
        kernel: kernel, shape: shape, pass: pass, naiveMillisecondsPerImage: naiveMs,
        fastMilliseconds: fastMs, fastMillisecondsPerImage: fastMs / Double(batch),
        speedup: naiveMs / (fastMs / Double(batch)),
        maxRelativeError: relativeError(fastOnOne(), reference)))
  }

  for (name, channels, size) in [("lrn1", 96, 55), ("lrn2", 256, 27)] {
    let p = LRNParameters.alexNet
    let one = Tensor.randomUniform([1, channels, size, size], lower: 0, upper: 4, using: &rng)
    let oneGradient = Tensor.randomUniform(one.shape, lower: -1, upper: 1, using: &rng)
    let x = Tensor.randomUniform([batch, channels, size, size], lower: 0, upper: 4, using: &rng)
    let dy = Tensor.randomUniform(x.shape, lower: -1, upper: 1, using: &rng)
    measure(
      name, x.shape, "forward", naive: { localResponseNormForwardNaive(p, input: one) },
      fast: { localResponseNormForward(p, input: x) },
      fastOnOne: { localResponseNormForward(p, input: one) })
    measure(
      name, x.shape, "backward",
      naive: { localResponseNormBackwardNaive(p, input: one, outputGradient: oneGradient) },
      fast: { localResponseNormBackward(p, input: x, outputGradient: dy) },
      fastOnOne: { localResponseNormBackward(p, input: one, outputGradient: oneGradient) })
  }

  for (name, channels, size) in [("pool1", 96, 55), ("pool2", 256, 27), ("pool5", 256, 13)] {
    let g1 = try! PoolGeometry(
      batch: 1, channels: channels, height: size, width: size, window: 3, stride: 2)
    let g = try! PoolGeometry(
      batch: batch, channels: channels, height: size, width: size, window: 3, stride: 2)
    let one = Tensor.randomUniform(g1.inputShape, lower: -1, upper: 1, using: &rng)
    let oneGradient = Tensor.randomUniform(g1.outputShape, lower: -1, upper: 1, using: &rng)
    let x = Tensor.randomUniform(g.inputShape, lower: -1, upper: 1, using: &rng)
    let dy = Tensor.randomUniform(g.outputShape, lower: -1, upper: 1, using: &rng)
    let argmax = maxPool2dForward(g, input: x).argmax
    let argmaxOfOne = maxPool2dForward(g1, input: one).argmax
    measure(
      name, x.shape, "forward", naive: { maxPool2dForwardNaive(g1, input: one) },
      fast: { maxPool2dForward(g, input: x).output },
      fastOnOne: { maxPool2dForward(g1, input: one).output })
    measure(
      name, x.shape, "inference", naive: { maxPool2dForwardNaive(g1, input: one) },
      fast: { maxPool2dInference(g, input: x) }, fastOnOne: { maxPool2dInference(g1, input: one) })
    measure(
      name, x.shape, "backward",
      naive: { maxPool2dBackwardNaive(g1, input: one, outputGradient: oneGradient) },
      fast: { maxPool2dBackward(g, outputGradient: dy, argmax: argmax) },
      fastOnOne: { maxPool2dBackward(g1, outputGradient: oneGradient, argmax: argmaxOfOne) })
  }
  return rows
}

func printOtherKernelTable(_ rows: [OtherKernelRow], batch: Int, repetitions: Int) {
  print(
    "\nAlexNet's LRN and max pooling: naive (batch 1) vs fast (batch \(batch)), median of \(repetitions) ms"
  )
  printTable(
    [
      "kernel", "input", "pass", "naive ms/image", "fast ms", "fast ms/image", "speedup",
      "max rel err",
    ],
    rows.map { r in
      [
        r.kernel, r.shape.map(String.init).joined(separator: "x"), r.pass,
        format(r.naiveMillisecondsPerImage, 2),
        format(r.fastMilliseconds, 2), format(r.fastMillisecondsPerImage, 3),
        format(r.speedup) + "x",
        String(format: "%.1e", r.maxRelativeError),
      ]
    })
}
