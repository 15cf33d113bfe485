import AlexNetKit
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite struct ConvolutionTests {
  @Test(arguments: ConvGeometry.randomCases(count: 40, seed: 7))
  func forwardMatchesReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 42)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([g.outChannels])
    #expect(
      maxRelativeError(
        conv2dForward(g, input: x, weight: w, bias: b),
        conv2dForwardNaive(g, input: x, weight: w, bias: b)) <= 1e-4)
  }

  @Test(arguments: ConvGeometry.randomCases(count: 40, seed: 8))
  func backwardMatchesReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 43)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let fast = conv2dBackward(g, input: x, weight: w, outputGradient: dy)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    #expect(maxRelativeError(fast.input!, naive.input) <= 1e-4)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-4)
    #expect(maxRelativeError(fast.bias, naive.bias) <= 1e-4)
  }

  /// A fused ReLU against the reference convolution followed by the reference ReLU, forward and
  /// backward (the gradient given is that of the ReLU's output).
  @Test(arguments: ConvGeometry.randomCases(count: 20, seed: 17))
  func fusedReLUMatchesReference(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 45)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([g.outChannels])
    let dy = rng.tensor(g.outputShape)
    let naiveOutput = reluForwardNaive(input: conv2dForwardNaive(g, input: x, weight: w, bias: b))
    let fused = conv2dForward(g, input: x, weight: w, bias: b, activation: .relu)
    #expect(maxRelativeError(fused, naiveOutput) <= 1e-4)
    let naive = conv2dBackwardNaive(
      g, input: x, weight: w,
      outputGradient: reluBackwardNaive(output: naiveOutput, outputGradient: dy))
    let fast = conv2dBackward(g, input: x, weight: w, reluOutput: fused, outputGradient: dy)
    #expect(maxRelativeError(fast.input!, naive.input) <= 1e-4)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-4)
    #expect(maxRelativeError(fast.bias, naive.bias) <= 1e-4)
  }

  /// Strided columns come from each input row split into phases: conv1's 11x11 at stride 4 with
  /// padding 2 on an odd plane, a kernel narrower than its stride, and padding wider than a phase.
  @Test(arguments: [(11, 4, 2, 31, 29), (2, 3, 1, 10, 11), (5, 2, 4, 7, 9), (3, 5, 0, 13, 12)])
  func stridedColumnsMatchReference(
    kernel: Int, stride: Int, padding: Int, height: Int, width: Int
  ) throws {
    let g = try ConvGeometry(
      batch: 2, inChannels: 3, height: height, width: width, outChannels: 4, kernel: kernel,
      stride: stride, padding: .explicit(padding))
    var rng = SeededGenerator(seed: 19)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([4])
    let dy = rng.tensor(g.outputShape)
    #expect(
      maxRelativeError(
        conv2dForward(g, input: x, weight: w, bias: b),
        conv2dForwardNaive(g, input: x, weight: w, bias: b)) <= 1e-4)
    let fast = conv2dBackward(g, input: x, weight: w, outputGradient: dy)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-4)
    #expect(maxRelativeError(fast.input!, naive.input) <= 1e-4)
  }

  /// Chunks of several images per GEMM (the batched path) against the reference.
  @Test func batchedChunksMatchReference() throws {
    let g = try ConvGeometry(
      batch: 5, inChannels: 4, height: 9, width: 8, outChannels: 6, kernel: 3,
      stride: 2, padding: .explicit(1), groups: 2)
    var rng = SeededGenerator(seed: 3)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([6])
    #expect(
      maxRelativeError(
        conv2dForward(g, input: x, weight: w, bias: b),
        conv2dForwardNaive(g, input: x, weight: w, bias: b)) <= 1e-4)
  }

  /// Planes of 1024 or more positions run one image per GEMM, so a batch of 3 makes three chunks:
  /// the first writes the weight and bias gradients, the others add to them.
  @Test func backwardOverSeveralChunksMatchesReference() throws {
    let g = try ConvGeometry(
      batch: 3, inChannels: 2, height: 34, width: 35, outChannels: 4, kernel: 3,
      padding: .explicit(1), groups: 2)
    var rng = SeededGenerator(seed: 13)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let fast = conv2dBackward(g, input: x, weight: w, outputGradient: dy)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-4)
    #expect(maxRelativeError(fast.bias, naive.bias) <= 1e-4)
    #expect(maxRelativeError(fast.input!, naive.input) <= 1e-4)
  }

  /// With two or more threads a batch of 5 splits into shards: the first shard's gradients go
  /// where the caller asked, the others' are summed in after. Accumulating onto existing gradients
  /// must add the whole batch's once. (OpenBLAS's thread count meanwhile: ParallelTests.)
  @Test func shardedBackwardAccumulatesOnce() throws {
    let g = try ConvGeometry(
      batch: 5, inChannels: 4, height: 11, width: 10, outChannels: 6, kernel: 3,
      stride: 2, padding: .explicit(1), groups: 2)
    var rng = SeededGenerator(seed: 14)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let dy = rng.tensor(g.outputShape)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    var dw = Tensor(shape: g.weightShape, repeating: 1)
    var db = Tensor(shape: [6], repeating: 1)
    x.withUnsafeBufferPointer { x in
      w.withUnsafeBufferPointer { w in
        dy.withUnsafeBufferPointer { dy in
          dw.withUnsafeMutableBufferPointer { dw in
            db.withUnsafeMutableBufferPointer { db in
              conv2dBackward(
                g, input: x.baseAddress!, weight: w.baseAddress!, outputGradient: dy.baseAddress!,
                inputGradient: nil, weightGradient: dw.baseAddress!, biasGradient: db.baseAddress!,
                accumulate: true, workspace: Workspace())
            }
          }
        }
      }
    }
    #expect(maxRelativeError(dw, naive.weight + Tensor(shape: g.weightShape, repeating: 1)) <= 1e-4)
    #expect(maxRelativeError(db, naive.bias + Tensor(shape: [6], repeating: 1)) <= 1e-4)
  }

  /// Several threads running sharded backwards at once share the pool threads: a pool thread may
  /// run another caller's shard before the first caller has summed the partial gradients, so those
  /// must live in workspaces the caller owns, not the pool thread's.
  @Test func concurrentShardedBackwardsKeepTheirPartials() throws {
    let callers = 6
    let repeats = 8
    let cases = try (0..<callers).map { caller in
      let g = try ConvGeometry(
        batch: 4, inChannels: 2, height: 7 + caller, width: 6, outChannels: 3 + caller,
        kernel: 3, padding: .explicit(1))
      var rng = SeededGenerator(seed: UInt64(60 + caller))
      let x = rng.tensor(g.inputShape)
      let w = rng.tensor(g.weightShape)
      let dy = rng.tensor(g.outputShape)
      return (g, x, w, dy, conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy))
    }
    // Callers on threads of their own (a nested concurrentPerform would run inline).
    let worst = Mutex([Float](repeating: 0, count: callers))
    let done = DispatchGroup()
    for caller in 0..<callers {
      done.enter()
      Thread {
        let (g, x, w, dy, naive) = cases[caller]
        for _ in 0..<repeats {
          let fast = conv2dBackward(g, input: x, weight: w, outputGradient: dy)
          let error = max(
            maxRelativeError(fast.weight, naive.weight), maxRelativeError(fast.bias, naive.bias),
            maxRelativeError(fast.input!, naive.input))
          worst.withLock { $0[caller] = max($0[caller], error) }
        }
        done.leave()
      }.start()
    }
    done.wait()
    let errors = worst.withLock { $0 }
    #expect(errors.max()! <= 1e-4, "worst relative error per caller: \(errors)")
  }

  @Test(arguments: ConvGeometry.randomCases(count: 6, seed: 9))
  func backwardMatchesFiniteDifferences(_ g: ConvGeometry) {
    var rng = SeededGenerator(seed: 44)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([g.outChannels])
    let y = conv2dForward(g, input: x, weight: w, bias: b)
    let analytic = conv2dBackward(g, input: x, weight: w, outputGradient: y)
    let loss = { (t: [Tensor]) in
      halfSumOfSquares(conv2dForward(g, input: t[0], weight: t[1], bias: t[2]))
    }
    let inputs = [x, w, b]
    #expect(
      gradientError(analytic.input!, numericalGradient(of: loss, at: inputs, input: 0)) <= 1e-3)
    #expect(
      gradientError(analytic.weight, numericalGradient(of: loss, at: inputs, input: 1)) <= 1e-3)
    #expect(gradientError(analytic.bias, numericalGradient(of: loss, at: inputs, input: 2)) <= 1e-3)
  }

  /// The 2012 paper's first layer: 227x227x3 through 96 kernels 11x11 stride 4 gives 55x55x96.
  @Test func alexNetFirstLayerShape() throws {
    let g = try ConvGeometry(
      batch: 1, inChannels: 3, height: 227, width: 227, outChannels: 96, kernel: 11, stride: 4)
    #expect(g.outputShape == [1, 96, 55, 55])
    let same = try ConvGeometry(
      batch: 1, inChannels: 3, height: 227, width: 227, outChannels: 96, kernel: 11,
      stride: 4, padding: .same)
    #expect(same.outputShape == [1, 96, 57, 57])
    #expect(same.padTop == 4)
  }

  @Test func badShapesNameTheShapes() {
    #expect(throws: ShapeError.self) {
      try ConvGeometry(batch: 1, inChannels: 3, height: 5, width: 5, outChannels: 4, kernel: 7)
    }
    do {
      _ = try ConvGeometry(
        batch: 1, inChannels: 96, height: 27, width: 27, outChannels: 256, kernel: 5,
        padding: .explicit(2), groups: 5)
      Issue.record("groups that do not divide the channels were accepted")
    } catch {
      #expect(error.message.contains("[1, 96, 27, 27]"))
      #expect(error.message.contains("5 groups"))
    }
  }
}
