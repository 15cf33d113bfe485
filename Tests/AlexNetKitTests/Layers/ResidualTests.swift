import TestSupport
import Testing

@testable import AlexNetKit

/// Residual blocks: PyTorch-style names, shapes, FLOPs and summary rows through a graph that is
/// not a chain, the naive reference, central differences, and the fused Conv2D+ReLU inside.
@Suite struct ResidualTests {
  /// conv(stride 2) → ReLU → conv → BN, added to a strided 1x1 projection; then a ReLU, and an
  /// identity block with dropout. Odd sizes, stride 2 and padding on purpose.
  func network(_ g: inout SeededGenerator, inChannels: Int = 3, width: Int = 4) -> Sequential {
    let projected = Residual(
      Sequential([
        Conv2D(
          inChannels: inChannels, outChannels: width, kernel: 3, stride: 2, padding: .explicit(1),
          initializer: .heNormal, biasValue: 0.1, generator: &g),
        ReLU(),
        // No bias before the batch norm, which would cancel it (its exact gradient is zero).
        Conv2D(weight: g.tensor([width, width, 3, 3]) * 0.3, bias: nil, padding: .same),
        BatchNorm(channels: width),
      ]),
      shortcut: Conv2D(
        inChannels: inChannels, outChannels: width, kernel: 1, stride: 2, initializer: .heNormal,
        generator: &g))
    let identity = Residual(
      Sequential([
        Conv2D(
          inChannels: width, outChannels: width, kernel: 3, padding: .explicit(1), groups: 2,
          initializer: .heNormal, generator: &g), ReLU(), Dropout(rate: 0.3, seed: 5),
      ]))
    return Sequential([
      projected, ReLU(), identity, Flatten(),
      Dense(inputs: width * 4 * 3, outputs: 3, initializer: .glorotUniform, generator: &g),
    ])
  }

  @Test func parametersAreNamedLikePyTorch() {
    var g = SeededGenerator(seed: 1)
    let names = network(&g).stateDict.map(\.name)
    #expect(
      names == [
        "0.branch.0.weight", "0.branch.0.bias", "0.branch.2.weight", "0.branch.3.weight",
        "0.branch.3.bias",
        "0.branch.3.running_mean", "0.branch.3.running_var", "0.shortcut.weight", "0.shortcut.bias",
        "2.branch.0.weight", "2.branch.0.bias", "4.weight", "4.bias",
      ])
  }

  @Test func shapesSummaryAndFLOPsFollowTheGraph() throws {
    var g = SeededGenerator(seed: 2)
    let model = network(&g)
    #expect(try model.outputShape(for: [2, 3, 7, 5]) == [2, 3])
    let summary = try ModelSummary(model, inputShape: [3, 7, 5])
    #expect(
      summary.rows.map(\.name) == [
        "0.branch.0", "0.branch.1", "0.branch.2", "0.branch.3", "0.shortcut", "0", "1",
        "2.branch.0", "2.branch.1",
        "2.branch.2", "2", "3", "4",
      ])
    #expect(summary.rows.first { $0.name == "0.shortcut" }?.outputShape == [4, 4, 3])
    #expect(summary.rows.first { $0.name == "0" }?.kind == "Residual")
    #expect(summary.rows.map(\.parameters).reduce(0, +) == model.parameterCount)
    // Convolutions and the dense layer as 2·multiply-adds, one addition per element of each sum.
    let conv = { (k: Int, cin: Int, cout: Int) in Double(2 * k * k * cin * cout * 4 * 3) }
    let expected =
      conv(3, 3, 4) + conv(3, 4, 4) + conv(1, 3, 4) + conv(3, 2, 4) + 2 * 48 + 2 * 48 * 3
    #expect(summary.forwardFLOPsPerImage == expected)
    let mismatched = Residual(Conv2D(weight: g.tensor([5, 3, 1, 1]), bias: nil))
    #expect { try mismatched.outputShape(for: [1, 3, 4, 4]) } throws: {
      "\($0)".contains("the branch gives [1, 5, 4, 4], the shortcut [1, 3, 4, 4]")
    }
  }

  @Test func forwardMatchesTheNaiveKernels() throws {
    var g = SeededGenerator(seed: 3)
    let model = network(&g)
    model.eval()
    let input = g.tensor([3, 3, 7, 5])
    let fast = withGradientsDisabled { model(Variable(input)) }.value
    #expect(maxRelativeError(fast, try referenceForward(model, input: input)) < 1e-4)
  }

  @Test func gradientsMatchCentralDifferences() {
    var g = SeededGenerator(seed: 4)
    let model = network(&g)
    model.train()
    (model.layers[2].layer as! Residual).branch.eval()  // dropout off: the check needs a function
    let input = Variable(g.tensor([4, 3, 7, 5]), requiresGradient: true)
    let targets = oneHotTargets(labels: [0, 2, 1, 1], classes: 3)
    let errors = gradientErrors(of: model.namedParameters + [("input", input)], step: 1e-3) {
      model(input).softmaxCrossEntropy(targets: targets).loss
    }
    for (name, error) in errors {
      #expect(
        error <= 1e-2, "\(name): backward and finite differences differ by \(error) (norm-relative)"
      )
    }
  }

  /// The branch is a Sequential, so its Conv2D+ReLU pairs run as one fused operation: the graph
  /// holds "conv2d+relu" nodes and no separate ReLU inside the blocks (the ReLU between the
  /// blocks is the only one).
  @Test func theBranchKeepsTheFusedConvolution() {
    var g = SeededGenerator(seed: 5)
    let model = network(&g)
    let output = model(Variable(g.tensor([1, 3, 7, 5])))
    let operations = output.topologicalOrder().compactMap(\.operation)
    #expect(operations.filter { $0 == "conv2d+relu" }.count == 2)
    #expect(operations.filter { $0 == "relu" }.count == 1)
    #expect(operations.filter { $0 == "add" }.count == 2)
  }
}
