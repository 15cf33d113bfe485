/// Updates parameters from their gradients. The step is the last of the training step's three
/// phases (compute gradients, reduce them across processes, apply), so it only reads `grad`.
public protocol Optimizer: AnyObject {
  /// η, changed by schedules between epochs.
  var learningRate: Float { get set }
  /// Applies one update to every parameter that has a gradient.
  func step(_ parameters: [(name: String, variable: Variable)])
  /// Everything the optimizer carries between steps (momentum buffers, moments, step count),
  /// by name, for checkpoints.
  var state: [(name: String, tensor: Tensor)] { get }
  /// Restores `state` as saved; unknown names are an error.
  func loadState(_ state: [(name: String, tensor: Tensor)]) throws(StateMismatchError)
}

/// Per-parameter multipliers of the learning rate and the weight decay, by parameter name.
/// Caffe's bvlc_alexnet trains biases at twice the rate and without decay (`lr_mult: 2`,
/// `decay_mult: 0`); PyTorch and Keras treat every parameter alike (the default).
public struct ParameterGroups: Sendable {
  public var multipliers: @Sendable (String) -> (learningRate: Float, weightDecay: Float)

  public init(
    _ multipliers: @escaping @Sendable (String) -> (learningRate: Float, weightDecay: Float)
  ) {
    self.multipliers = multipliers
  }

  /// Every parameter alike.
  public static let uniform = ParameterGroups { _ in (1, 1) }
  /// Caffe's bvlc_alexnet: biases at 2× the rate, no decay on biases or batch-norm parameters.
  public static let caffeAlexNet = ParameterGroups { name in
    name.hasSuffix(".bias") ? (2, 0) : (1, 1)
  }
}

/// How weight decay enters the update.
public enum WeightDecayMode: String, Sendable, Codable, CaseIterable {
  /// As an L2 term added to the gradient, λ·w (the paper, Caffe, PyTorch's `weight_decay`).
  case coupled
  /// Applied to the weights directly, w ← w − η·λ·w, apart from the gradient step (Keras's
  /// `weight_decay`, AdamW, Loshchilov and Hutter 2019).
  case decoupled
}

/// Named state holder shared by the optimizers: one tensor per parameter and slot.
struct SlotStore {
  var slots: [String: Tensor] = [:]

  /// Takes the slot out of the store (zeros the first time): the caller holds the only reference,
  /// so writing to it does not copy (a copy would be 244 MB of momentum per AlexNet step). Put it
  /// back with `slots[name] = tensor`.
  mutating func take(_ name: String, like value: Tensor) -> Tensor {
    if let existing = slots.removeValue(forKey: name), existing.shape == value.shape {
      return existing
    }
    return Tensor(zeros: value.shape)
  }

  var state: [(name: String, tensor: Tensor)] { slots.keys.sorted().map { ($0, slots[$0]!) } }

  mutating func load(_ state: [(name: String, tensor: Tensor)], prefixes: [String])
    throws(StateMismatchError)
  {
    let unknown = state.map(\.name).filter { name in !prefixes.contains { name.hasPrefix($0) } }
    guard unknown.isEmpty else {
      throw StateMismatchError(problems: unknown.map { "unexpected optimizer state \($0)" })
    }
    slots = Dictionary(state.map { ($0.name, $0.tensor) }, uniquingKeysWith: { $1 })
  }
}

enum Optimizers {
  /// Parameters per thread below which an update runs on one thread: a bias or a small layer
  /// costs less than waking the other core.
  static let minimumChunk = 1 << 16
}
