// The kernels as differentiable operations: each forward calls the fast kernel and records a
// pullback that calls the kernel's own backward, capturing only what that backward needs.

extension Variable {
  /// 2-D convolution (see `ConvGeometry`); `bias` may be nil. With `activation: .relu` the ReLU
  /// is applied in the same pass and its backward folded into the convolution's: one node, and
  /// no pre-activation tensor kept or written.
  public func conv2d(
    _ weight: Variable, _ bias: Variable?, stride: Int = 1, padding: Padding = .valid,
    groups: Int = 1, activation: Activation = .identity
  ) -> Variable {
    let g = Variable.convGeometry(
      input: shape, weight: weight.shape, stride: stride, padding: padding, groups: groups)
    let x = value
    let w = weight.value
    // The algorithm of each shape and pass by the policy ALEXNET_CONV_ALGORITHM names (a rule of
    // the shape unless it asks for measurement or one algorithm).
    let y = conv2dForward(
      g, input: x, weight: w, bias: bias?.value, activation: activation,
      policy: .environment)
    let reluOutput = activation == .relu ? y : nil
    return Variable.record(
      y, activation == .relu ? "conv2d+relu" : "conv2d", [self, weight] + (bias.map { [$0] } ?? [])
    ) { dy in
      let gradients = conv2dBackward(
        g, input: x, weight: w, reluOutput: reluOutput, outputGradient: dy,
        needsInputGradient: self.requiresGradient, policy: .environment)
      if let dx = gradients.input { self.accumulate(dx) }
      if weight.requiresGradient { weight.accumulate(gradients.weight) }
      if let bias, bias.requiresGradient { bias.accumulate(gradients.bias) }
    }
  }

  static func convGeometry(input: [Int], weight: [Int], stride: Int, padding: Padding, groups: Int)
    -> ConvGeometry
  {
    precondition(
      input.count == 4 && weight.count == 4,
      "conv2d needs input [N, C, H, W] and weight [out, in/groups, k, k], got \(input) and \(weight)"
    )
    precondition(weight[2] == weight[3], "conv2d takes square kernels, got weight \(weight)")
    precondition(
      weight[1] * groups == input[1],
      "conv2d: input \(input) has \(input[1]) channels; weight \(weight) with \(groups) groups expects \(weight[1] * groups)"
    )
    do {
      return try ConvGeometry(
        batch: input[0], inChannels: input[1], height: input[2], width: input[3],
        outChannels: weight[0], kernel: weight[2], stride: stride, padding: padding, groups: groups)
    } catch {
      preconditionFailure(error.message)
    }
  }

