import RealModule

/// Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization") within a batch:
/// λ ~ Beta(α, α) and a random permutation π of the batch give
///
///     x̃ᵢ = λ·xᵢ + (1 − λ)·x_π(i)        ỹᵢ = λ·yᵢ + (1 − λ)·y_π(i)
///
/// with y the target rows (one-hot, or smoothed). Cross-entropy is linear in the target, so the
/// loss on ỹ is λ·CE(yᵢ) + (1 − λ)·CE(y_π(i)), the usual mixed loss, and its gradient is the
/// existing softmax cross-entropy's: mixup adds no operation to the graph.
public enum Mixup {
  /// A Beta(α, α) sample, as the ratio G₁ / (G₁ + G₂) of two Gamma(α) samples.
  public static func sampleBeta(_ alpha: Float, using generator: inout SeededGenerator) -> Float {
    let a = sampleGamma(alpha, using: &generator)
    let b = sampleGamma(alpha, using: &generator)
    return a + b > 0 ? a / (a + b) : 0.5
  }

  /// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1)·U^(1/shape).
  static func sampleGamma(_ shape: Float, using generator: inout SeededGenerator) -> Float {
    if shape < 1 {
      let u = max(generator.nextUniform(), 1e-7)
      return sampleGamma(shape + 1, using: &generator) * Float.pow(u, 1 / shape)
    }
    let d = shape - 1 / 3
    let c = 1 / (9 * d).squareRoot()
    while true {
      let x = generator.nextNormal()
      let v = (1 + c * x) * (1 + c * x) * (1 + c * x)
      guard v > 0 else { continue }
      let u = max(generator.nextUniform(), 1e-7)
      if Float.log(u) < 0.5 * x * x + d - d * v + d * Float.log(v) { return d * v }
    }
  }

  /// The mixed batch: images [N, ...] and target rows [N, classes] as above; per-sample loss
  /// weights, when given, are mixed alike.
  public static func mix(
    images: Tensor, targets: Tensor, weights: [Float]?, lambda: Float, permutation: [Int]
  ) -> (images: Tensor, targets: Tensor, weights: [Float]?) {
    let n = images.shape[0]
    precondition(
      permutation.count == n && targets.shape[0] == n,
      "mixup: \(n) images, \(targets.shape[0]) target rows, a permutation of \(permutation.count)")
    func mixRows(_ t: Tensor) -> Tensor {
      let row = t.count / max(n, 1)
      var out = Tensor(uninitializedShape: t.shape)
      t.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { mixed in
          for i in 0..<n {
            let (a, b) = (i * row, permutation[i] * row)
            for j in 0..<row {
              mixed[a + j] = lambda * source[a + j] + (1 - lambda) * source[b + j]
            }
          }
        }
      }
      return out
    }
    let mixedWeights = weights.map { w in
      (0..<n).map { lambda * w[$0] + (1 - lambda) * w[permutation[$0]] }
    }
    return (mixRows(images), mixRows(targets), mixedWeights)
  }
}
