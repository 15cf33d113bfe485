/// A node of the dynamic graph (as in PyTorch and micrograd): a value, the gradient that flows
/// back to it, and how to pass that gradient on to the nodes it was computed from.
///
/// Parameters are leaves with `requiresGradient`; an operation on variables records itself only
/// when gradients are enabled (see `withGradientsDisabled`) and one of its inputs requires a
/// gradient, so inference builds no graph at all.
public final class Variable {
  /// The value. Optimisers update parameters' values in place.
  public var value: Tensor { didSet { version &+= 1 } }
  /// Counts changes of `value` (assignments and in-place updates alike), so that what is derived
  /// from a parameter (Winograd's transformed filters) knows when to derive it again. A `didSet`
  /// that does not read the old value leaves in-place updates in place (SE-0268).
  public private(set) var version = 0
  /// d loss / d value, accumulated by `backward` until zeroed (`zeroGradient()`).
  public internal(set) var grad: Tensor?
  /// Whether gradients flow to this node. A parameter (a leaf) may be frozen by setting it to
  /// false, as PyTorch's `requires_grad_(False)`: operations then skip its gradient, and the
  /// whole backward below it when nothing else there needs one.
  public var requiresGradient: Bool {
    willSet { precondition(isLeaf, "requiresGradient can change on leaves only (\(operation!))") }
  }
  /// The operation that made this node ("conv2d", "relu"...), or nil for a leaf.
  public let operation: String?

  var parents: [Variable]
  /// Receives this node's gradient and accumulates into the parents'; nil for leaves.
  var pullback: ((Tensor) -> Void)?

  /// A leaf: an input (no gradient) or a parameter (`requiresGradient: true`).
  public init(_ value: Tensor, requiresGradient: Bool = false) {
    self.value = value
    self.requiresGradient = requiresGradient
    self.operation = nil
    self.parents = []
  }

  init(
    _ value: Tensor, operation: String, parents: [Variable], pullback: @escaping (Tensor) -> Void
  ) {
    self.value = value
    self.operation = operation
    self.requiresGradient = true
    self.parents = parents
    self.pullback = pullback
  }

  public var shape: [Int] { value.shape }
  public var isLeaf: Bool { operation == nil }

  /// Adds `gradient` to this node's gradient.
  func accumulate(_ gradient: Tensor) {
    precondition(
      gradient.shape == value.shape,
      "gradient \(gradient.shape) for a value of shape \(value.shape) (\(operation ?? "leaf"))")
    if grad == nil { grad = gradient } else { grad! += gradient }
  }

  /// Sets the gradient to nil, as optimisers do before each step.
  public func zeroGradient() { grad = nil }

  /// Back-propagates from this node: seeds its gradient (1 for a scalar, or `gradient`), then runs
  /// every recorded pullback once, from this node back to the leaves. Afterwards the graph is
  /// released: each pullback is dropped with what it captured, intermediate gradients are freed,
  /// and only leaves keep theirs.
  ///
  /// `onGradientFinished` is called with each leaf that requires a gradient as soon as the last
  /// operation using it has sent its gradient back (data-parallel training starts averaging it
  /// then, while the rest of the backward runs).
  public func backward(
    gradient seed: Tensor? = nil, onGradientFinished: ((Variable) -> Void)? = nil
  ) {
    precondition(requiresGradient, "backward() on a value that does not require a gradient")
    let initial =
      seed
      ?? {
        precondition(
          value.count == 1, "backward() without a gradient needs a scalar, got shape \(value.shape)"
        )
        return Tensor(shape: value.shape, repeating: 1)
      }()
    let order = topologicalOrder()
    var uses = onGradientFinished == nil ? [:] : Self.leafUses(order)
    for node in order.reversed() {
      if node === self { node.accumulate(initial) }
      guard let pullback = node.pullback else { continue }
      if let g = node.grad { pullback(g) }
      if let onGradientFinished {
        for parent in node.parents where parent.isLeaf && parent.requiresGradient {
          let key = ObjectIdentifier(parent)
          uses[key]! -= 1
          if uses[key] == 0 { onGradientFinished(parent) }
        }
      }
      node.pullback = nil
      node.parents = []
      node.grad = nil
    }
  }

  /// How many recorded operations in `order` use each leaf that requires a gradient.
  static func leafUses(_ order: [Variable]) -> [ObjectIdentifier: Int] {
    var uses: [ObjectIdentifier: Int] = [:]
    for node in order where node.pullback != nil {
      for parent in node.parents where parent.isLeaf && parent.requiresGradient {
        uses[ObjectIdentifier(parent), default: 0] += 1
      }
    }
    return uses
  }

  /// Every node this one depends on (through recorded operations), each after its parents.
  func topologicalOrder() -> [Variable] {
    var order: [Variable] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(node: Variable, expanded: Bool)] = [(self, false)]
    while let (node, expanded) = stack.popLast() {
      if expanded {
        order.append(node)
        continue
      }
      guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
      stack.append((node, true))
      for parent in node.parents
      where parent.requiresGradient && !visited.contains(ObjectIdentifier(parent)) {
        stack.append((parent, false))
      }
    }
    return order
  }
}

/// Whether operations record themselves for `backward`. On by default; off inside
/// `withGradientsDisabled`, which is scoped (a task-local value), not a switch left on by hand.
public enum GradientMode {
  @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording any graph: inference, evaluation, feature extraction.
public func withGradientsDisabled<R>(_ body: () throws -> R) rethrows -> R {
  try GradientMode.$isEnabled.withValue(false, operation: body)
}

extension Variable {
  /// The result of an operation: recorded with its pullback when any input needs a gradient
  /// and gradients are enabled; a plain constant otherwise.
  static func record(
    _ value: Tensor, _ operation: String, _ parents: [Variable],
    pullback: @escaping (Tensor) -> Void
  ) -> Variable {
    guard GradientMode.isEnabled, parents.contains(where: \.requiresGradient) else {
      return Variable(value)
    }
    return Variable(value, operation: operation, parents: parents, pullback: pullback)
  }
}
