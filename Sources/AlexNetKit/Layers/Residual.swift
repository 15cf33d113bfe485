/// A residual block: `branch(x) + shortcut(x)`, with the identity as the shortcut unless a
/// projection is given (He et al. 2016, "Deep Residual Learning", eq. 1 and 2: a 1x1 convolution
/// with stride when the branch changes the channels or the size).
///
/// Children are named "branch" and "shortcut", so parameters read `2.branch.0.weight` inside a
/// `Sequential`. The branch is usually a `Sequential`, which runs its Conv2D+ReLU pairs fused. An
/// activation after the sum is a separate layer (`Sequential([Residual(...), ReLU()])`), as in
/// torchvision's `BasicBlock`.
public final class Residual: Layer {
  public let branch: any Layer
  /// The projection shortcut, or nil for the identity.
  public let shortcut: (any Layer)?

  public init(_ branch: any Layer, shortcut: (any Layer)? = nil) {
    (self.branch, self.shortcut) = (branch, shortcut)
  }

  public var children: [(name: String, layer: any Layer)] {
    [("branch", branch)] + (shortcut.map { [("shortcut", $0)] } ?? [])
  }

  public var isTraining = true {
    didSet { for (_, layer) in children { layer.isTraining = isTraining } }
  }

  public func callAsFunction(_ input: Variable) -> Variable {
    let y = branch(input)
    let s = shortcut?(input) ?? input
    precondition(y.shape == s.shape, "Residual: branch gives \(y.shape), shortcut \(s.shape)")
    return y + s
  }

  public func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] {
    let y: [Int]
    let s: [Int]
    do { y = try branch.outputShape(for: inputShape) } catch {
      throw ShapeError("branch: \(error.message)")
    }
    do { s = try shortcut?.outputShape(for: inputShape) ?? inputShape } catch {
      throw ShapeError("shortcut: \(error.message)")
    }
    guard y == s else {
      throw ShapeError("Residual of input \(inputShape): the branch gives \(y), the shortcut \(s)")
    }
    return y
  }

  /// The branch's and the projection's FLOPs, and one addition per output element.
  public func forwardFLOPs(inputShape: [Int]) -> Double {
    guard let output = try? outputShape(for: inputShape) else { return 0 }
    return branch.forwardFLOPs(inputShape: inputShape)
      + (shortcut?.forwardFLOPs(inputShape: inputShape) ?? 0)
      + Double(output.reduce(1, *))
  }
}
