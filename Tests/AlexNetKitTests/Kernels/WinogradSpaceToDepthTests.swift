import TestSupport
import Testing

@testable import AlexNetKit

/// Strided convolutions on the Winograd path through space to depth (WinogradSpaceToDepth.swift):
/// forward and weight gradient (not the input gradient). Random strided shapes run in
/// `WinogradTests.forwardMatchesReference` and `WinogradWeightGradientTests`
/// (`WinogradTests.stridedCases`); here AlexNet's first layers, the support and the dispatch.
@Suite struct WinogradSpaceToDepthTests {
  /// AlexNet's first layers (the 2012 net's 227x227 unpadded, torchvision's 224x224 padded by
  /// 2) by both 3×3 variants, against one naive forward each; the filters transformed once also
  /// serve a batch of two.
  @Test(arguments: [(227, 0, 96), (224, 2, 64)])
  func alexNetFirstLayersMatchReference(size: Int, padding: Int, outChannels: Int) throws {
    let g = try ConvGeometry(
      batch: 1, inChannels: 3, height: size, width: size, outChannels: outChannels, kernel: 11,
      stride: 4, padding: .explicit(padding))
    var rng = SeededGenerator(seed: 303)
    let x = rng.tensor(g.withBatch(2).inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([outChannels])
    let first = Tensor(
      shape: g.inputShape, scalars: Array(x.scalars.prefix(g.inputShape.reduce(1, *))))
    let naive = conv2dForwardNaive(g, input: first, weight: w, bias: b)
    for variant in [WinogradVariant.f2x2, .f4x4] {
      let fast = winogradConv2dForward(g, input: first, weight: w, bias: b, variant: variant)
      #expect(maxRelativeError(fast, naive) <= 1e-4, "\(variant)")
      let filters = WinogradFilters(g, weight: w, variant: variant)
      let two = winogradConv2dForward(g.withBatch(2), input: x, filters: filters, bias: b)
      let firstOfTwo = Tensor(
        shape: g.outputShape, scalars: Array(two.scalars.prefix(g.outputShape.reduce(1, *))))
      #expect(maxRelativeError(firstOfTwo, naive) <= 1e-4, "\(variant), batch of two")
    }
  }

  /// No input gradient: strided shapes are not `supports`, and a backward that wants the input
  /// gradient stays with im2col under every policy (a first layer's weight gradient may not); a
  /// view kernel of another size than the variant's is not supported.
  @Test func noInputGradient() throws {
    func g(_ kernel: Int, stride: Int, batch: Int = 1, inChannels: Int = 1) throws
      -> ConvGeometry
    {
      try ConvGeometry(
        batch: batch, inChannels: inChannels, height: 23, width: 23, outChannels: 1,
        kernel: kernel, stride: stride, padding: .same)
    }
    let conv1 = try g(11, stride: 4)
    #expect(Winograd.supportsForwardAndWeightGradient(conv1) && !Winograd.supports(conv1))
    #expect(WinogradVariant.f4x4.supportsForwardAndWeightGradient(conv1))
    #expect(!WinogradVariant.f2x2Kernel5.supportsForwardAndWeightGradient(conv1))
    #expect(WinogradVariant.f2x2Kernel5.supportsForwardAndWeightGradient(try g(9, stride: 2)))
    for other in [try g(3, stride: 2), try g(7, stride: 4), try g(13, stride: 4)] {
      #expect(!Winograd.supportsForwardAndWeightGradient(other))
    }
    let policies: [ConvolutionAlgorithmPolicy] = [
      .rule, .measure, .fixed(.winograd), .fixed(.winograd4x4),
    ]
    for policy in policies {
      #expect(ConvolutionAlgorithms.selected(conv1, pass: .backward, policy: policy) == .im2colGEMM)
    }
    #expect(
      ConvolutionAlgorithms.selected(conv1, pass: .weightGradient, policy: .fixed(.winograd4x4))
        == .winograd4x4)
  }

