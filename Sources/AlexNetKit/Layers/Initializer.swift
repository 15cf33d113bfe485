import RealModule

/// How a layer's weights and bias start, named after their source.
public enum Initializer: String, CaseIterable, Sendable {
  /// Krizhevsky et al. 2012, §5: weights N(0, 0.01²); biases a constant given per layer
  /// (1 in conv2, conv4, conv5 and the hidden dense layers, 0 elsewhere).
  case krizhevsky2012
  /// Keras's default: Glorot (Xavier) uniform weights, zero bias.
  case glorotUniform
  /// PyTorch's default for Conv2d and Linear: weights and bias U(−1/√fanIn, 1/√fanIn)
  /// (kaiming_uniform with a = √5).
  case pytorchDefault
  /// He (Kaiming) normal weights N(0, 2/fanIn), zero bias: trains deep ReLU stacks from scratch.
  case heNormal
  /// Zero weights and bias: a classifier's output layer that starts at the uniform guess, loss
  /// ln(classes), whatever the hidden activations (big_vision's ViT head, timm's zero-init head).
  /// Its gradient (p − y)·hᵀ is not zero, so it learns from the first step.
  case zeros

  func make(
    weightShape: [Int], biasCount: Int, fanIn: Int, fanOut: Int, biasValue: Float,
    generator: inout SeededGenerator
  ) -> (weight: Tensor, bias: Tensor) {
    switch self {
    case .krizhevsky2012:
      return (
        Tensor.randomNormal(weightShape, standardDeviation: 0.01, using: &generator),
        Tensor(shape: [biasCount], repeating: biasValue)
      )
    case .glorotUniform:
      return (
        Tensor.glorotUniform(weightShape, fanIn: fanIn, fanOut: fanOut, using: &generator),
        Tensor(zeros: [biasCount])
      )
    case .pytorchDefault:
      let bound = 1 / Float(fanIn).squareRoot()
      return (
        Tensor.randomUniform(weightShape, lower: -bound, upper: bound, using: &generator),
        Tensor.randomUniform([biasCount], lower: -bound, upper: bound, using: &generator)
      )
    case .heNormal:
      return (
        Tensor.heNormal(weightShape, fanIn: fanIn, using: &generator), Tensor(zeros: [biasCount])
      )
    case .zeros:
      return (Tensor(zeros: weightShape), Tensor(zeros: [biasCount]))
    }
  }
}
