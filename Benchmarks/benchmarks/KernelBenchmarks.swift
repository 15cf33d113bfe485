import AlexNetKit
import Foundation

/// The five convolutions of the 2012 AlexNet at 227x227 input, grouped as in the paper.
func alexNetConvolutions(batch: Int) -> [(name: String, geometry: ConvGeometry)] {
  [
    (
      "conv1",
      try! ConvGeometry(
        batch: batch, inChannels: 3, height: 227, width: 227, outChannels: 96, kernel: 11, stride: 4
      )
    ),
    (
      "conv2",
      try! ConvGeometry(
        batch: batch, inChannels: 96, height: 27, width: 27, outChannels: 256, kernel: 5,
        padding: .explicit(2), groups: 2)
    ),
    (
      "conv3",
      try! ConvGeometry(
        batch: batch, inChannels: 256, height: 13, width: 13, outChannels: 384, kernel: 3,
        padding: .explicit(1))
    ),
    (
      "conv4",
      try! ConvGeometry(
        batch: batch, inChannels: 384, height: 13, width: 13, outChannels: 384, kernel: 3,
        padding: .explicit(1), groups: 2)
    ),
    (
      "conv5",
      try! ConvGeometry(
        batch: batch, inChannels: 384, height: 13, width: 13, outChannels: 256, kernel: 3,
        padding: .explicit(1), groups: 2)
    ),
  ]
}

struct ConvolutionRow: Codable {
  var layer: String
  var geometry: String
  var batch: Int
  var pass: String
  var naiveMilliseconds: Double?
  var gemmMilliseconds: Double
  var gemmGFLOPs: Double
  /// Naive time per image over GEMM time per image (the naive path may run at batch 1 only).
  var speedup: Double?
  /// GFLOP/s of the same SGEMM calls alone, in the same run.
  var bareSGEMMGFLOPs: Double
  /// gemmGFLOPs / bareSGEMMGFLOPs.
  var efficiency: Double
  /// max |GEMM − naive| / max |naive| where the naive path ran.
  var maxRelativeError: Float?
}

/// Times the naive and im2col + GEMM convolutions, forward and backward, against bare SGEMMs
/// of exactly the shapes and counts the GEMM path issues.
func runConvolutionBenchmarks(batches: [Int], naiveBatch: Int, repetitions: Int, only: Set<String>?)
  -> [ConvolutionRow]
{
  var rows: [ConvolutionRow] = []
  var naiveTimes: [String: Double] = [:]  // "conv1 forward" → ms per image
  var rng = SeededGenerator(seed: 1)
  for batch in batches {
    for (name, g) in alexNetConvolutions(batch: batch) where only?.contains(name) ?? true {
      let x = Tensor.randomUniform(g.inputShape, lower: -1, upper: 1, using: &rng)
      let w = Tensor.randomNormal(g.weightShape, standardDeviation: 0.01, using: &rng)
      let b = Tensor.randomUniform([g.outChannels], using: &rng)
      let dy = Tensor.randomUniform(g.outputShape, lower: -1, upper: 1, using: &rng)
      let workspace = Workspace()

      let bare = BareSGEMM(g)
      var fast = Tensor(zeros: [1])
      let (forwardMs, bareForwardMs) = interleavedMedianMilliseconds(
        repetitions: repetitions,
        {
          fast = conv2dForward(g, input: x, weight: w, bias: b, workspace: workspace)
          sink += fast[flat: 0]
        }, bare.forward)
      var backward: (input: Tensor?, weight: Tensor, bias: Tensor)!
      let (backwardMs, bareBackwardMs) = interleavedMedianMilliseconds(
        repetitions: repetitions,
        {
          backward = conv2dBackward(
            g, input: x, weight: w, outputGradient: dy, workspace: workspace)
          sink += backward.weight[flat: 0]
        }, bare.backward)

      var forwardError: Float?
      var backwardError: Float?
      if batch == naiveBatch {
        var naive = Tensor(zeros: [1])
        let naiveForward = medianMilliseconds(repetitions: max(1, repetitions / 2), warmUp: false) {
          naive = conv2dForwardNaive(g, input: x, weight: w, bias: b)
        }
        forwardError = relativeError(fast, naive)
        var naiveBackward: (input: Tensor, weight: Tensor, bias: Tensor)!
        let naiveBackwardMs = medianMilliseconds(
          repetitions: max(1, repetitions / 2), warmUp: false
        ) {
          naiveBackward = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
        }
        backwardError = max(
          relativeError(backward.input!, naiveBackward.input),
          relativeError(backward.weight, naiveBackward.weight))
        naiveTimes["\(name) forward"] = naiveForward / Double(batch)
        naiveTimes["\(name) backward"] = naiveBackwardMs / Double(batch)
      }

      for (pass, ms, bareMs, error, flops) in [
        ("forward", forwardMs, bareForwardMs, forwardError, g.forwardFLOPs),
        ("backward", backwardMs, bareBackwardMs, backwardError, 2 * g.forwardFLOPs),
      ] {
        let naivePerImage = naiveTimes["\(name) \(pass)"]
        let rate = gflops(flops, milliseconds: ms)
        let bareRate = gflops(flops, milliseconds: bareMs)
        rows.append(
          ConvolutionRow(
            layer: name, geometry: g.description, batch: batch, pass: pass,
            naiveMilliseconds: batch == naiveBatch ? naivePerImage.map { $0 * Double(batch) } : nil,
            gemmMilliseconds: ms, gemmGFLOPs: rate,
            speedup: naivePerImage.map { $0 / (ms / Double(batch)) }, bareSGEMMGFLOPs: bareRate,
            efficiency: rate / bareRate, maxRelativeError: error))
      }
    }
  }
  return rows
}

