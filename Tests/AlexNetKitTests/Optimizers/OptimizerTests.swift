import AlexNetKit
import TestSupport
import Testing

@Suite struct OptimizerTests {
  func parameter(_ values: [Float], gradient: [Float]) -> Variable {
    let p = Variable(Tensor(shape: [values.count], scalars: values), requiresGradient: true)
    // grad = gradient
    (p * Variable(Tensor(shape: [gradient.count], scalars: gradient))).sum().backward()
    return p
  }

  /// The paper's rule by hand, with a rate change between the steps (where it differs from PyTorch's).
  @Test func sgdFollowsThePapersRule() {
    let w = parameter([1, -2], gradient: [0.5, 0.25])
    let sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    sgd.step([("w", w)])
    // v = −0.01·0.1·w − 0.1·g = [−0.001 − 0.05, 0.002 − 0.025] = [−0.051, −0.023]; w += v
    #expect(abs(w.value[flat: 0] - 0.949) < 1e-6 && abs(w.value[flat: 1] - -2.023) < 1e-6)
    sgd.learningRate = 0.01
    sgd.step([("w", w)])
    // v = 0.9·v − 0.01·0.01·w − 0.01·g
    let v0 = 0.9 * -0.051 - 0.0001 * 0.949 - 0.005
    let v1 = 0.9 * -0.023 - 0.0001 * -2.023 - 0.0025
    #expect(
      abs(w.value[flat: 0] - Float(0.949 + v0)) < 1e-6
        && abs(w.value[flat: 1] - Float(-2.023 + v1)) < 1e-6)
  }

  @Test func nesterovAndDecoupledDecay() {
    let w = parameter([1], gradient: [1])
    SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: true).step([("w", w)])
    // v = −0.1; w ← w + 0.9·v − 0.1·g = 1 − 0.09 − 0.1
    #expect(abs(w.value.scalar - 0.81) < 1e-6)
    let u = parameter([2], gradient: [0])
    SGD(learningRate: 0.5, momentum: 0, weightDecay: 0.1, weightDecayMode: .decoupled).step([
      ("u", u)
    ])
    #expect(abs(u.value.scalar - (2 - 0.5 * 0.1 * 2)) < 1e-6)
  }

  /// Caffe's bvlc_alexnet groups: biases at twice the rate and without decay.
  @Test func caffeGroupsTreatBiasesApart() {
    let weight = parameter([1], gradient: [1])
    let bias = parameter([1], gradient: [1])
    SGD(learningRate: 0.1, momentum: 0, weightDecay: 0.5, groups: .caffeAlexNet)
      .step([("fc.weight", weight), ("fc.bias", bias)])
    #expect(abs(weight.value.scalar - (1 - 0.1 * (1 + 0.5))) < 1e-6)
    #expect(abs(bias.value.scalar - (1 - 0.2)) < 1e-6)
  }

  @Test func adamFirstStepsByHand() {
    let w = parameter([1, 1], gradient: [2, -0.5])
    let adam = Adam(learningRate: 0.01)
    adam.step([("w", w)])
    // After one step m̂ = g, v̂ = g², so each weight moves by η·sign(g) (up to ε).
    #expect(abs(w.value[flat: 0] - 0.99) < 1e-5 && abs(w.value[flat: 1] - 1.01) < 1e-5)
    #expect(adam.stepCount == 1)
  }

  /// Saving and restoring the optimizer's state gives the same next step as never stopping.
  @Test(arguments: ["sgd", "adam"])
  func stateRoundTripContinuesExactly(_ kind: String) throws {
    func make() -> any Optimizer {
      kind == "sgd" ? SGD(learningRate: 0.1) : Adam(learningRate: 0.1)
    }
    let a = parameter([1, 2, 3], gradient: [0.3, -0.2, 0.1])
    let b = parameter([1, 2, 3], gradient: [0.3, -0.2, 0.1])
    let first = make()
    first.step([("w", a)])
    first.step([("w", a)])
    let second = make()
    second.step([("w", b)])
    let resumed = make()
    try resumed.loadState(second.state)
    resumed.step([("w", b)])
    #expect(a.value == b.value)
    #expect(throws: StateMismatchError.self) {
      try make().loadState([("bogus.w", Tensor(zeros: [3]))])
    }
  }

  /// A parameter large enough to be updated on both cores (more than 2 x 65,536 elements) ends
  /// with exactly the values its elements get as small parameters, each updated on one thread.
  /// On a one-core machine both run on one thread and the comparison holds trivially.
  @Test(arguments: ["sgd", "adam"])
  func largeParameterUpdatesAsSmallOnes(_ kind: String) {
    func make() -> any Optimizer {
      kind == "sgd"
        ? SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        : Adam(learningRate: 0.01, weightDecay: 0.01)
    }
    var rng = SeededGenerator(seed: 5)
    let values = rng.tensor([200_003]).scalars
    let gradient = rng.tensor([200_003]).scalars
    let whole = parameter(values, gradient: gradient)
    let pieces = stride(from: 0, to: values.count, by: 1000).map { start in
      let range = start..<Swift.min(start + 1000, values.count)
      return parameter(Array(values[range]), gradient: Array(gradient[range]))
    }
    let (large, small) = (make(), make())
    for _ in 0..<2 {
      large.step([("w", whole)])
      small.step(pieces.enumerated().map { ("w\($0.offset)", $0.element) })
    }
    // Counted, not compared as arrays: a failing comparison of 200,003 elements prints a diff
    // that takes Swift Testing minutes to compute.
    let updated = whole.value.scalars
    let expected = pieces.flatMap(\.value.scalars)
    #expect(updated.indices.filter { updated[$0] != expected[$0] }.isEmpty)
    #expect(!updated.indices.filter { updated[$0] != values[$0] }.isEmpty)
  }

  /// A step writes the weights and the optimizer's state where they are: a copy-on-write copy of
  /// them would cost AlexNet 244 MB per state tensor per step (it did, before `SlotStore.take`).
  @Test(arguments: ["sgd", "adam"])
  func stepsUpdateInPlace(_ kind: String) {
    let optimizer: any Optimizer = kind == "sgd" ? SGD(learningRate: 0.1) : Adam(learningRate: 0.1)
    let w = parameter(
      [Float](repeating: 1, count: 4096), gradient: [Float](repeating: 0.5, count: 4096))
    func addresses() -> [UnsafeRawPointer] {
      let state = optimizer.state.filter { $0.tensor.count == 4096 }.map(\.tensor) + [w.value]
      return state.map { $0.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) } }
    }
    optimizer.step([("w", w)])
    let before = addresses()
    optimizer.step([("w", w)])
    #expect(addresses() == before)
    #expect(before.count == (kind == "sgd" ? 2 : 3))
  }

  /// The loss falls on a learnable task: two Gaussian blobs per class, a small dense network.
  @Test(arguments: ["sgd", "adam"])
  func lossFallsOnASyntheticTask(_ kind: String) {
    var g = SeededGenerator(seed: 3)
    let classes = 3
    let n = 60
    let centers = Tensor.randomNormal([classes, 4], standardDeviation: 2, using: &g)
    let labels = (0..<n).map { $0 % classes }
    var inputs = Tensor(zeros: [n, 4])
    for (i, label) in labels.enumerated() {
      for j in 0..<4 { inputs[i, j] = centers[label, j] + 0.3 * g.nextNormal() }
    }
    let model = Sequential([
      Dense(inputs: 4, outputs: 16, initializer: .heNormal, generator: &g), ReLU(),
      Dense(inputs: 16, outputs: classes, initializer: .glorotUniform, generator: &g),
    ])
    let optimizer: any Optimizer =
      kind == "sgd" ? SGD(learningRate: 0.05) : Adam(learningRate: 0.01)
    let targets = oneHotTargets(labels: labels, classes: classes)
    var losses: [Float] = []
    for _ in 0..<60 {
      model.zeroGradients()
      let (loss, _) = model(Variable(inputs)).softmaxCrossEntropy(targets: targets)
      losses.append(loss.value.scalar)
      loss.backward()
      optimizer.step(model.namedParameters)
    }
    #expect(losses.last! < 0.2 * losses.first!, "\(kind): loss \(losses.first!) → \(losses.last!)")
    var metrics = ClassificationMetrics(classCount: classes)
    metrics.add(
      scores: withGradientsDisabled { model(Variable(inputs)) }.value, labels: labels,
      meanLoss: losses.last!)
    #expect(metrics.top1Accuracy > 0.95)
  }
}
