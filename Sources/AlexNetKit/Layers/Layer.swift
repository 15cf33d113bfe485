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
    parameters + children.flatMap { child in child.layer.namedParameters.map { ("\(child.name).\($0.name)", $0.variable) } }
  }

  /// Every buffer below this layer, named like the parameters.
  public var namedBuffers: [(name: String, variable: Variable)] {
    buffers + children.flatMap { child in child.layer.namedBuffers.map { ("\(child.name).\($0.name)", $0.variable) } }
  }

  /// Parameters and buffers together, in PyTorch's state-dict order (a layer's parameters, then
  /// its buffers, then its children's).
  public var stateEntries: [(name: String, variable: Variable)] {
    parameters + buffers
      + children.flatMap { child in child.layer.stateEntries.map { ("\(child.name).\($0.name)", $0.variable) } }
  }

  /// The values of `stateEntries`.
  public var stateDict: [(name: String, tensor: Tensor)] { stateEntries.map { ($0.name, $0.variable.value) } }

  public var trainableParameterCount: Int { namedParameters.reduce(0) { $0 + $1.variable.value.count } }
  public var nonTrainableParameterCount: Int { namedBuffers.reduce(0) { $0 + $1.variable.value.count } }
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
      child.layer.children.isEmpty ? [(child.name, child.layer)]
        : child.layer.namedLeaves.map { ("\(child.name).\($0.name)", $0.layer) }
    }
  }

  /// Clears the gradient of every parameter.
  public func zeroGradients() { for (_, parameter) in namedParameters { parameter.zeroGradient() } }

  /// Copies values from a state dict, checking every name and shape first: when anything is
  /// missing, unexpected or of the wrong shape, nothing is changed and the error lists it all.
  public func loadState(_ state: [(name: String, tensor: Tensor)]) throws(StateMismatchError) {
    let entries = stateEntries
    var given: [String: Tensor] = [:]
    for (name, tensor) in state { given[name] = tensor }
    var problems: [String] = []
    for (name, variable) in entries {
      guard let tensor = given[name] else {
        problems.append("missing \(name) \(variable.value.shape)")
        continue
      }
      if tensor.shape != variable.value.shape {
        problems.append("\(name): shape \(tensor.shape), expected \(variable.value.shape)")
      }
    }
    let known = Set(entries.map(\.name))
    for (name, tensor) in state where !known.contains(name) {
      problems.append("unexpected \(name) \(tensor.shape)")
    }
    guard problems.isEmpty else { throw StateMismatchError(problems: problems) }
    for (name, variable) in entries { variable.value = given[name]! }
  }
}

/// Weights that do not fit a model: every missing, unexpected or mis-shaped entry by name.
public struct StateMismatchError: Error, CustomStringConvertible, Sendable {
  public var problems: [String]
  public var description: String {
    "\(problems.count) weight\(problems.count == 1 ? "" : "s") do not fit the model: " + problems.joined(separator: "; ")
  }
}

extension StateMismatchError: LocalizedError {
  public var errorDescription: String? { description }
}

import Foundation
