/// ReLU, max(0, x).
public final class ReLU: Layer {
  public var isTraining = true
  public init() {}
  public func callAsFunction(_ input: Variable) -> Variable { input.relu() }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] { inputShape }
}

/// tanh, the saturating non-linearity ReLU replaced (Krizhevsky et al. 2012, §3.1).
public final class Tanh: Layer {
  public var isTraining = true
  public init() {}
  public func callAsFunction(_ input: Variable) -> Variable { input.tanh() }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] { inputShape }
}

/// The non-linearity after the convolutions and hidden dense layers of a catalogue model
/// (`--activation`): ReLU, as every model here by default, or tanh, for the paper's figure 1.
public enum Nonlinearity: String, CaseIterable, Sendable, Codable {
  case relu
  case tanh

  /// A new layer applying it.
  public func layer() -> any Layer {
    switch self {
    case .relu: return ReLU()
    case .tanh: return Tanh()
    }
  }
}

/// [N, ...] → [N, rest], between the convolutions and the dense layers.
public final class Flatten: Layer {
  public var isTraining = true
  public init() {}
  public func callAsFunction(_ input: Variable) -> Variable { input.flattened() }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    guard let batch = inputShape.first else { throw ShapeError("Flatten of a scalar") }
    return [batch, inputShape.dropFirst().reduce(1, *)]
  }
}

/// Max pooling with a square window; AlexNet's overlapping pooling is window 3, stride 2.
public final class MaxPool2D: Layer {
  public let window: Int, stride: Int, padding: Padding
  public var isTraining = true
  public init(window: Int, stride: Int, padding: Padding = .valid) {
    (self.window, self.stride, self.padding) = (window, stride, padding)
  }
  public func callAsFunction(_ input: Variable) -> Variable {
    input.maxPool2d(window: window, stride: stride, padding: padding)
  }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    guard inputShape.count == 4 else {
      throw ShapeError("MaxPool2D needs [N, C, H, W] input, got \(inputShape)")
    }
    return try PoolGeometry(
      batch: inputShape[0], channels: inputShape[1], height: inputShape[2], width: inputShape[3],
      window: window, stride: stride, padding: padding
    ).outputShape
  }
  public var kind: String { "MaxPool2D" }
}

/// Adaptive average pooling to a fixed size (torchvision's AlexNet: 6x6).
public final class AdaptiveAveragePool2D: Layer {
  public let height: Int, width: Int
  public var isTraining = true
  public init(height: Int, width: Int) { (self.height, self.width) = (height, width) }
  public func callAsFunction(_ input: Variable) -> Variable {
    input.adaptiveAveragePool2d(height: height, width: width)
  }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    guard inputShape.count == 4 else {
      throw ShapeError("AdaptiveAveragePool2D needs [N, C, H, W] input, got \(inputShape)")
    }
    return [inputShape[0], inputShape[1], height, width]
  }
}

/// Local response normalisation (see `LRNParameters` for the α convention).
public final class LocalResponseNorm: Layer {
  public let configuration: LRNParameters
  public var isTraining = true
  public init(_ configuration: LRNParameters = .alexNet) { self.configuration = configuration }
  public func callAsFunction(_ input: Variable) -> Variable {
    input.localResponseNorm(configuration)
  }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    guard inputShape.count == 4 || inputShape.count == 2 else {
      throw ShapeError("LocalResponseNorm needs [N, C, H, W] or [N, C] input, got \(inputShape)")
    }
    return inputShape
  }
}

/// Inverted dropout: active in training only, with its own seeded generator so runs repeat.
///
/// The trainer sets `sampleKeys` before each step: each sample's mask is then drawn from the
/// layer's seed and the sample's key (the epoch and its position in the epoch's order), never
/// from the process or the batch it falls in, so that data-parallel training and one process
/// drop the same units. Without keys (a layer called on its own) masks come from `generator`.
public final class Dropout: Layer {
  public let rate: Float
  /// The seed given at initialisation, from which per-sample masks are drawn; checkpoints
  /// save it.
  public var seed: UInt64
  /// The mask generator when there are no sample keys; checkpoints save its state.
  public var generator: SeededGenerator
  /// One key per sample of the next input (its first dimension), or nil.
  public var sampleKeys: [UInt64]?
  public var isTraining = true
  public init(rate: Float, seed: UInt64) {
    precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
    (self.rate, self.seed) = (rate, seed)
    self.generator = SeededGenerator(seed: seed)
  }
  public func callAsFunction(_ input: Variable) -> Variable {
    guard isTraining, let sampleKeys else {
      return input.dropout(rate: rate, training: isTraining, generator: &generator)
    }
    precondition(
      input.shape.first == sampleKeys.count,
      "dropout: \(sampleKeys.count) sample keys for input \(input.shape)")
    let rowSeeds = sampleKeys.map { dropoutRowSeed(layerSeed: seed, sampleKey: $0) }
    return input.dropout(rate: rate, training: isTraining, rowSeeds: rowSeeds)
  }
  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] { inputShape }
}

/// Batch normalisation over the channels of [N, C, H, W] or the features of [N, C]
/// (Keras's BatchNormalization, PyTorch's BatchNorm2d/1d). Conventions: see `BatchNormParameters`.
public final class BatchNorm: Layer {
  /// γ and β (PyTorch's `weight` and `bias`), trainable.
  public let gamma: Variable, beta: Variable
  /// Running averages, not trainable (Keras counts them as non-trainable parameters).
  public let runningMean: Variable, runningVariance: Variable
  public let configuration: BatchNormParameters
  public var isTraining = true

  public init(channels: Int, configuration: BatchNormParameters = .pytorch) {
    gamma = Variable(Tensor(shape: [channels], repeating: 1), requiresGradient: true)
    beta = Variable(Tensor(zeros: [channels]), requiresGradient: true)
    runningMean = Variable(Tensor(zeros: [channels]))
    runningVariance = Variable(Tensor(shape: [channels], repeating: 1))
    self.configuration = configuration
  }

  public var channels: Int { gamma.shape[0] }

  /// Sums channel statistics over the processes of a data-parallel job (`--sync-batch-norm`):
  /// training then normalises by the whole global batch. Nil: statistics of this process's batch.
  public var crossProcessSum: ChannelSumReduction?

  public func callAsFunction(_ input: Variable) -> Variable {
    if isTraining, let crossProcessSum {
      return input.batchNormSynchronized(
        gamma: gamma, beta: beta, runningMean: runningMean, runningVariance: runningVariance,
        parameters: configuration, reduce: crossProcessSum)
    }
    return input.batchNorm(
      gamma: gamma, beta: beta, runningMean: runningMean, runningVariance: runningVariance,
      parameters: configuration, training: isTraining)
  }

  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    guard inputShape.count == 4 || inputShape.count == 2, inputShape[1] == channels else {
      throw ShapeError(
        "BatchNorm of \(channels) channels needs [N, \(channels), H, W] or [N, \(channels)], got \(inputShape)"
      )
    }
    return inputShape
  }

  public var parameters: [(name: String, variable: Variable)] {
    [("weight", gamma), ("bias", beta)]
  }
  public var buffers: [(name: String, variable: Variable)] {
    [("running_mean", runningMean), ("running_var", runningVariance)]
  }
}
