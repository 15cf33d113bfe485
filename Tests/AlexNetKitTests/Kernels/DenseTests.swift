import AlexNetKit
import TestSupport
import Testing

@Suite struct DenseTests {
  @Test(arguments: [(1, 1, 1), (3, 7, 5), (4, 13, 2), (2, 33, 17)])
  func fastMatchesReference(_ shape: (Int, Int, Int)) {
    let (n, inputs, outputs) = shape
    var rng = SeededGenerator(seed: UInt64(n * 100 + inputs))
    let x = rng.tensor([n, inputs])
    let w = rng.tensor([outputs, inputs])
    let b = rng.tensor([outputs])
    let dy = rng.tensor([n, outputs])
    #expect(
      maxRelativeError(
        denseForward(input: x, weight: w, bias: b), denseForwardNaive(input: x, weight: w, bias: b))
        <= 1e-5)
    let fast = denseBackward(input: x, weight: w, outputGradient: dy)
    let naive = denseBackwardNaive(input: x, weight: w, outputGradient: dy)
    #expect(maxRelativeError(fast.input!, naive.input) <= 1e-5)
    #expect(maxRelativeError(fast.weight, naive.weight) <= 1e-5)
    #expect(maxRelativeError(fast.bias, naive.bias) <= 1e-5)
  }

  @Test func backwardMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 21)
    let x = rng.tensor([3, 6])
    let w = rng.tensor([4, 6])
    let b = rng.tensor([4])
    let y = denseForward(input: x, weight: w, bias: b)
    let analytic = denseBackward(input: x, weight: w, outputGradient: y)
    let loss = { (t: [Tensor]) in
      halfSumOfSquares(denseForward(input: t[0], weight: t[1], bias: t[2]))
    }
    #expect(
      gradientError(analytic.input!, numericalGradient(of: loss, at: [x, w, b], input: 0)) <= 1e-3)
    #expect(
      gradientError(analytic.weight, numericalGradient(of: loss, at: [x, w, b], input: 1)) <= 1e-3)
    #expect(
      gradientError(analytic.bias, numericalGradient(of: loss, at: [x, w, b], input: 2)) <= 1e-3)
  }

  @Test func matrixProductsAgreeWithTripleLoop() {
    var rng = SeededGenerator(seed: 2)
    let (m, n, k) = (7, 9, 11)
    let a = rng.floats(m * k)
    let b = rng.floats(k * n)
    var fast = [Float](repeating: 0, count: m * n)
    var naive = fast
    BLAS.sgemm(a, b, into: &fast, m: m, n: n, k: k)
    BLAS.sgemmNaive(a, b, into: &naive, m: m, n: n, k: k)
    #expect(
      maxRelativeError(
        Tensor(shape: [m, n], scalars: fast), Tensor(shape: [m, n], scalars: naive)) <= 1e-5)
  }
}
