import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct ModelGraphTests {
  @Test func chainShowsShapesParametersAndGroups() throws {
    let model = ModelCatalog.make(.alexnet, classes: 10)
    let dot = try ModelGraph.dot(model, inputShape: [3, 227, 227], title: "alexnet \"2012\"")
    #expect(dot.hasPrefix("digraph \"alexnet \\\"2012\\\"\" {"))
    #expect(dot.contains("features.0: Conv2D\\n11×11 stride 4\\n1×96×55×55\\n34,944 params"))
    #expect(dot.contains("features.4: Conv2D\\n5×5 stride 1, groups 2\\n1×256×27×27"))
    let total = model.parameterCount.formatted(grouping: ",")
    #expect(dot.contains("1×10\\n\(total) parameters in all"))
    // Every leaf is one box, joined in a chain: input, the leaves, output.
    let leaves = model.namedLeaves.count
    #expect(dot.components(separatedBy: " -> ").count - 1 == leaves + 1)
    #expect(dot.contains("n\(leaves + 1) -> n\(leaves + 2);"))
  }

  /// A residual block forks at its input and joins at a "+" node, from the identity or from the
  /// projection.
  @Test func residualBlocksForkAndJoin() throws {
    var g = SeededGenerator(seed: 1)
    func conv(_ i: Int, _ o: Int, stride: Int = 1, kernel: Int = 3) -> Conv2D {
      Conv2D(
        inChannels: i, outChannels: o, kernel: kernel, stride: stride,
        padding: .explicit(kernel / 2), initializer: .heNormal, generator: &g)
    }
    let model = Sequential(named: [
      ("same", Residual(Sequential([conv(4, 4), ReLU()]))),
      ("down", Residual(conv(4, 8, stride: 2), shortcut: conv(4, 8, stride: 2, kernel: 1))),
    ])
    let dot = try ModelGraph.dot(model, inputShape: [4, 8, 8], title: "r")
    // input n1; same.branch.0 n2, .1 n3; join n4; down.branch n5; join n6; shortcut n7; output n8.
    #expect(dot.contains("n4 [label=\"same +\\n1×4×8×8\", shape=circle];"))
    #expect(dot.contains("n3 -> n4;") && dot.contains("n1 -> n4 [label=\"identity\"];"))
    #expect(dot.contains("n4 -> n5;") && dot.contains("n4 -> n7;"))
    #expect(dot.contains("n5 -> n6;") && dot.contains("n7 -> n6;") && dot.contains("n6 -> n8;"))
    #expect(dot.contains("down.shortcut: Conv2D\\n1×1 stride 2\\n1×8×4×4"))
    #expect(throws: ShapeError.self) {
      try ModelGraph.dot(model, inputShape: [3, 8, 8], title: "r")
    }
  }

  @Test func thousandsAreGrouped() {
    #expect(1_234_567.formatted(grouping: ",") == "1,234,567")
    #expect(999.formatted(grouping: ",") == "999" && (-1000).formatted(grouping: ",") == "-1,000")
  }
}
