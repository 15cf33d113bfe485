/// Fully connected layer, y = x·Wᵀ + b, with W [out, in] as in PyTorch's `nn.Linear`.
public final class Dense: Layer {
  public let weight: Variable
  public let bias: Variable?
  public var isTraining = true

  public init(weight: Tensor, bias: Tensor?) {
    precondition(weight.rank == 2, "Dense weight must be [out, in], got \(weight.shape)")
    if let bias {
      precondition(
        bias.shape == [weight.shape[0]], "Dense bias \(bias.shape), expected [\(weight.shape[0])]")
    }
    self.weight = Variable(weight, requiresGradient: true)
    self.bias = bias.map { Variable($0, requiresGradient: true) }
  }

  public convenience init(
    inputs: Int, outputs: Int, initializer: Initializer, biasValue: Float = 0,
    generator: inout SeededGenerator
  ) {
    let (w, b) = initializer.make(
      weightShape: [outputs, inputs], biasCount: outputs, fanIn: inputs, fanOut: outputs,
      biasValue: biasValue, generator: &generator)
    self.init(weight: w, bias: b)
  }

  public var inputs: Int { weight.shape[1] }
  public var outputs: Int { weight.shape[0] }

  public func callAsFunction(_ input: Variable) -> Variable { input.dense(weight, bias) }

  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    guard inputShape.count == 2, inputShape[1] == inputs else {
      throw ShapeError("Dense expects [N, \(inputs)] input, got \(inputShape)")
    }
    return [inputShape[0], outputs]
  }

  public func forwardFLOPs(inputShape: [Int]) -> Double {
    2 * Double(inputShape[0] * inputs * outputs)
  }

  public var parameters: [(name: String, variable: Variable)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }
}
