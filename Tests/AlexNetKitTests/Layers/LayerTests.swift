import AlexNetKit
import TestSupport
import Testing

@Suite struct LayerTests {
  @Test func namesAreHierarchicalLikeAPyTorchStateDict() {
    let model = ModelCatalog.make(.small, classes: 3)
    let names = model.stateDict.map(\.name)
    #expect(names.first == "features.0.weight")
    #expect(names.contains("features.2.running_var"))
    #expect(names.last == "classifier.6.bias")
    #expect(Set(names).count == names.count)
  }

  @Test func trainingModeReachesEveryLayer() {
    let model = ModelCatalog.make(.small, classes: 3)
    model.eval()
    #expect(model.namedLeaves.allSatisfy { !$0.layer.isTraining })
    model.train()
    #expect(model.namedLeaves.allSatisfy { $0.layer.isTraining })
  }

  /// Sequential runs each Conv2D + ReLU pair as one fused operation: the same output and the same
  /// gradients as the layers applied one at a time.
  @Test func fusedConvolutionAndReLUMatchTheLayersOneByOne() {
    var g = SeededGenerator(seed: 4)
    let network = Sequential([
      Conv2D(
        inChannels: 3, outChannels: 4, kernel: 3, stride: 2, padding: .explicit(1),
        initializer: .heNormal,
        biasValue: 0.1, generator: &g), ReLU(), MaxPool2D(window: 3, stride: 2),
      Conv2D(
        inChannels: 4, outChannels: 6, kernel: 3, padding: .same, groups: 2, initializer: .heNormal,
        biasValue: -0.1, generator: &g), ReLU(),
    ])
    let input = g.tensor([3, 3, 15, 13])
    func run(fused: Bool) -> (output: Tensor, gradients: [Tensor], inputGradient: Tensor) {
      network.zeroGradients()
      let x = Variable(input, requiresGradient: true)
      let y = fused ? network(x) : network.layers.reduce(x) { $1.layer($0) }
      (y * y).sum().backward()
      return (y.value, network.namedParameters.map { $0.variable.grad! }, x.grad!)
    }
    let fused = run(fused: true)
    let separate = run(fused: false)
    #expect(fused.output == separate.output)
    #expect(
      zip(fused.gradients, separate.gradients).allSatisfy { maxRelativeError($0, $1) <= 1e-5 })
    #expect(maxRelativeError(fused.inputGradient, separate.inputGradient) <= 1e-5)
    #expect(fused.output.scalars.contains(0) && fused.output.scalars.contains { $0 > 0 })
  }

  /// With sample keys, the dropout layer masks each sample by its key alone: a batch of four
  /// equals its halves with their keys (two ranks' shards), and eval mode ignores the keys.
  @Test func dropoutWithSampleKeysMasksEachSampleByItsKey() {
    var rng = SeededGenerator(seed: 4)
    let x = rng.tensor([4, 30])
    let dropout = Dropout(rate: 0.5, seed: 21)
    dropout.sampleKeys = [10, 11, 12, 13]
    let whole = dropout(Variable(x)).value
    dropout.sampleKeys = [10, 11]
    let first = dropout(Variable(Tensor(shape: [2, 30], scalars: Array(x.scalars[0..<60])))).value
    dropout.sampleKeys = [12, 13]
    let second = dropout(Variable(Tensor(shape: [2, 30], scalars: Array(x.scalars[60...])))).value
    #expect(whole.scalars == first.scalars + second.scalars)
    #expect(whole != x)
    dropout.eval()
    #expect(dropout(Variable(x)).value == x)
  }

  /// Dropout is the identity in inference and drops about half in training.
  @Test func dropoutFollowsTheMode() {
    let dropout = Dropout(rate: 0.5, seed: 1)
    let x = Variable(Tensor(shape: [1, 10_000], repeating: 1))
    dropout.eval()
    #expect(dropout(x).value == x.value)
    dropout.train()
    let y = dropout(x).value
    let kept = y.scalars.filter { $0 != 0 }.count
    #expect(kept > 4_700 && kept < 5_300 && Set(y.scalars) == [0, 2])
  }

  /// Batch norm updates its running statistics in training only.
  @Test func batchNormUpdatesStatisticsInTrainingOnly() {
    let layer = BatchNorm(channels: 2)
    var rng = SeededGenerator(seed: 1)
    let x = Variable(rng.tensor([4, 2, 3, 3]) + 5)
    layer.eval()
    _ = layer(x)
    #expect(layer.runningMean.value.scalars == [0, 0])
    layer.train()
    _ = layer(x)
    #expect(layer.runningMean.value.scalars.allSatisfy { $0 > 0.4 && $0 < 0.6 })
  }

  @Test func loadingReportsEveryMismatchByName() {
    let model = ModelCatalog.make(.small, classes: 3)
    var state = model.stateDict
    state.removeFirst()  // features.0.weight missing
    state[0].tensor = Tensor(zeros: [7])  // features.0.bias wrong shape
    state.append(("extra.weight", Tensor(zeros: [1])))
    #expect {
      try model.loadState(state)
    } throws: { error in
      let text = "\(error)"
      return text.contains("missing features.0.weight")
        && text.contains("features.0.bias: shape [7]")
        && text.contains("unexpected extra.weight")
    }
    // Nothing changed, and a correct state dict loads.
    let other = ModelCatalog.make(.small, classes: 3, seed: 9)
    #expect(throws: Never.self) { try model.loadState(other.stateDict) }
    #expect(model.stateDict.map(\.tensor) == other.stateDict.map(\.tensor))
  }

  /// Weights of another model differ in dozens of entries; the error stays one short line.
  @Test func aMismatchOfManyEntriesIsOneShortLine() {
    let model = ModelCatalog.make(.small, classes: 3)
    let torchvision = ModelCatalog.make(.alexnetTV, classes: 3)
    #expect {
      try model.loadState(torchvision.stateDict)
    } throws: { error in
      let text = "\(error)"
      let mismatch = error as! StateMismatchError
      let total = mismatch.missing.count + mismatch.unexpected.count + mismatch.misshaped.count
      return text.count < 300 && !text.contains("\n") && total > 10
        && text.hasPrefix("\(total) weights") && text.contains("\(mismatch.missing.count) missing")
        && text.hasSuffix("and \(total - 3) more")
    }
  }

  @Test func shapeErrorsNameTheLayer() {
    let model = ModelCatalog.make(.alexnetBN, classes: 16)
    #expect {
      try model.outputShape(for: [1, 3, 32, 32])
    } throws: { error in
      "\(error)".contains("layer features") && "\(error)".contains("layer 7 (MaxPool2D)")
        && "\(error)".contains("[1, 256, 2, 2]")
    }
  }
}
