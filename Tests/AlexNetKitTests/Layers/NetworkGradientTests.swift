import AlexNetKit
import TestSupport
import Testing

/// Whole small networks against central differences: every layer type in one chain, and the
/// loss at the end, so a wrong pullback or a wrong wiring between layers shows. The step is
/// 1e-3: larger steps carry some inputs across ReLU kinks. No bias feeds a batch norm directly,
/// since batch norm cancels it and its exact gradient is zero (nothing to compare against).
@Suite struct NetworkGradientTests {
  func check(_ network: Sequential, input shape: [Int], classes: Int, seed: UInt64) {
    var rng = SeededGenerator(seed: seed)
    let input = Variable(rng.tensor(shape), requiresGradient: true)
    let labels = (0..<shape[0]).map { _ in rng.nextInt(below: classes) }
    let targets = oneHotTargets(labels: labels, classes: classes)
    let errors = gradientErrors(of: network.namedParameters + [("input", input)], step: 1e-3) {
      network(input).softmaxCrossEntropy(targets: targets).loss
    }
    for (name, error) in errors {
      #expect(
        error <= 1e-2, "\(name): backward and finite differences differ by \(error) (norm-relative)"
      )
    }
  }

  @Test func convLRNPoolDenseNetwork() {
    var g = SeededGenerator(seed: 1)
    let network = Sequential([
      Conv2D(
        inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: .explicit(1), groups: 2,
        initializer: .heNormal, biasValue: 0, generator: &g),
      ReLU(), LocalResponseNorm(LRNParameters(size: 3, alpha: 0.5, beta: 0.75, k: 1)),
      MaxPool2D(window: 3, stride: 2), Flatten(),
      Dense(inputs: 6 * 2 * 2, outputs: 7, initializer: .glorotUniform, generator: &g), ReLU(),
      Dropout(rate: 0.5, seed: 3),
      Dense(inputs: 7, outputs: 5, initializer: .glorotUniform, generator: &g),
    ])
    network.eval()  // dropout off: the check needs a deterministic function
    check(network, input: [2, 4, 9, 9], classes: 5, seed: 10)
  }

  @Test func batchNormNetworkInTraining() {
    var g = SeededGenerator(seed: 2)
    let network = Sequential([
      Conv2D(weight: g.tensor([4, 3, 3, 3]), bias: nil, padding: .same),
      BatchNorm(channels: 4), ReLU(), MaxPool2D(window: 2, stride: 2), Flatten(),
      Dense(weight: g.tensor([6, 4 * 3 * 3]), bias: nil), ReLU(),
      BatchNorm(channels: 6),
      Dense(inputs: 6, outputs: 3, initializer: .glorotUniform, generator: &g),
    ])
    check(network, input: [3, 3, 7, 6], classes: 3, seed: 11)
  }

  @Test func batchNormNetworkInInference() {
    var g = SeededGenerator(seed: 3)
    let network = Sequential([
      Conv2D(
        inChannels: 2, outChannels: 4, kernel: 2, stride: 2, initializer: .heNormal, generator: &g),
      BatchNorm(channels: 4, configuration: .keras), ReLU(),
      AdaptiveAveragePool2D(height: 2, width: 2), Flatten(),
      Dense(inputs: 16, outputs: 3, initializer: .pytorchDefault, generator: &g),
    ])
    network.eval()
    check(network, input: [2, 2, 8, 10], classes: 3, seed: 12)
  }
}
