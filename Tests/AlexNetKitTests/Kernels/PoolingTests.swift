import AlexNetKit
import TestSupport
import Testing

extension PoolGeometry {
  /// Random small poolings: windows 1 to 4, strides 1 to 3, valid, same and explicit padding.
  static func randomCases(count: Int, seed: UInt64) -> [PoolGeometry] {
    var rng = SeededGenerator(seed: seed)
    var cases: [PoolGeometry] = []
    while cases.count < count {
      let window = rng.int(in: 1...4)
      let padding: Padding = [.valid, .same, .explicit(rng.int(in: 0...(window / 2)))][
        rng.nextInt(below: 3)]
      if let g = try? PoolGeometry(
        batch: rng.int(in: 1...3), channels: rng.int(in: 1...4), height: rng.int(in: 3...11),
        width: rng.int(in: 3...11), window: window, stride: rng.int(in: 1...3), padding: padding)
      {
        cases.append(g)
      }
    }
    return cases
  }
}

@Suite struct PoolingTests {
  @Test(arguments: PoolGeometry.randomCases(count: 40, seed: 11))
  func forwardAndBackwardMatchReference(_ g: PoolGeometry) {
    var rng = SeededGenerator(seed: 5)
    let x = rng.tensor(g.inputShape)
    let dy = rng.tensor(g.outputShape)
    let fast = maxPool2dForward(g, input: x)
    #expect(fast.output == maxPool2dForwardNaive(g, input: x))
    #expect(maxPool2dInference(g, input: x) == fast.output)
    #expect(
      maxRelativeError(
        maxPool2dBackward(g, outputGradient: dy, argmax: fast.argmax),
        maxPool2dBackwardNaive(g, input: x, outputGradient: dy)) <= 1e-6)
  }

  /// Inputs of only 0, 1 and 2 (as after a ReLU, many windows tie): each gradient must go to the
  /// first maximum in row-major order, as the reference's; planes up to 21 wide cover the
  /// eight-column vector steps and their remainders.
  @Test(arguments: 0..<12)
  func tiesGoToTheFirstMaximumInRowMajorOrder(_ seed: Int) throws {
    var rng = SeededGenerator(seed: UInt64(100 + seed))
    let window = rng.int(in: 2...4)
    let g = try PoolGeometry(
      batch: 2, channels: 2, height: rng.int(in: 4...21), width: rng.int(in: 4...21),
      window: window, stride: rng.int(in: 1...3),
      padding: [.valid, .same, .explicit(window / 2)][seed % 3])
    let x = Tensor(
      shape: g.inputShape,
      scalars: (0..<g.inputShape.reduce(1, *)).map { _ in Float(rng.nextInt(below: 3)) })
    let dy = rng.tensor(g.outputShape)
    let fast = maxPool2dForward(g, input: x)
    #expect(fast.output == maxPool2dForwardNaive(g, input: x))
    #expect(maxPool2dInference(g, input: x) == fast.output)
    #expect(
      maxPool2dBackward(g, outputGradient: dy, argmax: fast.argmax)
        == maxPool2dBackwardNaive(g, input: x, outputGradient: dy))
  }

  @Test(arguments: PoolGeometry.randomCases(count: 6, seed: 12))
  func backwardMatchesFiniteDifferences(_ g: PoolGeometry) {
    // Distinct, well-separated values: no ties, and a step of 1e-2 never changes the winner.
    var rng = SeededGenerator(seed: 6)
    var values = (0..<(g.inputShape.reduce(1, *))).map { Float($0) * 0.1 }
    values.shuffle(using: &rng)
    let x = Tensor(shape: g.inputShape, scalars: values)
    let forward = maxPool2dForward(g, input: x)
    let analytic = maxPool2dBackward(g, outputGradient: forward.output, argmax: forward.argmax)
    let numeric = numericalGradient(
      of: { halfSumOfSquares(maxPool2dForward(g, input: $0[0]).output) }, at: [x], input: 0)
    #expect(gradientError(analytic, numeric) <= 1e-3)
  }

  /// AlexNet's overlapping pooling: 55x55 with 3x3 windows at stride 2 gives 27x27, then 13, then 6.
  @Test func overlappingPoolingShapes() throws {
    #expect(
      try PoolGeometry(batch: 1, channels: 96, height: 55, width: 55, window: 3, stride: 2)
        .outputShape == [1, 96, 27, 27])
    #expect(
      try PoolGeometry(batch: 1, channels: 256, height: 27, width: 27, window: 3, stride: 2)
        .outHeight == 13)
    #expect(
      try PoolGeometry(batch: 1, channels: 256, height: 13, width: 13, window: 3, stride: 2)
        .outHeight == 6)
    #expect(
      try PoolGeometry(batch: 1, channels: 1, height: 6, width: 6, window: 2, stride: 2).outHeight
        == 3)
  }

  @Test func handCheckedWindow() throws {
    let g = try PoolGeometry(batch: 1, channels: 1, height: 3, width: 4, window: 2, stride: 2)
    let x = Tensor(shape: [1, 1, 3, 4], scalars: [1, 5, 2, 0, 3, 4, 8, 7, 9, 9, 9, 9])
    #expect(maxPool2dForward(g, input: x).output.scalars == [5, 8])
    #expect(throws: ShapeError.self) {
      try PoolGeometry(batch: 1, channels: 1, height: 2, width: 2, window: 3, stride: 1)
    }
  }

  @Test func adaptiveAveragePoolingAveragesWindows() {
    let x = Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9])
    // 3 → 2: windows rows/columns 0..<2 and 1..<3.
    #expect(
      adaptiveAveragePool2dForward(input: x, outputHeight: 2, outputWidth: 2).scalars == [
        3, 4, 6, 7,
      ])
    #expect(adaptiveAveragePool2dForward(input: x, outputHeight: 3, outputWidth: 3) == x)
    var rng = SeededGenerator(seed: 1)
    let y = rng.tensor([2, 2, 5, 7])
    let out = adaptiveAveragePool2dForward(input: y, outputHeight: 3, outputWidth: 2)
    let analytic = adaptiveAveragePool2dBackward(outputGradient: out, inputShape: y.shape)
    let numeric = numericalGradient(
      of: {
        halfSumOfSquares(
          adaptiveAveragePool2dForward(input: $0[0], outputHeight: 3, outputWidth: 2))
      },
      at: [y], input: 0)
    #expect(gradientError(analytic, numeric) <= 1e-3)
  }
}
