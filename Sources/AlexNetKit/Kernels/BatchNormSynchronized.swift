/// Batch normalisation over a batch split among processes (PyTorch's SyncBatchNorm): the mean
/// and variance are those of the whole batch, and the backward differentiates through them.
///
/// The kernels know nothing of MPI: `reduce` sums a buffer of Doubles over the processes that
/// share the batch, in place (the identity in one process). Every process calls it with the same
/// sizes in the same order: twice in the forward (Σx with the element count, then Σ(x − μ)²,
/// two passes as in the one-process kernel) and once in the backward (Σdy and Σdy·x̂).
///
/// Gradients are weighted by images, as `DataParallel` averages them: process r's loss is the
/// mean over its n_r images, the global loss Σ_r (n_r/N)·loss_r. So process r sends
/// (n_r/N)·Σdy, and divides the reduced sums by its own element count: its dx is then 1/w_r times
/// its share of the global gradient, which the weighted average of parameter gradients undoes.
/// dγ and dβ stay local sums, weighted in that average like any parameter's gradient.
public typealias ChannelSumReduction = (UnsafeMutableBufferPointer<Double>) -> Void

/// What a synchronized forward keeps for its backward: the global statistics and the counts.
public struct SynchronizedBatchNormStatistics {
  public var statistics: BatchNormStatistics
  /// Elements per channel here (n·H·W) and over all processes.
  public var localCount: Int, globalCount: Int
}

/// Training forward over the whole batch of all processes; updates the running averages with
/// the global statistics (unbiased with the global count), so they agree on every process.
public func batchNormForwardTrainingSynchronized(
  _ p: BatchNormParameters, input: Tensor, gamma: Tensor, beta: Tensor,
  runningMean: inout Tensor, runningVariance: inout Tensor, reduce: ChannelSumReduction
) -> (output: Tensor, statistics: SynchronizedBatchNormStatistics) {
  checkBatchNormParameters(
    input,
    [
      ("gamma", gamma), ("beta", beta), ("running mean", runningMean),
      ("running variance", runningVariance),
    ])
  let (n, c, plane) = batchNormDimensions(input)
  var sums = [Double](repeating: 0, count: c + 1)
  sums[c] = Double(n * plane)
  input.withUnsafeBufferPointer { x in
    sums.withUnsafeMutableBufferPointer { sums in
      batchNormChannelSums(x, batch: n, channels: c, plane: plane, into: sums)
      reduce(sums)
    }
  }
  let globalCount = Int(sums[c])
  precondition(globalCount > 0, "synchronized batch norm over an empty global batch")
  let means = (0..<c).map { Float(sums[$0] / Double(globalCount)) }
  var squares = [Double](repeating: 0, count: c)
  input.withUnsafeBufferPointer { x in
    squares.withUnsafeMutableBufferPointer { squares in
      batchNormChannelSquaredDeviations(
        x, batch: n, channels: c, plane: plane, means: means, into: squares)
      reduce(squares)
    }
  }
  let variances = squares.map { Float($0 / Double(globalCount)) }
  let inverses = variances.map { 1 / ($0 + p.epsilon).squareRoot() }
  let scales = (0..<c).map { gamma[flat: $0] * inverses[$0] }
  let shifts = (0..<c).map { beta[flat: $0] - means[$0] * scales[$0] }
  var output = Tensor(uninitializedShape: input.shape)
  batchNormAffine(input, into: &output, scales: scales, shifts: shifts)
  let correction: Float =
    p.unbiasedRunningVariance && globalCount > 1
    ? Float(globalCount) / Float(globalCount - 1) : 1
  for channel in 0..<c {
    runningMean[flat: channel] =
      (1 - p.momentum) * runningMean[flat: channel] + p.momentum * means[channel]
    runningVariance[flat: channel] =
      (1 - p.momentum) * runningVariance[flat: channel] + p.momentum * variances[channel]
      * correction
  }
  let statistics = BatchNormStatistics(mean: means, inverseStandardDeviation: inverses)
  return (
    output,
    SynchronizedBatchNormStatistics(
      statistics: statistics, localCount: n * plane, globalCount: globalCount)
  )
}

