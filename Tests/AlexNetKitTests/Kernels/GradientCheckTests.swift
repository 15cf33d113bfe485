import AlexNetKit
import TestSupport
import Testing

/// The finite-difference checker itself: a sampled check visits what it says, and it notices a
/// wrong gradient at a position it visits.
@Suite struct GradientCheckTests {
  @Test func smallInputsAreVisitedWhole() {
    #expect(sampledPositions(count: 5, limit: 128, seed: 1) == [0, 1, 2, 3, 4])
    #expect(sampledPositions(count: 128, limit: 128, seed: 1) == Array(0..<128))
  }

  @Test func largeInputsAreSampledWithTheirEnds() {
    let positions = sampledPositions(count: 10_000, limit: 128, seed: 7)
    #expect(positions.count == 128)
    #expect(Set(positions).count == 128)
    #expect(positions == positions.sorted())
    #expect(positions.first == 0 && positions.last == 9_999)
    #expect(positions == sampledPositions(count: 10_000, limit: 128, seed: 7))
    #expect(positions != sampledPositions(count: 10_000, limit: 128, seed: 8))
  }

  /// ½·Σ(c·x)² has the gradient c²·x. The sampled check agrees with it, and flags it once one
  /// visited element is wrong.
  @Test func aSampledCheckFindsAWrongElement() {
    var rng = SeededGenerator(seed: 3)
    let x = rng.tensor([3, 7, 11])
    let loss = { (t: [Tensor]) in halfSumOfSquares(t[0] * 1.5) }
    let positions = sampledPositions(count: x.count, limit: 16, seed: 4)
    let numeric = numericalGradient(of: loss, at: [x], input: 0, positions: positions)
    var analytic = x * 2.25
    #expect(gradientError(analytic, numeric, at: positions) <= 1e-3)
    analytic[flat: positions[5]] += 0.1
    #expect(gradientError(analytic, numeric, at: positions) > 1e-2)
  }
}