  /// The rule: a strided shape counts its products' depth in view channels (inChannels · s²), so
  /// a 3-channel first layer at stride 4 is deep enough for Winograd in inference; training's
  /// forward takes it from `ruleMinimumBatch` images; both by F(4×4) (shallow products: measured
  /// faster than F(2×2)) where the view kernel is 3×3; the backward stays with im2col; a first
  /// layer's weight gradient takes Winograd from `ruleMinimumBatch` images where it is deep.
  @Test func ruleForStridedShapes() throws {
    let minimum = ConvolutionAlgorithmPolicy.ruleMinimumBatch
    for batch in [1, minimum] {
      let conv1 = try ConvGeometry(
        batch: batch, inChannels: 3, height: 31, width: 31, outChannels: 4, kernel: 11,
        stride: 4)
      let shallow = try ConvGeometry(
        batch: batch, inChannels: 1, height: 31, width: 31, outChannels: 4, kernel: 5,
        stride: 2)
      let kernel5 = try ConvGeometry(
        batch: batch, inChannels: 4, height: 31, width: 31, outChannels: 4, kernel: 9, stride: 2)
      func rule(_ g: ConvGeometry, _ pass: ConvolutionPass) -> ConvolutionAlgorithm? {
        ConvolutionAlgorithms.selected(g, pass: pass, policy: .rule)
      }
      #expect(rule(conv1, .inference) == .winograd4x4)
      #expect(rule(shallow, .inference) == (batch >= minimum ? .winograd4x4 : .im2colGEMM))
      // A 5×5 view kernel in batches: F(3×3, 5×5), as at stride 1.
      #expect(rule(kernel5, .inference) == .winograd3x3)
      #expect(rule(conv1, .forward) == (batch >= minimum ? .winograd4x4 : .im2colGEMM))
      #expect(rule(kernel5, .forward) == (batch >= minimum ? .winograd3x3 : .im2colGEMM))
      #expect(rule(conv1, .backward) == .im2colGEMM)
      #expect(rule(conv1, .weightGradient) == (batch >= minimum ? .winograd4x4 : .im2colGEMM))
      #expect(rule(shallow, .weightGradient) == .im2colGEMM)
    }
  }

  /// Through the dispatch of a strided layer, with and without its input gradient: the forward
  /// and a first layer's weight gradient by each policy's algorithm, a backward that wants the
  /// input gradient by im2col, all against the reference; gradients accumulated onto ones (as a
  /// second step's would be) once, though `.measure` runs every candidate on the first call. The
  /// 5×5 kernel at stride 2 is a 3×3 view kernel with a row and a column past the kernel's edge.
  @Test(
    arguments: [
      ConvolutionAlgorithmPolicy.rule, .measure, .fixed(.winograd), .fixed(.winograd4x4),
    ], [true, false])
  func dispatchMatchesReference(_ policy: ConvolutionAlgorithmPolicy, inputGradient: Bool) throws {
    let g = try ConvGeometry(
      batch: 8, inChannels: 4, height: 21, width: 18, outChannels: 6, kernel: 5, stride: 2,
      padding: .explicit(1), groups: 2)
    var rng = SeededGenerator(seed: 304)
    let (x, w, b) = (rng.tensor(g.inputShape), rng.tensor(g.weightShape), rng.tensor([6]))
    let dy = rng.tensor(g.outputShape)
    let (y, dx, dw, db) = WinogradSelectionTests.dispatch(
      g, input: x, weight: w, bias: b, outputGradient: dy, inputGradient: inputGradient,
      policy: policy)
    #expect(maxRelativeError(y, conv2dForwardNaive(g, input: x, weight: w, bias: b)) <= 1e-4)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    if inputGradient { #expect(maxRelativeError(dx, naive.input) <= 1e-4) }
    #expect(maxRelativeError(dw, naive.weight + Tensor(shape: g.weightShape, repeating: 1)) <= 1e-4)
    #expect(maxRelativeError(db, naive.bias + Tensor(shape: [6], repeating: 1)) <= 1e-4)
  }
}
