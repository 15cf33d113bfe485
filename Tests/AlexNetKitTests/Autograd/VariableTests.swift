import AlexNetKit
import TestSupport
import Testing

@Suite struct VariableTests {
  @Test func arithmeticGradients() {
    let a = Variable(Tensor(shape: [3], scalars: [1, 2, 3]), requiresGradient: true)
    let b = Variable(Tensor(shape: [3], scalars: [4, 5, 6]), requiresGradient: true)
    // loss = Σ (a·b − a)·2 → d/da = 2(b − 1), d/db = 2a
    ((a * b - a) * 2).sum().backward()
    #expect(a.grad?.scalars == [6, 8, 10])
    #expect(b.grad?.scalars == [2, 4, 6])
  }

  /// The backward reports each parameter once, when its last use has sent its gradient back:
  /// the upper layer's before the lower layer's pullback runs, a parameter used twice after
  /// its second use, and the reported gradient is already final.
  @Test func gradientsAreReportedWhenFinished() {
    var rng = SeededGenerator(seed: 3)
    let x = Variable(rng.tensor([2, 3]))
    let (w1, b1) = (Variable(rng.tensor([4, 3]), true), Variable(rng.tensor([4]), true))
    let (w2, shared) = (Variable(rng.tensor([2, 4]), true), Variable(rng.tensor([2]), true))
    let hidden = x.dense(w1, b1).relu()
    let loss = hidden.dense(w2, shared).sum() + (shared * shared).sum()
    var reported: [(Variable, Tensor?)] = []
    loss.backward(onGradientFinished: { reported.append(($0, $0.grad)) })
    let order = reported.map { variable in [w1, b1, w2, shared].firstIndex { $0 === variable.0 } }
    #expect(order.count == 4 && Set(order.compactMap { $0 }) == [0, 1, 2, 3])
    // The second layer's weight is finished before the first layer's parameters.
    #expect(order.firstIndex(of: 2)! < order.firstIndex(of: 0)!)
    #expect(order.firstIndex(of: 2)! < order.firstIndex(of: 1)!)
    for (variable, gradient) in reported { #expect(gradient == variable.grad) }
  }

  @Test func gradientsAccumulateUntilZeroed() {
    let w = Variable(Tensor(shape: [2], scalars: [1, -1]), requiresGradient: true)
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    #expect(w.grad?.scalars == [6, 6])
    w.zeroGradient()
    #expect(w.grad == nil)
  }

  @Test func noGradientModeRecordsNothing() {
    let w = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGradient: true)
    let y = withGradientsDisabled { (w * w).sum() }
    #expect(!y.requiresGradient && y.isLeaf)
    #expect((w * w).sum().requiresGradient)
    // Inputs that need no gradient build no graph either.
    let x = Variable(Tensor(shape: [2], scalars: [1, 2]))
    #expect((x * x).sum().isLeaf)
  }

  /// After backward the graph lets go of its intermediate values.
  @Test func backwardReleasesIntermediates() {
    let w = Variable(Tensor(shape: [4], repeating: 2), requiresGradient: true)
    weak var intermediate: Variable?
    let loss: Variable = {
      let hidden = (w * w).relu()
      intermediate = hidden
      return hidden.sum()
    }()
    #expect(intermediate != nil)
    loss.backward()
    #expect(intermediate == nil)
    #expect(w.grad?.scalars == [4, 4, 4, 4])
  }

  /// A variable used twice receives both gradients (the graph is a DAG, not a tree).
  @Test func sharedNodesSumTheirGradients() {
    let w = Variable(Tensor(shape: [1], scalars: [3]), requiresGradient: true)
    let h = w * w  // 9, dh/dw = 6
    (h + h * 2).sum().backward()  // 3h → 18
    #expect(w.grad?.scalars == [18])
  }
}

extension Variable {
  /// A parameter (a leaf that requires a gradient), for short test set-ups.
  fileprivate convenience init(_ value: Tensor, _ requiresGradient: Bool) {
    self.init(value, requiresGradient: requiresGradient)
  }
}