func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
  a.maxAbsoluteDifference(to: b) / max(b.scalars.map(abs).max() ?? 0, .leastNormalMagnitude)
}

/// The SGEMM calls of the GEMM path with nothing around them: per chunk of images and per
/// group, W·cols forward; dY·colsᵀ and Wᵀ·dY backward, on buffers of the same sizes.
final class BareSGEMM {
  let g: ConvGeometry
  let chunks: [Int]
  var weight: [Float], columns: [Float], product: [Float], weightGradient: [Float]

  init(_ g: ConvGeometry) {
    self.g = g
    let chunk = g.imagesPerChunkForBenchmark
    let rows = g.inChannels * g.kernel * g.kernel * chunk * g.outputPlane
    chunks = stride(from: 0, to: g.batch, by: chunk).map { min(chunk, g.batch - $0) }
    weight = [Float](repeating: 0.01, count: g.outChannels * g.columnRows)
    columns = [Float](repeating: 0.5, count: rows)
    product = [Float](repeating: 0, count: max(g.outChannels * chunk * g.outputPlane, rows))
    weightGradient = [Float](repeating: 0, count: g.outChannels * g.columnRows)
  }

  func forward() {
    let outPerGroup = g.outChannels / g.groups
    let patch = g.columnRows
    for images in chunks {
      let n = images * g.outputPlane
      for group in 0..<g.groups {
        columns.withUnsafeBufferPointer { cols in
          product.withUnsafeMutableBufferPointer { out in
            BLAS.sgemm(
              weight, cols.baseAddress! + group * patch * n,
              into: out.baseAddress! + group * outPerGroup * n,
              m: outPerGroup, n: n, k: patch)
          }
        }
      }
    }
    sink += product[0]
  }

  func backward() {
    let outPerGroup = g.outChannels / g.groups
    let patch = g.columnRows
    for images in chunks {
      let n = images * g.outputPlane
      for _ in 0..<g.groups {
        BLAS.sgemm(
          product, columns, transposeB: true, into: &weightGradient, m: outPerGroup, n: patch, k: n,
          beta: 1)
        BLAS.sgemm(
          weight, transposeA: true, product, into: &columns, m: patch, n: n, k: outPerGroup)
      }
    }
    sink += columns[0] + weightGradient[0]
  }
}

/// SGEMM of square matrices, the usual headline figure for a BLAS.
func squareSGEMMGFLOPs(size: Int, repetitions: Int) -> Double {
  var rng = SeededGenerator(seed: 5)
  let a = rng.uniformArray(size * size)
  let b = rng.uniformArray(size * size)
  var c = [Float](repeating: 0, count: size * size)
  let ms = medianMilliseconds(repetitions: repetitions) {
    BLAS.sgemm(a, b, into: &c, m: size, n: size, k: size)
    sink += c[0]
  }
  return gflops(2 * pow(Double(size), 3), milliseconds: ms)
}

extension SeededGenerator {
  mutating func uniformArray(_ count: Int) -> [Float] { (0..<count).map { _ in nextUniform() } }
}

struct ShardingRow: Codable {
  var layer: String
  var batch: Int
  /// Forward and backward with the batch split into one shard per thread, single-threaded GEMMs.
  var shardedMilliseconds: Double
  /// The same with every GEMM over the whole batch on OpenBLAS's threads.
  var wholeBatchMilliseconds: Double
}

/// Batch sharding against whole-batch multithreaded GEMMs, timed alternately in one run: the
/// measurement behind `ComputeContext.shardsBatches` defaulting to true. Both contexts share one
/// workspace, as one caller's alternating steps would.
func runShardingBenchmarks(batch: Int, repetitions: Int, only: Set<String>?) -> [ShardingRow] {
  var rng = SeededGenerator(seed: 4)
  var rows: [ShardingRow] = []
  let shardedContext = ComputeContext.current
  var wholeBatchContext = shardedContext
  wholeBatchContext.shardsBatches = false
  for (name, g) in alexNetConvolutions(batch: batch) where only?.contains(name) ?? true {
    let x = Tensor.randomUniform(g.inputShape, lower: -1, upper: 1, using: &rng)
    let w = Tensor.randomNormal(g.weightShape, standardDeviation: 0.01, using: &rng)
    let dy = Tensor.randomUniform(g.outputShape, lower: -1, upper: 1, using: &rng)
    func step(sharded: Bool) -> () -> Void {
      {
        withComputeContext(sharded ? shardedContext : wholeBatchContext) {
          sink += conv2dForward(g, input: x, weight: w, bias: nil)[flat: 0]
          sink += conv2dBackward(g, input: x, weight: w, outputGradient: dy).weight[flat: 0]
        }
      }
    }
    let (sharded, whole) = interleavedMedianMilliseconds(
      repetitions: repetitions, step(sharded: true), step(sharded: false))
    rows.append(
      ShardingRow(
        layer: name, batch: batch, shardedMilliseconds: sharded, wholeBatchMilliseconds: whole))
  }
  return rows
}
