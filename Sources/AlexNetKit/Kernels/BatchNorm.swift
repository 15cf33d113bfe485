/// Batch normalisation (Ioffe and Szegedy 2015) over the channels of [N, C, H, W] or the
/// features of [N, C] activations: y = γ·(x − μ)/√(σ² + ε) + β.
///
/// Training uses the batch's mean and (biased) variance and updates running averages;
/// inference uses the running averages. Conventions differ, so they are explicit:
/// `momentum` here is the weight of the new batch, as in PyTorch
/// (running ← (1 − momentum)·running + momentum·batch, default 0.1). Keras's `momentum` is the
/// weight of the old value (default 0.99), so Keras's 0.99 is 0.01 here. PyTorch keeps the
/// unbiased batch variance in the running average, Keras the biased one; ε is 1e-5 in PyTorch and
/// 1e-3 in Keras. `.pytorch` and `.keras` give each library's defaults.
public struct BatchNormParameters: Equatable, Hashable, Sendable {
  public var momentum: Float
  public var epsilon: Float
  public var unbiasedRunningVariance: Bool

  public init(momentum: Float = 0.1, epsilon: Float = 1e-5, unbiasedRunningVariance: Bool = true) {
    (self.momentum, self.epsilon, self.unbiasedRunningVariance) = (
      momentum, epsilon, unbiasedRunningVariance
    )
  }

  /// torch.nn.BatchNorm2d's defaults.
  public static let pytorch = BatchNormParameters()
  /// keras.layers.BatchNormalization's defaults (momentum 0.99, epsilon 1e-3), in this convention.
  public static let keras = BatchNormParameters(
    momentum: 0.01, epsilon: 1e-3, unbiasedRunningVariance: false)
}

/// What the training forward pass keeps for its backward: per channel mean and 1/√(σ²+ε).
public struct BatchNormStatistics {
  public var mean: [Float]
  public var inverseStandardDeviation: [Float]
}

func batchNormDimensions(_ input: Tensor) -> (batch: Int, channels: Int, plane: Int) {
  precondition(
    input.rank == 4 || input.rank == 2,
    "batch norm needs [N, C, H, W] or [N, C] input, got \(input.shape)")
  return (input.shape[0], input.shape[1], input.rank == 4 ? input.shape[2] * input.shape[3] : 1)
}

func checkBatchNormParameters(_ input: Tensor, _ tensors: [(String, Tensor)]) {
  let c = input.shape[1]
  for (name, t) in tensors {
    precondition(
      t.shape == [c], "batch norm of \(input.shape): \(name) \(t.shape), expected [\(c)]")
  }
}

// MARK: - Naive reference

/// Flat indices of one channel's elements across the batch, in order.
func batchNormIndices(channel: Int, batch: Int, channels: Int, plane: Int) -> [Int] {
  var indices: [Int] = []
  for image in 0..<batch {
    let start = (image * channels + channel) * plane
    indices += start..<(start + plane)
  }
  return indices
}

/// Reference training forward, in Double, two passes per channel. Updates the running averages.
public func batchNormForwardTrainingNaive(
  _ p: BatchNormParameters, input: Tensor, gamma: Tensor, beta: Tensor,
  runningMean: inout Tensor, runningVariance: inout Tensor
) -> Tensor {
  checkBatchNormParameters(
    input,
    [
      ("gamma", gamma), ("beta", beta), ("running mean", runningMean),
      ("running variance", runningVariance),
    ])
  let (n, c, plane) = batchNormDimensions(input)
  let x = input.scalars
  let count = Double(n * plane)
  var y = x
  for channel in 0..<c {
    let indices = batchNormIndices(channel: channel, batch: n, channels: c, plane: plane)
    let mean = indices.reduce(0.0) { $0 + Double(x[$1]) } / count
    let variance =
      indices.reduce(0.0) { $0 + (Double(x[$1]) - mean) * (Double(x[$1]) - mean) } / count
    let inverse = 1 / (variance + Double(p.epsilon)).squareRoot()
    for index in indices {
      y[index] = Float(
        Double(gamma[flat: channel]) * (Double(x[index]) - mean) * inverse
          + Double(beta[flat: channel]))
    }
    let stored = p.unbiasedRunningVariance && count > 1 ? variance * count / (count - 1) : variance
    runningMean[flat: channel] = Float(
      (1 - Double(p.momentum)) * Double(runningMean[flat: channel]) + Double(p.momentum) * mean)
    runningVariance[flat: channel] =
      Float(
        (1 - Double(p.momentum)) * Double(runningVariance[flat: channel]) + Double(p.momentum)
          * stored)
  }
  return Tensor(shape: input.shape, scalars: y)
}

