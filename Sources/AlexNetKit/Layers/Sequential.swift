/// Layers applied in order. Children are named by position ("0", "1"...) as in PyTorch's
/// `nn.Sequential`, or by the names given, so parameter names read `features.0.weight`.
public final class Sequential: Layer {
  public let layers: [(name: String, layer: any Layer)]

  /// Children named "0", "1"... in order.
  public init(_ layers: [any Layer]) {
    self.layers = layers.enumerated().map { ("\($0.offset)", $0.element) }
  }

  /// Children with the given names.
  public init(named layers: [(String, any Layer)]) {
    self.layers = layers.map { (name: $0.0, layer: $0.1) }
  }

  public var children: [(name: String, layer: any Layer)] { layers }

  public var isTraining = true {
    didSet { for (_, layer) in layers { layer.isTraining = isTraining } }
  }

  /// Applies the layers in order, running a Conv2D directly followed by a ReLU as one fused
  /// operation (same result; one pass over the output and one tensor fewer kept for backward).
  public func callAsFunction(_ input: Variable) -> Variable {
    var x = input
    var index = 0
    while index < layers.count {
      let next = index + 1 < layers.count ? layers[index + 1].layer : nil
      if let convolution = Self.fusedConvolution(layers[index].layer, then: next) {
        x = convolution(x, activation: .relu)
        index += 2
      } else {
        x = layers[index].layer(x)
        index += 1
      }
    }
    return x
  }

  /// The convolution to run with a fused ReLU when `layer` is a Conv2D and `next` a ReLU (the
  /// rule `callAsFunction` applies; the benchmark's per-layer table times such pairs the same way).
  public static func fusedConvolution(_ layer: any Layer, then next: (any Layer)?) -> Conv2D? {
    guard let convolution = layer as? Conv2D, next is ReLU else { return nil }
    return convolution
  }

  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    var shape = inputShape
    for (name, layer) in layers {
      do {
        shape = try layer.outputShape(for: shape)
      } catch {
        throw ShapeError("layer \(name) (\(layer.kind)): \(error.message)")
      }
    }
    return shape
  }

  public func forwardFLOPs(inputShape: [Int]) -> Double {
    var shape = inputShape
    var total = 0.0
    for (_, layer) in layers {
      total += layer.forwardFLOPs(inputShape: shape)
      guard let next = try? layer.outputShape(for: shape) else { break }
      shape = next
    }
    return total
  }
}
