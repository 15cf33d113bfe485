import AlexNetKit

// Helpers shared by the tests: seeded random data, closeness measures and a finite-difference
// gradient checker. A plain target, so every test file sees the same definitions.

extension SeededGenerator {
  /// `count` floats uniform in [-1, 1).
  public mutating func floats(_ count: Int) -> [Float] {
    (0..<count).map { _ in 2 * nextUniform() - 1 }
  }

  /// A tensor with elements uniform in [-1, 1).
  public mutating func tensor(_ shape: [Int]) -> Tensor {
    Tensor.randomUniform(shape, lower: -1, upper: 1, using: &self)
  }

  /// An integer in `range`.
  public mutating func int(in range: ClosedRange<Int>) -> Int {
    range.lowerBound + nextInt(below: range.count)
  }
}

/// max |actual − expected| / max |expected|: the error relative to the reference's scale, so
/// elements near zero do not blow it up.
public func maxRelativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
  precondition(
    actual.shape == expected.shape, "shapes \(actual.shape) and \(expected.shape) differ")
  let scale = max(expected.scalars.map(abs).max() ?? 0, Float.leastNormalMagnitude)
  return actual.maxAbsoluteDifference(to: expected) / scale
}

/// Central finite differences of `loss` with respect to every element of `inputs[index]`,
/// computed in Double from Float evaluations.
public func numericalGradient(
  of loss: ([Tensor]) -> Double, at inputs: [Tensor], input index: Int, step: Float = 1e-2
) -> Tensor {
  let positions = Array(0..<inputs[index].count)
  return Tensor(
    shape: inputs[index].shape,
    scalars: numericalGradient(
      of: loss, at: inputs, input: index, positions: positions, step: step))
}

/// Central finite differences of `loss` at the flat `positions` of `inputs[index]` only: two
/// evaluations per position, so a check of a larger input can afford a sample of them (see
/// `sampledPositions`). Compare with `gradientError(_:_:at:)`.
public func numericalGradient(
  of loss: ([Tensor]) -> Double, at inputs: [Tensor], input index: Int, positions: [Int],
  step: Float = 1e-2
) -> [Float] {
  positions.map { j in
    var plus = inputs
    var minus = inputs
    let value = inputs[index][flat: j]
    plus[index][flat: j] = value + step
    minus[index][flat: j] = value - step
    // The perturbation actually applied, after Float rounding.
    let applied = Double(plus[index][flat: j]) - Double(minus[index][flat: j])
    return Float((loss(plus) - loss(minus)) / applied)
  }
}

/// The flat positions a finite-difference check of `count` elements visits: all of them when
/// there are at most `limit`, otherwise the first, the last and `limit - 2` others drawn without
/// repetition, so that a check's cost does not grow with the random shape it was given.
public func sampledPositions(count: Int, limit: Int, seed: UInt64) -> [Int] {
  precondition(limit >= 2, "a sample of \(limit) positions")
  guard count > limit else { return Array(0..<count) }
  var rng = SeededGenerator(seed: seed)
  var chosen: Set<Int> = [0, count - 1]
  while chosen.count < limit { chosen.insert(rng.nextInt(below: count)) }
  return chosen.sorted()
}

/// ½·Σy², the loss the gradient checks use: its gradient with respect to y is y itself, which
/// differs per element (a plain sum would send ones and hide transposed indices).
public func halfSumOfSquares(_ y: Tensor) -> Double {
  y.scalars.reduce(0) { $0 + 0.5 * Double($1) * Double($1) }
}

/// Largest |analytic − numeric| relative to max(|numeric|, |analytic|, 1) over all elements.
public func gradientError(_ analytic: Tensor, _ numeric: Tensor) -> Double {
  precondition(
    analytic.shape == numeric.shape, "shapes \(analytic.shape) and \(numeric.shape) differ")
  return gradientError(analytic, numeric.scalars, at: Array(0..<analytic.count))
}

/// `gradientError` over the flat `positions` of `analytic` that `numeric` holds, in order.
public func gradientError(_ analytic: Tensor, _ numeric: [Float], at positions: [Int]) -> Double {
  // An empty comparison would pass whatever the gradient.
  precondition(!positions.isEmpty, "a gradient check with no positions")
  precondition(
    numeric.count == positions.count,
    "\(numeric.count) differences for \(positions.count) positions")
  var worst = 0.0
  for (j, n) in zip(positions, numeric) {
    let a = Double(analytic[flat: j])
    worst = max(worst, abs(a - Double(n)) / max(abs(a), abs(Double(n)), 1))
  }
  return worst
}

extension ConvGeometry {
  /// Random small convolutions: odd sizes, strides 1 to 3, valid, same and explicit padding,
  /// groups 1 to 3, batches 1 to 3. Every case is a valid geometry.
  public static func randomCases(count: Int, seed: UInt64) -> [ConvGeometry] {
    var rng = SeededGenerator(seed: seed)
    var cases: [ConvGeometry] = []
    while cases.count < count {
      let groups = rng.int(in: 1...3)
      let padding: Padding = [.valid, .same, .explicit(rng.int(in: 0...2))][rng.nextInt(below: 3)]
      if let g = try? ConvGeometry(
        batch: rng.int(in: 1...3), inChannels: groups * rng.int(in: 1...3),
        height: rng.int(in: 3...11),
        width: rng.int(in: 3...11), outChannels: groups * rng.int(in: 1...3),
        kernel: rng.int(in: 1...5),
        stride: rng.int(in: 1...3), padding: padding, groups: groups)
      {
        cases.append(g)
      }
    }
    return cases
  }
}

/// ‖actual − expected‖ / ‖expected‖ over all elements: one number for a whole gradient, so a
/// single element near a kink (ReLU at 0, a pooling tie) cannot dominate, while a wrong
/// gradient anywhere shows.
public func normRelativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
  precondition(
    actual.shape == expected.shape, "shapes \(actual.shape) and \(expected.shape) differ")
  var difference = 0.0
  var norm = 0.0
  for j in 0..<actual.count {
    let d = Double(actual[flat: j]) - Double(expected[flat: j])
    difference += d * d
    norm += Double(expected[flat: j]) * Double(expected[flat: j])
  }
  return (difference / max(norm, 1e-30)).squareRoot()
}

/// Checks `loss()` against central differences for every element of every listed variable,
/// after one `backward()`. Returns each variable's norm-relative error, by name.
public func gradientErrors(
  of variables: [(name: String, variable: Variable)], step: Float = 1e-2, loss: () -> Variable
) -> [(name: String, error: Double)] {
  for (_, v) in variables { v.zeroGradient() }
  loss().backward()
  return variables.map { name, variable in
    let analytic = variable.grad ?? Tensor(zeros: variable.value.shape)
    var numeric = Tensor(zeros: variable.value.shape)
    let original = variable.value
    for j in 0..<original.count {
      var plus = original
      var minus = original
      plus[flat: j] += step
      minus[flat: j] -= step
      variable.value = plus
      let up = Double(withGradientsDisabled { loss() }.value.scalar)
      variable.value = minus
      let down = Double(withGradientsDisabled { loss() }.value.scalar)
      numeric[flat: j] = Float((up - down) / (Double(plus[flat: j]) - Double(minus[flat: j])))
    }
    variable.value = original
    return (name, normRelativeError(analytic, numeric))
  }
}
