import RealModule

/// Softmax followed by cross-entropy, fused so that it is numerically stable (logits of 1e4 do
/// not overflow) and its gradient is the simple softmax − target.
///
/// Targets are probability rows [N, C]: one-hot labels, smoothed labels or any distribution.
/// With per-sample weights w (class weights looked up per label), the loss is
/// Σ_n w_n·(−Σ_c t_nc·log p_nc) / Σ_n w_n, PyTorch's weighted mean; without, the plain mean.
/// The gradient with respect to the logits is w_n·(p_n·Σ_c t_nc − t_n) / Σ w.
public struct SoftmaxCrossEntropyResult {
  public var loss: Float
  /// Softmax probabilities [N, C].
  public var probabilities: Tensor
  /// d loss / d logits [N, C].
  public var gradient: Tensor
}

func checkCrossEntropyShapes(_ logits: Tensor, _ targets: Tensor, _ weights: [Float]?) {
  precondition(logits.rank == 2, "cross-entropy needs logits [N, C], got \(logits.shape)")
  precondition(
    targets.shape == logits.shape, "cross-entropy: logits \(logits.shape), targets \(targets.shape)"
  )
  if let weights {
    precondition(
      weights.count == logits.shape[0],
      "cross-entropy: \(weights.count) weights for \(logits.shape[0]) rows")
  }
}

/// Reference: softmax by the log-sum-exp identity in Double, then the textbook sums.
public func softmaxCrossEntropyNaive(logits: Tensor, targets: Tensor, weights: [Float]? = nil)
  -> SoftmaxCrossEntropyResult
{
  checkCrossEntropyShapes(logits, targets, weights)
  let n = logits.shape[0]
  let c = logits.shape[1]
  let z = logits.scalars.map(Double.init)
  let t = targets.scalars.map(Double.init)
  let w = (weights ?? [Float](repeating: 1, count: n)).map(Double.init)
  let totalWeight = w.reduce(0, +)
  var loss = 0.0
  var p = [Float](repeating: 0, count: n * c)
  var gradient = p
  for row in 0..<n {
    let logits = z[(row * c)..<((row + 1) * c)]
    let top = logits.max()!
    let logSum = top + Double.log(logits.reduce(0) { $0 + Double.exp($1 - top) })
    let targetSum = t[(row * c)..<((row + 1) * c)].reduce(0, +)
    for j in 0..<c {
      let logP = z[row * c + j] - logSum
      loss -= w[row] * t[row * c + j] * logP
      p[row * c + j] = Float(Double.exp(logP))
      gradient[row * c + j] = Float(
        w[row] * (Double.exp(logP) * targetSum - t[row * c + j]) / totalWeight)
    }
  }
  return SoftmaxCrossEntropyResult(
    loss: Float(loss / totalWeight), probabilities: Tensor(shape: [n, c], scalars: p),
    gradient: Tensor(shape: [n, c], scalars: gradient))
}

/// Fast version in Float: the row maximum is subtracted before exponentiating, and log p is
/// formed as (z − max) − log Σ exp(z − max), never as the log of a rounded probability.
public func softmaxCrossEntropy(logits: Tensor, targets: Tensor, weights: [Float]? = nil)
  -> SoftmaxCrossEntropyResult
{
  checkCrossEntropyShapes(logits, targets, weights)
  let n = logits.shape[0]
  let c = logits.shape[1]
  var probabilities = Tensor(uninitializedShape: [n, c])
  var gradient = Tensor(uninitializedShape: [n, c])
  var totalWeight: Float = 0
  for row in 0..<n { totalWeight += weights?[row] ?? 1 }
  var loss: Double = 0
  logits.withUnsafeBufferPointer { z in
    targets.withUnsafeBufferPointer { t in
      probabilities.withUnsafeMutableBufferPointer { p in
        gradient.withUnsafeMutableBufferPointer { g in
          for row in 0..<n {
            let offset = row * c
            var top = -Float.infinity
            for j in 0..<c { top = Swift.max(top, z[offset + j]) }
            var sum: Float = 0
            for j in 0..<c {
              p[offset + j] = Float.exp(z[offset + j] - top)
              sum += p[offset + j]
            }
            let logSum = Float.log(sum)
            let inverse = 1 / sum
            let weight = weights?[row] ?? 1
            var rowLoss: Float = 0
            var targetSum: Float = 0
            for j in 0..<c {
              rowLoss -= t[offset + j] * (z[offset + j] - top - logSum)
              targetSum += t[offset + j]
              p[offset + j] *= inverse
            }
            loss += Double(weight * rowLoss)
            let scale = weight / totalWeight
            for j in 0..<c { g[offset + j] = scale * (p[offset + j] * targetSum - t[offset + j]) }
          }
        }
      }
    }
  }
  return SoftmaxCrossEntropyResult(
    loss: Float(loss / Double(totalWeight)), probabilities: probabilities, gradient: gradient)
}

/// Target rows for class indices: one-hot, or with label smoothing ε,
/// (1 − ε)·one-hot + ε / C (Szegedy et al. 2016, as Keras and PyTorch define it).
public func oneHotTargets(labels: [Int], classes: Int, labelSmoothing: Float = 0) -> Tensor {
  precondition(
    labelSmoothing >= 0 && labelSmoothing < 1,
    "label smoothing must be in [0, 1), got \(labelSmoothing)")
  var targets = Tensor(shape: [labels.count, classes], repeating: labelSmoothing / Float(classes))
  targets.withUnsafeMutableBufferPointer { t in
    for (row, label) in labels.enumerated() {
      precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
      t[row * classes + label] += 1 - labelSmoothing
    }
  }
  return targets
}