  /// Max pooling with a square window.
  public func maxPool2d(window: Int, stride: Int, padding: Padding = .valid) -> Variable {
    precondition(value.rank == 4, "max pooling needs [N, C, H, W], got \(shape)")
    let g: PoolGeometry
    do {
      g = try PoolGeometry(
        batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], window: window,
        stride: stride, padding: padding)
    } catch {
      preconditionFailure(error.message)
    }
    guard GradientMode.isEnabled && requiresGradient else {
      return Variable(maxPool2dInference(g, input: value))
    }
    let (y, argmax) = maxPool2dForward(g, input: value)
    return Variable.record(y, "maxPool2d", [self]) { dy in
      self.accumulate(maxPool2dBackward(g, outputGradient: dy, argmax: argmax))
    }
  }

  /// Adaptive average pooling to a fixed spatial size.
  public func adaptiveAveragePool2d(height: Int, width: Int) -> Variable {
    precondition(value.rank == 4, "adaptive average pooling needs [N, C, H, W], got \(shape)")
    let inputShape = shape
    if inputShape[2] == height && inputShape[3] == width { return self }
    let y = adaptiveAveragePool2dForward(input: value, outputHeight: height, outputWidth: width)
    return Variable.record(y, "adaptiveAveragePool2d", [self]) { dy in
      self.accumulate(adaptiveAveragePool2dBackward(outputGradient: dy, inputShape: inputShape))
    }
  }

  /// Local response normalisation across channels.
  public func localResponseNorm(_ parameters: LRNParameters) -> Variable {
    let x = value
    return Variable.record(
      localResponseNormForward(parameters, input: x), "localResponseNorm", [self]
    ) { dy in
      self.accumulate(localResponseNormBackward(parameters, input: x, outputGradient: dy))
    }
  }

  /// Batch normalisation; in training it uses and updates the running statistics' values.
  public func batchNorm(
    gamma: Variable, beta: Variable, runningMean: Variable, runningVariance: Variable,
    parameters: BatchNormParameters, training: Bool
  ) -> Variable {
    let x = value
    let gammaValue = gamma.value
    if training {
      let (y, statistics) = batchNormForwardTraining(
        parameters, input: x, gamma: gammaValue, beta: beta.value,
        runningMean: &runningMean.value, runningVariance: &runningVariance.value)
      return Variable.record(y, "batchNorm", [self, gamma, beta]) { dy in
        let gradients = batchNormBackwardTraining(
          input: x, gamma: gammaValue, statistics: statistics, outputGradient: dy)
        if self.requiresGradient { self.accumulate(gradients.input) }
        if gamma.requiresGradient { gamma.accumulate(gradients.gamma) }
        if beta.requiresGradient { beta.accumulate(gradients.beta) }
      }
    }
    let mean = runningMean.value
    let variance = runningVariance.value
    let y = batchNormForwardInference(
      parameters, input: x, gamma: gammaValue, beta: beta.value, runningMean: mean,
      runningVariance: variance)
    return Variable.record(y, "batchNorm", [self, gamma, beta]) { dy in
      let gradients = batchNormBackwardInference(
        parameters, input: x, gamma: gammaValue, runningMean: mean,
        runningVariance: variance, outputGradient: dy)
      if self.requiresGradient { self.accumulate(gradients.input) }
      if gamma.requiresGradient { gamma.accumulate(gradients.gamma) }
      if beta.requiresGradient { beta.accumulate(gradients.beta) }
    }
  }

  /// Training-mode batch norm over a batch split among processes, `reduce` summing over them
  /// (see `batchNormForwardTrainingSynchronized`); its backward reduces Σdy and Σdy·x̂ as well.
  public func batchNormSynchronized(
    gamma: Variable, beta: Variable, runningMean: Variable, runningVariance: Variable,
    parameters: BatchNormParameters, reduce: @escaping ChannelSumReduction
  ) -> Variable {
    let x = value
    let gammaValue = gamma.value
    let (y, statistics) = batchNormForwardTrainingSynchronized(
      parameters, input: x, gamma: gammaValue, beta: beta.value,
      runningMean: &runningMean.value, runningVariance: &runningVariance.value, reduce: reduce)
    return Variable.record(y, "batchNorm", [self, gamma, beta]) { dy in
      let gradients = batchNormBackwardTrainingSynchronized(
        input: x, gamma: gammaValue, statistics: statistics, outputGradient: dy, reduce: reduce)
      if self.requiresGradient { self.accumulate(gradients.input) }
      if gamma.requiresGradient { gamma.accumulate(gradients.gamma) }
      if beta.requiresGradient { beta.accumulate(gradients.beta) }
    }
  }

  /// Fully connected: self [N, in] · weightᵀ [in, out] + bias.
  public func dense(_ weight: Variable, _ bias: Variable?) -> Variable {
    let x = value
    let w = weight.value
    let y = denseForward(input: x, weight: w, bias: bias?.value)
    return Variable.record(y, "dense", [self, weight] + (bias.map { [$0] } ?? [])) { dy in
      let gradients = denseBackward(
        input: x, weight: w, outputGradient: dy, needsInputGradient: self.requiresGradient)
      if let dx = gradients.input { self.accumulate(dx) }
      if weight.requiresGradient { weight.accumulate(gradients.weight) }
      if let bias, bias.requiresGradient { bias.accumulate(gradients.bias) }
    }
  }

  /// max(0, x); its backward needs only the output.
  public func relu() -> Variable {
    let y = reluForward(input: value)
    return Variable.record(y, "relu", [self]) { dy in
      self.accumulate(reluBackward(output: y, outputGradient: dy))
    }
  }

  /// tanh(x); its backward needs only the output: dx = dy · (1 − y²).
  public func tanh() -> Variable {
    let y = tanhForward(input: value)
    return Variable.record(y, "tanh", [self]) { dy in
      self.accumulate(tanhBackward(output: y, outputGradient: dy))
    }
  }

  /// Inverted dropout in training (mask drawn from `generator`); the identity otherwise.
  public func dropout(rate: Float, training: Bool, generator: inout SeededGenerator) -> Variable {
    guard training, rate > 0 else { return self }
    let mask = dropoutMask(shape: shape, rate: rate, using: &generator)
    return Variable.record(dropoutForward(input: value, mask: mask), "dropout", [self]) { dy in
      self.accumulate(dy * mask)
    }
  }

  /// Inverted dropout in training with one mask row per sample, drawn from `rowSeeds` (see
  /// `dropoutMask(shape:rate:rowSeeds:)`); the identity otherwise.
  public func dropout(rate: Float, training: Bool, rowSeeds: [UInt64]) -> Variable {
    guard training, rate > 0 else { return self }
    let mask = dropoutMask(shape: shape, rate: rate, rowSeeds: rowSeeds)
    return Variable.record(dropoutForward(input: value, mask: mask), "dropout", [self]) { dy in
      self.accumulate(dy * mask)
    }
  }

  /// Mean softmax cross-entropy of logits [N, C] against target rows [N, C] (one-hot or
  /// smoothed), optionally weighted per sample. Returns the scalar loss and the probabilities.
  public func softmaxCrossEntropy(targets: Tensor, weights: [Float]? = nil) -> (
    loss: Variable, probabilities: Tensor
  ) {
    let result = AlexNetKit.softmaxCrossEntropy(logits: value, targets: targets, weights: weights)
    let loss = Variable.record(Tensor(result.loss), "softmaxCrossEntropy", [self]) { g in
      self.accumulate(result.gradient * g.scalar)
    }
    return (loss, result.probabilities)
  }
}
