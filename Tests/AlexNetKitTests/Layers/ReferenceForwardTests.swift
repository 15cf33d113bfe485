import AlexNetKit
import TestSupport
import Testing

/// The whole fast forward (im2col + GEMM, batch shards, fused Conv2D+ReLU, vector loops) against
/// the same model run through the naive reference kernels, for every model in the catalogue.
@Suite struct ReferenceForwardTests {
  /// Batches of 2 split into shards; the full-size models run one image, as the naive kernels
  /// take most of a minute per 227x227 image in a debug build.
  @Test(arguments: [
    (ModelName.alexnetTV, 99, 2, Nonlinearity.relu), (.small, 64, 2, .relu),
    (.alexnet, 227, 1, .relu), (.alexnetBN, 224, 1, .relu), (.cifar4, 32, 3, .relu),
    (.cifar4, 32, 3, .tanh), (.small, 64, 2, .tanh),
    (.resnetSmall, 67, 2, .relu),
  ])
  func wholeModelForwardMatchesTheNaiveKernels(
    _ name: ModelName, _ side: Int, _ batch: Int, _ activation: Nonlinearity
  ) throws {
    let classes = 10
    let model = ModelCatalog.make(name, classes: classes, seed: 3, activation: activation)
    var rng = SeededGenerator(seed: 8)
    // Running statistics away from 0 and 1, so batch norm is not the identity.
    for (_, layer) in model.namedLeaves {
      guard let norm = layer as? BatchNorm else { continue }
      norm.runningMean.value = rng.tensor([norm.channels]) * 0.1
      norm.runningVariance.value = rng.tensor([norm.channels]).map { 0.5 + abs($0) }
    }
    // Parameters that start at zero (resnet-small's classifier, the last γ of its blocks) drawn
    // at random, so that every path counts.
    for (_, parameter) in model.namedParameters
    where parameter.value.scalars.allSatisfy({ $0 == 0 }) {
      parameter.value = rng.tensor(parameter.value.shape) * 0.5
    }
    model.eval()
    let images = rng.tensor([batch, 3, side, side])
    let fast = withGradientsDisabled { model(Variable(images)) }.value
    let reference = try referenceForward(model, input: images)
    #expect(fast.shape == [batch, classes])
    #expect(maxRelativeError(fast, reference) <= 1e-4, "\(name)")
    #expect(
      fast.scalars.contains { $0 != fast.scalars[0] }, "\(name): the logits should not be constant")
  }

  @Test func unknownLayersAreNamed() {
    final class Mystery: Layer {
      var isTraining = true
      func callAsFunction(_ input: Variable) -> Variable { input }
      func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] { inputShape }
    }
    #expect(throws: ShapeError.self) {
      try referenceForward(Sequential([ReLU(), Mystery()]), input: Tensor(zeros: [1, 2]))
    }
  }
}
