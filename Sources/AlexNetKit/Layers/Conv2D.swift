/// 2-D convolution over NCHW images. `groups: 2` is the 2012 two-GPU split (Krizhevsky et al.
/// §3.2, §3.5): each half of the kernels sees half of the input channels.
public final class Conv2D: Layer {
  /// [outChannels, inChannels / groups, kernel, kernel]
  public let weight: Variable
  /// [outChannels], or nil for a convolution without bias.
  public let bias: Variable?
  public let stride: Int, padding: Padding, groups: Int
  public var isTraining = true
  /// The filters in the Winograd domain for inference, transformed again only when they change.
  let winogradFilterCache = WinogradFilterCache()

  /// A convolution with the given weights; the shapes are checked and named when they disagree.
  public init(
    weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding = .valid, groups: Int = 1
  ) {
    precondition(
      weight.rank == 4 && weight.shape[2] == weight.shape[3],
      "Conv2D weight must be [out, in/groups, k, k], got \(weight.shape)")
    precondition(
      groups > 0 && weight.shape[0] % groups == 0,
      "Conv2D: \(groups) groups must divide \(weight.shape[0]) output channels")
    if let bias {
      precondition(
        bias.shape == [weight.shape[0]], "Conv2D bias \(bias.shape), expected [\(weight.shape[0])]")
    }
    self.weight = Variable(weight, requiresGradient: true)
    self.bias = bias.map { Variable($0, requiresGradient: true) }
    (self.stride, self.padding, self.groups) = (stride, padding, groups)
  }

  /// A convolution initialised by `initializer`.
  public convenience init(
    inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .valid,
    groups: Int = 1,
    initializer: Initializer, biasValue: Float = 0, generator: inout SeededGenerator
  ) {
    precondition(
      inChannels % groups == 0, "Conv2D: \(groups) groups must divide \(inChannels) input channels")
    let shape = [outChannels, inChannels / groups, kernel, kernel]
    let fanIn = inChannels / groups * kernel * kernel
    let fanOut = outChannels * kernel * kernel
    let (w, b) = initializer.make(
      weightShape: shape, biasCount: outChannels, fanIn: fanIn, fanOut: fanOut,
      biasValue: biasValue, generator: &generator)
    self.init(weight: w, bias: b, stride: stride, padding: padding, groups: groups)
  }

  public var inChannels: Int { weight.shape[1] * groups }
  public var outChannels: Int { weight.shape[0] }
  public var kernel: Int { weight.shape[2] }

  public func callAsFunction(_ input: Variable) -> Variable { self(input, activation: .identity) }

  /// The convolution with an activation fused into it (`Sequential` uses this for a Conv2D
  /// followed by a ReLU).
  public func callAsFunction(_ input: Variable, activation: Activation) -> Variable {
    if let output = winogradInference(input, activation: activation) { return output }
    return input.conv2d(
      weight, bias, stride: stride, padding: padding, groups: groups, activation: activation)
  }

  func geometry(_ inputShape: [Int]) throws(ShapeError) -> ConvGeometry {
    guard inputShape.count == 4 else {
      throw ShapeError("Conv2D needs [N, C, H, W] input, got \(inputShape)")
    }
    guard inputShape[1] == inChannels else {
      throw ShapeError("Conv2D expects \(inChannels) input channels, got input \(inputShape)")
    }
    return try ConvGeometry(
      batch: inputShape[0], inChannels: inputShape[1], height: inputShape[2], width: inputShape[3],
      outChannels: outChannels, kernel: kernel, stride: stride, padding: padding, groups: groups)
  }

  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    try geometry(inputShape).outputShape
  }

  public func forwardFLOPs(inputShape: [Int]) -> Double {
    (try? geometry(inputShape).forwardFLOPs) ?? 0
  }

  public var parameters: [(name: String, variable: Variable)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }
}