/// Reference training backward, differentiating through the batch mean and variance:
/// dx = γ/σ̂·(dy − mean(dy) − x̂·mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
public func batchNormBackwardTrainingNaive(
  _ p: BatchNormParameters, input: Tensor, gamma: Tensor, outputGradient: Tensor
) -> (input: Tensor, gamma: Tensor, beta: Tensor) {
  let (n, c, plane) = batchNormDimensions(input)
  let x = input.scalars
  let dy = outputGradient.scalars
  let count = Double(n * plane)
  var dx = [Float](repeating: 0, count: x.count)
  var dgamma = [Float](repeating: 0, count: c)
  var dbeta = [Float](repeating: 0, count: c)
  for channel in 0..<c {
    let indices = batchNormIndices(channel: channel, batch: n, channels: c, plane: plane)
    let mean = indices.reduce(0.0) { $0 + Double(x[$1]) } / count
    let variance =
      indices.reduce(0.0) { $0 + (Double(x[$1]) - mean) * (Double(x[$1]) - mean) } / count
    let inverse = 1 / (variance + Double(p.epsilon)).squareRoot()
    let normalized = indices.map { (Double(x[$0]) - mean) * inverse }
    let sumDy = indices.reduce(0.0) { $0 + Double(dy[$1]) }
    let sumDyX = zip(indices, normalized).reduce(0.0) { $0 + Double(dy[$1.0]) * $1.1 }
    for (index, xhat) in zip(indices, normalized) {
      dx[index] = Float(
        Double(gamma[flat: channel]) * inverse
          * (Double(dy[index]) - sumDy / count - xhat * sumDyX / count))
    }
    dgamma[channel] = Float(sumDyX)
    dbeta[channel] = Float(sumDy)
  }
  return (
    Tensor(shape: input.shape, scalars: dx), Tensor(shape: [c], scalars: dgamma),
    Tensor(shape: [c], scalars: dbeta)
  )
}

// MARK: - Fast version

