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
