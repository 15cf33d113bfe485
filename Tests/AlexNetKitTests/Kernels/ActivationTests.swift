import AlexNetKit
import TestSupport
import Testing

@Suite struct ActivationTests {
  @Test func reluMatchesDefinition() {
    var rng = SeededGenerator(seed: 1)
    let x = rng.tensor([3, 70_001])
    let dy = rng.tensor([3, 70_001])  // large enough to run in parallel
    let y = reluForward(input: x)
    #expect(y == reluForwardNaive(input: x))
    #expect(
      reluBackward(output: y, outputGradient: dy)
        == reluBackwardNaive(output: y, outputGradient: dy))
    // The tutorial's example: [1, -2, 0, 0.32] → [1, 0, 0, 0.32].
    #expect(
      reluForward(input: Tensor(shape: [4], scalars: [1, -2, 0, 0.32])).scalars == [1, 0, 0, 0.32])
  }

  @Test func reluBackwardMatchesFiniteDifferences() {
    // Values kept at least 0.1 away from the kink at 0.
    let x = Tensor(shape: [2, 5], scalars: [0.5, -0.3, 1.2, -1, 0.1, -0.2, 0.7, 0.9, -0.6, 0.3])
    let y = reluForward(input: x)
    let numeric = numericalGradient(
      of: { halfSumOfSquares(reluForward(input: $0[0])) }, at: [x], input: 0, step: 1e-2)
    #expect(gradientError(reluBackward(output: y, outputGradient: y), numeric) <= 1e-3)
  }

  /// The fast tanh (parallel chunks, eight-lane backward with a scalar tail) against the
  /// definition, on a size that is neither a multiple of eight nor one chunk.
  @Test func tanhMatchesDefinition() {
    var rng = SeededGenerator(seed: 2)
    let x = rng.tensor([3, 40_003]) * 4  // into both saturated tails
    let dy = rng.tensor([3, 40_003])
    let y = tanhForward(input: x)
    #expect(y == tanhForwardNaive(input: x))
    #expect(y.scalars.allSatisfy { abs($0) < 1 } && y.scalars.contains { abs($0) > 0.99 })
    #expect(
      maxRelativeError(
        tanhBackward(output: y, outputGradient: dy),
        tanhBackwardNaive(output: y, outputGradient: dy)) <= 1e-6)
    // tanh(0) = 0, tanh(±∞) = ±1, tanh(0.5) = 0.46211716 (math.tanh(0.5) in Python).
    let known = tanhForward(input: Tensor(shape: [4], scalars: [0, -.infinity, .infinity, 0.5]))
    #expect(known.scalars[0..<3] == [0, -1, 1] && abs(known.scalars[3] - 0.46211716) < 1e-7)
  }

  /// The autograd op and the layer, against central differences (tanh is smooth: no kinks to
  /// avoid), with odd sizes so the vector loop's scalar tail is exercised.
  @Test func tanhBackwardMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 6)
    let x = rng.tensor([3, 11]) * 2
    let input = Variable(x, requiresGradient: true)
    let y = Tanh()(input)
    y.backward(gradient: y.value)
    let numeric = numericalGradient(
      of: { halfSumOfSquares(tanhForwardNaive(input: $0[0])) }, at: [x], input: 0, step: 1e-2)
    #expect(gradientError(input.grad!, numeric) <= 1e-3)
  }

  /// Training-mode dropout against finite differences, the mask re-drawn from the same seed at
  /// every evaluation so the function is fixed.
  @Test func dropoutBackwardMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 5)
    let x = rng.tensor([3, 7])
    func forward(_ input: Variable) -> Variable {
      var generator = SeededGenerator(seed: 11)
      return input.dropout(rate: 0.4, training: true, generator: &generator)
    }
    let input = Variable(x, requiresGradient: true)
    let y = forward(input)
    y.backward(gradient: y.value)
    let numeric = numericalGradient(
      of: { halfSumOfSquares(forward(Variable($0[0])).value) }, at: [x], input: 0)
    #expect(gradientError(input.grad!, numeric) <= 1e-3)
    #expect(input.grad!.scalars.contains(0))  // some units were dropped
  }

  @Test func dropoutIsInvertedAndSeeded() {
    var a = SeededGenerator(seed: 9)
    var b = SeededGenerator(seed: 9)
    let mask = dropoutMask(shape: [100_000], rate: 0.5, using: &a)
    #expect(mask == dropoutMask(shape: [100_000], rate: 0.5, using: &b))
    #expect(Set(mask.scalars) == [0, 2])
    // Kept fraction near 1 − rate; the expected value of the output equals the input.
    #expect(abs(mask.mean() - 1) < 0.02)
    let x = Tensor(shape: [100_000], repeating: 3)
    #expect(dropoutForward(input: x, mask: mask) == x * mask)
  }

  /// A sample's mask drawn from its row seed is the same whatever the batch around it: one batch
  /// of five rows equals the rows drawn two and three at a time (a rank's shard), and differs
  /// from row to row; the kept fraction is near 1 − rate.
  @Test func perSampleMasksDoNotDependOnTheBatch() {
    let seeds: [UInt64] = (0..<5).map { dropoutRowSeed(layerSeed: 3, sampleKey: UInt64($0)) }
    let whole = dropoutMask(shape: [5, 2, 3, 7], rate: 0.3, rowSeeds: seeds)
    let first = dropoutMask(shape: [2, 2, 3, 7], rate: 0.3, rowSeeds: Array(seeds[0..<2]))
    let rest = dropoutMask(shape: [3, 2, 3, 7], rate: 0.3, rowSeeds: Array(seeds[2...]))
    #expect(whole.scalars == first.scalars + rest.scalars)
    #expect(whole.scalars[0..<42] != whole.scalars[42..<84])
    #expect(Set(whole.scalars) == [0, 1 / 0.7])
    let large = dropoutMask(shape: [4, 25_000], rate: 0.3, rowSeeds: Array(seeds[0..<4]))
    #expect(abs(large.mean() - 1) < 0.02)
    // Rows wide as fc6's input are drawn on both cores: the same as drawn one row at a time
    // (on one core, both run serially).
    let wide = dropoutMask(shape: [5, 9216], rate: 0.5, rowSeeds: seeds)
    let rowByRow = seeds.flatMap {
      dropoutMask(shape: [1, 9216], rate: 0.5, rowSeeds: [$0]).scalars
    }
    #expect(wide.scalars.indices.filter { wide.scalars[$0] != rowByRow[$0] }.isEmpty)
    // Neighbouring layer seeds and sample keys give unrelated masks.
    let other = dropoutMask(
      shape: [1, 42], rate: 0.3, rowSeeds: [dropoutRowSeed(layerSeed: 2, sampleKey: 1)])
    #expect(other.scalars != Array(whole.scalars[42..<84]))
  }

  /// The per-sample dropout against finite differences (the same row seeds at every evaluation).
  @Test func perSampleDropoutBackwardMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 6)
    let x = rng.tensor([3, 2, 5])
    let seeds: [UInt64] = [7, 8, 9]
    func forward(_ input: Variable) -> Variable {
      input.dropout(rate: 0.4, training: true, rowSeeds: seeds)
    }
    let input = Variable(x, requiresGradient: true)
    let y = forward(input)
    y.backward(gradient: y.value)
    let numeric = numericalGradient(
      of: { halfSumOfSquares(forward(Variable($0[0])).value) }, at: [x], input: 0)
    #expect(gradientError(input.grad!, numeric) <= 1e-3)
    #expect(input.grad!.scalars.contains(0))
  }
}