/// Training forward, parallel over channels, Float with per-channel sums in Double. Updates the
/// running averages and returns the statistics the backward pass needs.
public func batchNormForwardTraining(
  _ p: BatchNormParameters, input: Tensor, gamma: Tensor, beta: Tensor,
  runningMean: inout Tensor, runningVariance: inout Tensor
) -> (output: Tensor, statistics: BatchNormStatistics) {
  checkBatchNormParameters(
    input,
    [
      ("gamma", gamma), ("beta", beta), ("running mean", runningMean),
      ("running variance", runningVariance),
    ])
  let (n, c, plane) = batchNormDimensions(input)
  let count = n * plane
  var means = [Float](repeating: 0, count: c)
  var inverses = [Float](repeating: 0, count: c)
  var variances = [Float](repeating: 0, count: c)
  var output = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      gamma.withUnsafeBufferPointer { gamma in
        beta.withUnsafeBufferPointer { beta in
          means.withUnsafeMutableBufferPointer { means in
            inverses.withUnsafeMutableBufferPointer { inverses in
              variances.withUnsafeMutableBufferPointer { variances in
                Parallel.forEachChunk(c) { channels in
                  for channel in channels {
                    var sum: Double = 0
                    for image in 0..<n {
                      sum += Double(
                        vectorSum(x.baseAddress! + (image * c + channel) * plane, count: plane))
                    }
                    let mean = Float(sum / Double(count))
                    var squares: Double = 0
                    for image in 0..<n {
                      squares += Double(
                        vectorSumOfSquaredDeviations(
                          x.baseAddress! + (image * c + channel) * plane,
                          count: plane, mean: mean))
                    }
                    let variance = Float(squares / Double(count))
                    let inverse = 1 / (variance + p.epsilon).squareRoot()
                    let scale = gamma[channel] * inverse
                    let shift = beta[channel] - mean * scale
                    for image in 0..<n {
                      let offset = (image * c + channel) * plane
                      for i in 0..<plane { y[offset + i] = x[offset + i] * scale + shift }
                    }
                    (means[channel], inverses[channel], variances[channel]) = (
                      mean, inverse, variance
                    )
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  let correction: Float =
    p.unbiasedRunningVariance && count > 1 ? Float(count) / Float(count - 1) : 1
  for channel in 0..<c {
    runningMean[flat: channel] =
      (1 - p.momentum) * runningMean[flat: channel] + p.momentum * means[channel]
    runningVariance[flat: channel] =
      (1 - p.momentum) * runningVariance[flat: channel] + p.momentum * variances[channel]
      * correction
  }
  return (output, BatchNormStatistics(mean: means, inverseStandardDeviation: inverses))
}

/// Training backward from the saved statistics; see the reference for the formula.
public func batchNormBackwardTraining(
  input: Tensor, gamma: Tensor, statistics: BatchNormStatistics, outputGradient: Tensor
) -> (input: Tensor, gamma: Tensor, beta: Tensor) {
  let (n, c, plane) = batchNormDimensions(input)
  precondition(
    outputGradient.shape == input.shape,
    "batch norm: output gradient \(outputGradient.shape), expected \(input.shape)")
  let count = Float(n * plane)
  var dx = Tensor(uninitializedShape: input.shape)
  var dgamma = Tensor(zeros: [c])
  var dbeta = Tensor(zeros: [c])
  input.withUnsafeBufferPointer { x in
    outputGradient.withUnsafeBufferPointer { dy in
      dx.withUnsafeMutableBufferPointer { dx in
        dgamma.withUnsafeMutableBufferPointer { dgamma in
          dbeta.withUnsafeMutableBufferPointer { dbeta in
            gamma.withUnsafeBufferPointer { gamma in
              Parallel.forEachChunk(c) { channels in
                for channel in channels {
                  let mean = statistics.mean[channel]
                  let inverse = statistics.inverseStandardDeviation[channel]
                  var sumDy: Double = 0
                  var sumDyX: Double = 0
                  for image in 0..<n {
                    let offset = (image * c + channel) * plane
                    let (a, b) = vectorGradientSums(
                      dy.baseAddress! + offset, x.baseAddress! + offset, count: plane,
                      mean: mean)
                    sumDy += Double(a)
                    sumDyX += Double(b * inverse)
                  }
                  let meanDy = Float(sumDy) / count
                  let meanDyX = Float(sumDyX) / count
                  let scale = gamma[channel] * inverse
                  for image in 0..<n {
                    let offset = (image * c + channel) * plane
                    for i in 0..<plane {
                      let xhat = (x[offset + i] - mean) * inverse
                      dx[offset + i] = scale * (dy[offset + i] - meanDy - xhat * meanDyX)
                    }
                  }
                  dgamma[channel] = Float(sumDyX)
                  dbeta[channel] = Float(sumDy)
                }
              }
            }
          }
        }
      }
    }
  }
  return (dx, dgamma, dbeta)
}

/// Inference forward with the running averages: a per-channel affine map.
public func batchNormForwardInference(
  _ p: BatchNormParameters, input: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor,
  runningVariance: Tensor
) -> Tensor {
  checkBatchNormParameters(
    input,
    [
      ("gamma", gamma), ("beta", beta), ("running mean", runningMean),
      ("running variance", runningVariance),
    ])
  let (scale, shift) = batchNormInferenceAffine(
    p, gamma: gamma, beta: beta, runningMean: runningMean,
    runningVariance: runningVariance)
  let (n, c, plane) = batchNormDimensions(input)
  var output = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      Parallel.forEachChunk(n * c, minimumChunk: 4) { rows in
        for row in rows {
          let channel = row % c
          let offset = row * plane
          for i in 0..<plane { y[offset + i] = x[offset + i] * scale[channel] + shift[channel] }
        }
      }
    }
  }
  return output
}

/// Inference backward: dx = dy·γ/√(running variance + ε); dγ = Σ dy·x̂, dβ = Σ dy.
public func batchNormBackwardInference(
  _ p: BatchNormParameters, input: Tensor, gamma: Tensor, runningMean: Tensor,
  runningVariance: Tensor,
  outputGradient: Tensor
) -> (input: Tensor, gamma: Tensor, beta: Tensor) {
  let (n, c, plane) = batchNormDimensions(input)
  let x = input.scalars
  let dy = outputGradient.scalars
  var dx = dy
  var dgamma = [Float](repeating: 0, count: c)
  var dbeta = [Float](repeating: 0, count: c)
  for row in 0..<(n * c) {
    let channel = row % c
    let inverse = 1 / (runningVariance[flat: channel] + p.epsilon).squareRoot()
    for i in (row * plane)..<((row + 1) * plane) {
      dx[i] = dy[i] * gamma[flat: channel] * inverse
      dgamma[channel] += dy[i] * (x[i] - runningMean[flat: channel]) * inverse
      dbeta[channel] += dy[i]
    }
  }
  return (
    Tensor(shape: input.shape, scalars: dx), Tensor(shape: [c], scalars: dgamma),
    Tensor(shape: [c], scalars: dbeta)
  )
}

/// γ/√(σ²+ε) and β − μ·γ/√(σ²+ε) per channel.
func batchNormInferenceAffine(
  _ p: BatchNormParameters, gamma: Tensor, beta: Tensor, runningMean: Tensor,
  runningVariance: Tensor
) -> (scale: [Float], shift: [Float]) {
  let c = gamma.count
  var scale = [Float](repeating: 0, count: c)
  var shift = scale
  for channel in 0..<c {
    scale[channel] =
      gamma[flat: channel] / (runningVariance[flat: channel] + p.epsilon).squareRoot()
    shift[channel] = beta[flat: channel] - runningMean[flat: channel] * scale[channel]
  }
  return (scale, shift)
}
