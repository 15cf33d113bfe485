import Foundation

/// A layer: hyper-parameters and named parameters, called on a variable. It has no backward of
/// its own; the operations it calls record theirs. Layers are classes because parameters and
/// batch-norm statistics are shared mutable state, as in PyTorch.
public protocol Layer: AnyObject {
  /// Runs the layer.
  func callAsFunction(_ input: Variable) -> Variable
  /// The output shape for an input shape (batch first), or an error naming the shapes.
  func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int]
  /// This layer's own trainable parameters ("weight", "bias"), not its children's.
  var parameters: [(name: String, variable: Variable)] { get }
  /// Non-trainable state saved with the weights ("running_mean", "running_var").
  var buffers: [(name: String, variable: Variable)] { get }
  /// Sub-layers, named ("features", "0"...).
  var children: [(name: String, layer: any Layer)] { get }
  /// Training (dropout active, batch statistics) or inference mode, set down the tree.
  var isTraining: Bool { get set }
  /// Multiply-adds ×2 of the forward pass for an input shape (0 for layers without arithmetic
  /// worth counting).
  func forwardFLOPs(inputShape: [Int]) -> Double
  /// The type as a summary shows it ("Conv2D").
  var kind: String { get }
}

extension Layer {
  public var parameters: [(name: String, variable: Variable)] { [] }
  public var buffers: [(name: String, variable: Variable)] { [] }
  public var children: [(name: String, layer: any Layer)] { [] }
  public func forwardFLOPs(inputShape: [Int]) -> Double { 0 }
  public var kind: String { String(describing: type(of: self)) }

  /// Every trainable parameter below this layer, with hierarchical names such as
  /// `features.0.weight`, in a fixed order (children in order, own parameters first).
  public var namedParameters: [(name: String, variable: Variable)] {
    parameters
      + children.flatMap { child in
        child.layer.namedParameters.map { ("\(child.name).\($0.name)", $0.variable) }
      }
  }

  /// Every buffer below this layer, named like the parameters.
  public var namedBuffers: [(name: String, variable: Variable)] {
    buffers
      + children.flatMap { child in
        child.layer.namedBuffers.map { ("\(child.name).\($0.name)", $0.variable) }
      }
  }

  /// Parameters and buffers together, in PyTorch's state-dict order (a layer's parameters, then
  /// its buffers, then its children's).
  public var stateEntries: [(name: String, variable: Variable)] {
    parameters + buffers
      + children.flatMap { child in
        child.layer.stateEntries.map { ("\(child.name).\($0.name)", $0.variable) }
      }
  }

  /// The values of `stateEntries`.
  public var stateDict: [(name: String, tensor: Tensor)] {
    stateEntries.map { ($0.name, $0.variable.value) }
  }

  public var trainableParameterCount: Int {
    namedParameters.reduce(0) { $0 + $1.variable.value.count }
  }
  public var nonTrainableParameterCount: Int {
    namedBuffers.reduce(0) { $0 + $1.variable.value.count }
  }
  public var parameterCount: Int { trainableParameterCount + nonTrainableParameterCount }

  /// Switches this layer and all below it to training mode (or inference with `false`).
  public func train(_ on: Bool = true) {
    isTraining = on
  }

  /// Inference mode: dropout off, batch norm on running statistics.
  public func eval() { train(false) }

  /// Runs `body` in inference mode, then puts the layer back in the mode it was in.
  public func inInferenceMode<R>(_ body: () throws -> R) rethrows -> R {
    let wasTraining = isTraining
    eval()
    defer { train(wasTraining) }
    return try body()
  }

  /// Leaf layers in order with their hierarchical names ("features.0").
  public var namedLeaves: [(name: String, layer: any Layer)] {
    children.flatMap { child -> [(name: String, layer: any Layer)] in
      child.layer.children.isEmpty
        ? [(child.name, child.layer)]
        : child.layer.namedLeaves.map { ("\(child.name).\($0.name)", $0.layer) }
    }
  }

  /// Every layer of the tree, this one first (named ""), then each child before its own children,
  /// with hierarchical names ("features", "features.0"...).
  public var namedLayers: [(name: String, layer: any Layer)] {
    [("", self)]
      + children.flatMap { child in
        child.layer.namedLayers.map { inner in
          (
            name: inner.name.isEmpty ? child.name : "\(child.name).\(inner.name)",
            layer: inner.layer
          )
        }
      }
  }

  /// Clears the gradient of every parameter.
  public func zeroGradients() { for (_, parameter) in namedParameters { parameter.zeroGradient() } }

  /// Copies values from a state dict, checking every name and shape first: when anything is
  /// missing, unexpected or of the wrong shape, nothing is changed and the error counts each kind
  /// and names the first few.
  public func loadState(_ state: [(name: String, tensor: Tensor)]) throws(StateMismatchError) {
    let entries = stateEntries
    var given: [String: Tensor] = [:]
    for (name, tensor) in state { given[name] = tensor }
    var mismatch = StateMismatchError()
    for (name, variable) in entries {
      guard let tensor = given[name] else {
        mismatch.missing.append(name)
        continue
      }
      if tensor.shape != variable.value.shape {
        mismatch.misshaped.append(
          "\(name): shape \(tensor.shape), expected \(variable.value.shape)")
      }
    }
    let known = Set(entries.map(\.name))
    mismatch.unexpected = state.map(\.name).filter { !known.contains($0) }
    guard mismatch.problems.isEmpty else { throw mismatch }
    for (name, variable) in entries { variable.value = given[name]! }
  }
}

/// Weights that do not fit a model: the missing, unexpected and mis-shaped entries by name. The
/// description stays one short line however many there are (counts, then the first few names),
/// since a state dict of another model differs in dozens of entries.
public struct StateMismatchError: Error, CustomStringConvertible, Sendable {
  /// Entries the model has and the weights lack.
  public var missing: [String] = []
  /// Entries the weights have and the model lacks.
  public var unexpected: [String] = []
  /// "name: shape [given], expected [shape]".
  public var misshaped: [String] = []
  /// Other problems, each described in full.
  public var other: [String] = []

  public init(missing: [String] = [], unexpected: [String] = [], misshaped: [String] = []) {
    (self.missing, self.unexpected, self.misshaped) = (missing, unexpected, misshaped)
  }

  /// Problems that fit none of the three kinds (an optimizer's unknown state, say).
  public init(problems: [String]) { other = problems }

  /// Every problem, in full.
  public var problems: [String] {
    missing.map { "missing \($0)" } + unexpected.map { "unexpected \($0)" } + misshaped + other
  }

  /// How many names a description shows before "and N more".
  static let shownNames = 3

  public var description: String {
    let count = problems.count
    let kinds = [
      (missing.count, "missing"), (unexpected.count, "unexpected"),
      (misshaped.count, "of the wrong shape"), (other.count, "other"),
    ]
    .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    let shown = problems.prefix(Self.shownNames).joined(separator: "; ")
    let more = count > Self.shownNames ? "; and \(count - Self.shownNames) more" : ""
    let weights = count == 1 ? "weight" : "weights"
    return "\(count) \(weights) do not fit the model (\(kinds)): \(shown)\(more)"
  }
}

extension StateMismatchError: LocalizedError {
  public var errorDescription: String? { description }
}
