/// Stochastic gradient descent with momentum, in the paper's form (Krizhevsky et al. 2012, §5),
/// which is also Caffe's (`src/caffe/solvers/sgd_solver.cpp`):
///
///     v ← μ·v − λ·η·w − η·g        w ← w + v
///
/// with momentum μ (0.9), weight decay λ (0.0005) and learning rate η. The rate sits inside the
/// velocity, so a change of η takes effect gradually. PyTorch's SGD keeps η outside
/// (v ← μ·v + g + λ·w; w ← w − η·v); with a constant rate the two are the same.
///
/// `nesterov`: w ← w + μ·v_new − η·(g + λ·w) (Sutskever et al. 2013, in this parametrisation).
/// `weightDecayMode: .decoupled` drops λ·w from the velocity and applies w ← w − η·λ·w instead
/// (Keras's `weight_decay`). Default: coupled, as in the paper.
public final class SGD: Optimizer {
  public var learningRate: Float
  public var momentum: Float
  public var weightDecay: Float
  public var nesterov: Bool
  public var weightDecayMode: WeightDecayMode
  public var groups: ParameterGroups
  var velocities = SlotStore()

  public init(
    learningRate: Float = 0.01, momentum: Float = 0.9, weightDecay: Float = 0.0005,
    nesterov: Bool = false,
    weightDecayMode: WeightDecayMode = .coupled, groups: ParameterGroups = .uniform
  ) {
    precondition(
      learningRate >= 0 && momentum >= 0 && weightDecay >= 0,
      "SGD: learning rate \(learningRate), momentum \(momentum) and weight decay \(weightDecay) must not be negative"
    )
    (self.learningRate, self.momentum, self.weightDecay) = (learningRate, momentum, weightDecay)
    (self.nesterov, self.weightDecayMode, self.groups) = (nesterov, weightDecayMode, groups)
  }

  public func step(_ parameters: [(name: String, variable: Variable)]) {
    for (name, parameter) in parameters {
      guard let gradient = parameter.grad else { continue }
      let (rateMultiplier, decayMultiplier) = groups.multipliers(name)
      let eta = learningRate * rateMultiplier
      let lambda = weightDecay * decayMultiplier
      let mu = momentum
      let coupled = weightDecayMode == .coupled ? lambda : 0
      let decoupled = weightDecayMode == .decoupled ? lambda : 0
      let key = "momentum.\(name)"
      var velocity = velocities.take(key, like: parameter.value)
      velocity.withUnsafeMutableBufferPointer { v in
        gradient.withUnsafeBufferPointer { g in
          parameter.value.withUnsafeMutableBufferPointer { w in
            // Elementwise and memory-bound (fc6 alone is 151 MB of weights): both cores
            // stream, each element computed as one thread would.
            Parallel.forEachChunk(w.count, minimumChunk: Optimizers.minimumChunk) { range in
              for i in range {
                let step = g[i] + coupled * w[i]
                v[i] = mu * v[i] - eta * step
                w[i] += (nesterov ? mu * v[i] - eta * step : v[i]) - eta * decoupled * w[i]
              }
            }
          }
        }
      }
      velocities.slots[key] = velocity
    }
  }

  public var state: [(name: String, tensor: Tensor)] { velocities.state }

  public func loadState(_ state: [(name: String, tensor: Tensor)]) throws(StateMismatchError) {
    try velocities.load(state, prefixes: ["momentum."])
  }
}
