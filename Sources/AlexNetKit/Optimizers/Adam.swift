import RealModule

/// Adam (Kingma and Ba 2015) with bias correction:
///
///     m ← β₁·m + (1 − β₁)·g      v ← β₂·v + (1 − β₂)·g²
///     w ← w − η·m̂ / (√v̂ + ε),   m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)
///
/// Weight decay is L2 added to g (`.coupled`, PyTorch's Adam) or w ← w − η·λ·w (`.decoupled`,
/// AdamW; the default, since L2 inside Adam is scaled away by the second moment).
public final class Adam: Optimizer {
  public var learningRate: Float
  public var beta1: Float, beta2: Float, epsilon: Float
  public var weightDecay: Float
  public var weightDecayMode: WeightDecayMode
  public var groups: ParameterGroups
  /// Updates applied so far (t in the bias correction).
  public private(set) var stepCount = 0
  var moments = SlotStore()

  public init(
    learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
    weightDecay: Float = 0, weightDecayMode: WeightDecayMode = .decoupled,
    groups: ParameterGroups = .uniform
  ) {
    (self.learningRate, self.beta1, self.beta2, self.epsilon) = (
      learningRate, beta1, beta2, epsilon
    )
    (self.weightDecay, self.weightDecayMode, self.groups) = (weightDecay, weightDecayMode, groups)
  }

  public func step(_ parameters: [(name: String, variable: Variable)]) {
    stepCount += 1
    let correction1 = 1 - Float.pow(beta1, Float(stepCount))
    let correction2 = 1 - Float.pow(beta2, Float(stepCount))
    for (name, parameter) in parameters {
      guard let gradient = parameter.grad else { continue }
      let (rateMultiplier, decayMultiplier) = groups.multipliers(name)
      let eta = learningRate * rateMultiplier
      let lambda = weightDecay * decayMultiplier
      let coupled = weightDecayMode == .coupled ? lambda : 0
      let decoupled = weightDecayMode == .decoupled ? lambda : 0
      var m = moments.take("m.\(name)", like: parameter.value)
      var v = moments.take("v.\(name)", like: parameter.value)
      let (b1, b2, eps) = (beta1, beta2, epsilon)
      m.withUnsafeMutableBufferPointer { m in
        v.withUnsafeMutableBufferPointer { v in
          gradient.withUnsafeBufferPointer { g in
            parameter.value.withUnsafeMutableBufferPointer { w in
              Parallel.forEachChunk(w.count, minimumChunk: Optimizers.minimumChunk) { range in
                for i in range {
                  let gi = g[i] + coupled * w[i]
                  m[i] = b1 * m[i] + (1 - b1) * gi
                  v[i] = b2 * v[i] + (1 - b2) * gi * gi
                  w[i] -=
                    eta * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps) + eta
                    * decoupled * w[i]
                }
              }
            }
          }
        }
      }
      moments.slots["m.\(name)"] = m
      moments.slots["v.\(name)"] = v
    }
  }

  public var state: [(name: String, tensor: Tensor)] {
    moments.state + [("step", Tensor(Float(stepCount)))]
  }

  public func loadState(_ state: [(name: String, tensor: Tensor)]) throws(StateMismatchError) {
    let step = state.first { $0.name == "step" }
    try moments.load(state.filter { $0.name != "step" }, prefixes: ["m.", "v."])
    stepCount = Int(step?.tensor.scalar ?? 0)
  }
}