/// Training backward over the whole batch: dx = γ/σ̂·(dy − mean(dy) − x̂·mean(dy·x̂)) with the
/// means over all processes (weighted as the file's comment says); dγ, dβ local sums.
public func batchNormBackwardTrainingSynchronized(
  input: Tensor, gamma: Tensor, statistics shared: SynchronizedBatchNormStatistics,
  outputGradient: Tensor, reduce: ChannelSumReduction
) -> (input: Tensor, gamma: Tensor, beta: Tensor) {
  let (n, c, plane) = batchNormDimensions(input)
  precondition(
    outputGradient.shape == input.shape,
    "batch norm: output gradient \(outputGradient.shape), expected \(input.shape)")
  let statistics = shared.statistics
  var local = [Double](repeating: 0, count: 2 * c)
  input.withUnsafeBufferPointer { x in
    outputGradient.withUnsafeBufferPointer { dy in
      local.withUnsafeMutableBufferPointer { local in
        batchNormGradientSums(
          x, dy, batch: n, channels: c, plane: plane, statistics, into: local)
      }
    }
  }
  let weight = Double(shared.localCount) / Double(shared.globalCount)
  var reduced = local.map { $0 * weight }
  reduced.withUnsafeMutableBufferPointer { reduce($0) }
  let count = Double(shared.localCount)
  let meanDy = (0..<c).map { Float(reduced[$0] / count) }
  let meanDyX = (0..<c).map { Float(reduced[c + $0] / count) }
  var dx = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    outputGradient.withUnsafeBufferPointer { dy in
      dx.withUnsafeMutableBufferPointer { dx in
        Parallel.forEachChunk(n * c, minimumChunk: 4) { rows in
          for row in rows {
            let channel = row % c
            let mean = statistics.mean[channel]
            let inverse = statistics.inverseStandardDeviation[channel]
            let scale = gamma[flat: channel] * inverse
            for i in (row * plane)..<((row + 1) * plane) {
              let xhat = (x[i] - mean) * inverse
              dx[i] = scale * (dy[i] - meanDy[channel] - xhat * meanDyX[channel])
            }
          }
        }
      }
    }
  }
  let dgamma = Tensor(shape: [c], scalars: local[c...].map { Float($0) })
  let dbeta = Tensor(shape: [c], scalars: local[..<c].map { Float($0) })
  return (dx, dgamma, dbeta)
}

/// A process with no images this step still takes part in a synchronized batch norm's
/// reductions (the others wait for it), with zeros and a count of zero: the forward's two...
public func batchNormSynchronizedAbsentForward(channels: Int, reduce: ChannelSumReduction) {
  var sums = [Double](repeating: 0, count: channels + 1)
  sums.withUnsafeMutableBufferPointer { reduce($0) }
  var squares = [Double](repeating: 0, count: channels)
  squares.withUnsafeMutableBufferPointer { reduce($0) }
}

/// ...and the backward's one.
public func batchNormSynchronizedAbsentBackward(channels: Int, reduce: ChannelSumReduction) {
  var sums = [Double](repeating: 0, count: 2 * channels)
  sums.withUnsafeMutableBufferPointer { reduce($0) }
}

// MARK: - Per-channel passes, parallel over channels

/// sums[channel] = Σ x over the channel's elements (Double across images).
func batchNormChannelSums(
  _ x: UnsafeBufferPointer<Float>, batch n: Int, channels c: Int, plane: Int,
  into sums: UnsafeMutableBufferPointer<Double>
) {
  Parallel.forEachChunk(c) { channels in
    for channel in channels {
      var sum: Double = 0
      for image in 0..<n {
        sum += Double(vectorSum(x.baseAddress! + (image * c + channel) * plane, count: plane))
      }
      sums[channel] = sum
    }
  }
}

/// squares[channel] = Σ (x − means[channel])² over the channel's elements.
func batchNormChannelSquaredDeviations(
  _ x: UnsafeBufferPointer<Float>, batch n: Int, channels c: Int, plane: Int, means: [Float],
  into squares: UnsafeMutableBufferPointer<Double>
) {
  Parallel.forEachChunk(c) { channels in
    for channel in channels {
      var sum: Double = 0
      for image in 0..<n {
        sum += Double(
          vectorSumOfSquaredDeviations(
            x.baseAddress! + (image * c + channel) * plane, count: plane, mean: means[channel]))
      }
      squares[channel] = sum
    }
  }
}

/// sums[channel] = Σ dy and sums[c + channel] = Σ dy·x̂ over the channel's elements.
func batchNormGradientSums(
  _ x: UnsafeBufferPointer<Float>, _ dy: UnsafeBufferPointer<Float>, batch n: Int,
  channels c: Int, plane: Int, _ statistics: BatchNormStatistics,
  into sums: UnsafeMutableBufferPointer<Double>
) {
  Parallel.forEachChunk(c) { channels in
    for channel in channels {
      let mean = statistics.mean[channel]
      let inverse = statistics.inverseStandardDeviation[channel]
      var (sumDy, sumDyX): (Double, Double) = (0, 0)
      for image in 0..<n {
        let offset = (image * c + channel) * plane
        let (a, b) = vectorGradientSums(
          dy.baseAddress! + offset, x.baseAddress! + offset, count: plane, mean: mean)
        sumDy += Double(a)
        sumDyX += Double(b * inverse)
      }
      (sums[channel], sums[c + channel]) = (sumDy, sumDyX)
    }
  }
}

/// output = input·scales[channel] + shifts[channel], parallel over (image, channel) rows.
func batchNormAffine(_ input: Tensor, into output: inout Tensor, scales: [Float], shifts: [Float]) {
  let (n, c, plane) = batchNormDimensions(input)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      Parallel.forEachChunk(n * c, minimumChunk: 4) { rows in
        for row in rows {
          let channel = row % c
          for i in (row * plane)..<((row + 1) * plane) {
            y[i] = x[i] * scales[channel] + shifts[channel]
          }
        }
      }
    }
  }
}
