import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct WinogradSelectionTests {
  /// Measuring times each candidate (im2col, F(2×2), F(4×4)) three times on the first call of a
  /// shape, then remembers.
  /// ALEXNET_CONV_ALGORITHM: unset or empty is the rule, each name its policy, anything else an
  /// error naming the variable.
  @Test func environmentNamesAPolicy() throws {
    func policy(_ value: String?) throws -> ConvolutionAlgorithmPolicy {
      try ConvolutionAlgorithmPolicy.fromEnvironment(
        value.map { ["ALEXNET_CONV_ALGORITHM": $0] } ?? [:])
    }
    #expect(try policy(nil) == .rule && policy("") == .rule && policy("rule") == .rule)
    #expect(try policy("measure") == .measure)
    for algorithm in ConvolutionAlgorithm.allCases {
      #expect(try policy(algorithm.rawValue) == .fixed(algorithm))
    }
    for value in ["Winograd", "winograd3", "im2col", " rule"] {
      #expect(throws: ConfigurationError.self, "\(value)") { try policy(value) }
    }
  }

  @Test func measuresOncePerShape() throws {
    // A shape no other test uses, so the process-wide table has no entry for it yet.
    let g = try ConvGeometry(
      batch: 1, inChannels: 3, height: 7, width: 19, outChannels: 5, kernel: 3,
      padding: .explicit(1))
    var runs: [ConvolutionAlgorithm] = []
    let first = ConvolutionAlgorithms.choose(g, pass: .forward, policy: .measure) {
      runs.append($0)
    }
    #expect(runs.count == 9)
    #expect(Set(runs) == [.im2colGEMM, .winograd, .winograd4x4])
    #expect(ConvolutionAlgorithms.selected(g, pass: .forward, policy: .measure) == first)
    let second = ConvolutionAlgorithms.choose(g, pass: .forward, policy: .measure) {
      runs.append($0)
    }
    #expect(second == first && runs.count == 9)
    // A 5×5 kernel has three candidates: F(4×4, 3×3) does not apply, F(3×3, 5×5) does.
    let g5 = try ConvGeometry(
      batch: 1, inChannels: 3, height: 7, width: 19, outChannels: 5, kernel: 5,
      padding: .explicit(2))
    runs = []
    _ = ConvolutionAlgorithms.choose(g5, pass: .forward, policy: .measure) { runs.append($0) }
    #expect(runs.count == 9 && Set(runs) == [.im2colGEMM, .winograd, .winograd3x3])
  }

  /// The trials of `.measure` stay out of a profile of the caller's scope (which the per-layer
  /// table divides by one step's time), while the chosen algorithm's own run is counted.
  @Test func measuringStaysOutOfTheProfile() throws {
    let g = try ConvGeometry(
      batch: 1, inChannels: 2, height: 5, width: 17, outChannels: 3, kernel: 3,
      padding: .explicit(1))
    let (a, b) = ([Float](repeating: 1, count: 4), [Float](repeating: 2, count: 4))
    var c = [Float](repeating: 0, count: 4)
    func product() { BLAS.sgemm(a, b, into: &c, m: 2, n: 2, k: 2) }
    var context = ComputeContext.current
    let profile = GEMMProfile()
    context.profile = profile
    var trials = 0
    withComputeContext(context) {
      _ = ConvolutionAlgorithms.choose(g, pass: .forward, policy: .measure) { _ in
        trials += 1
        product()
      }
      product()
    }
    #expect(trials == 9)
    #expect(profile.calls == 1)
    #expect(c == [4, 4, 4, 4])
  }

  /// The default rule depends on the shape alone (never on timing): Winograd for 3x3 and 5x5
  /// stride-1 calls of at least `ruleMinimumBatch` images, im2col for fewer and for other kernels;
  /// for inference also fewer images, where each group has `ruleMinimumInferenceChannels` inputs.
  @Test func ruleDependsOnTheShapeAlone() throws {
    let minimum = ConvolutionAlgorithmPolicy.ruleMinimumBatch
    var runs = 0
    for batch in [1, minimum - 1, minimum, 3 * minimum] {
      let g3 = try ConvGeometry(
        batch: batch, inChannels: 2, height: 6, width: 6, outChannels: 2, kernel: 3)
      let g5 = try ConvGeometry(
        batch: batch, inChannels: 2, height: 6, width: 6, outChannels: 2, kernel: 5)
      let g7 = try ConvGeometry(
        batch: batch, inChannels: 2, height: 8, width: 8, outChannels: 2, kernel: 7)
      let expected: ConvolutionAlgorithm = batch >= minimum ? .winograd : .im2colGEMM
      #expect(
        ConvolutionAlgorithms.choose(g3, pass: .forward, policy: .rule) { _ in runs += 1 }
          == expected)
      #expect(
        ConvolutionAlgorithms.choose(g3, pass: .backward, policy: .rule) { _ in runs += 1 }
          == expected)
      // 5×5 kernels take F(3×3, 5×5)'s larger tiles wherever Winograd runs.
      #expect(
        ConvolutionAlgorithms.choose(g5, pass: .backward, policy: .rule) { _ in runs += 1 }
          == (batch >= minimum ? .winograd3x3 : .im2colGEMM))
      let g5Deep = try ConvGeometry(
        batch: batch, inChannels: ConvolutionAlgorithmPolicy.ruleMinimumInferenceChannels,
        height: 6, width: 6, outChannels: 2, kernel: 5)
      #expect(
        ConvolutionAlgorithms.choose(g5Deep, pass: .inference, policy: .rule) { _ in runs += 1 }
          == .winograd3x3)
      #expect(
        ConvolutionAlgorithms.choose(g7, pass: .forward, policy: .rule) { _ in runs += 1 }
          == .im2colGEMM)
      // Inference keeps its filters: Winograd at any batch once the products are deep enough.
      let deep = ConvolutionAlgorithmPolicy.ruleMinimumInferenceChannels
      for (inChannels, groups) in [(2, 1), (deep - 1, 1), (deep, 1), (2 * deep, 2), (deep, 2)] {
        let g = try ConvGeometry(
          batch: batch, inChannels: inChannels, height: 6, width: 6, outChannels: 2 * groups,
          kernel: 3, groups: groups)
        let inference: ConvolutionAlgorithm =
          batch >= minimum || inChannels / groups >= deep ? .winograd : .im2colGEMM
        #expect(
          ConvolutionAlgorithms.choose(g, pass: .inference, policy: .rule) { _ in runs += 1 }
            == inference)
        #expect(
          ConvolutionAlgorithms.choose(g, pass: .forward, policy: .rule) { _ in runs += 1 }
            == expected)
      }
    }
    #expect(runs == 0)
  }

  @Test func fixedPolicyAndOtherKernelsMeasureNothing() throws {
    let g3 = try ConvGeometry(
      batch: 1, inChannels: 2, height: 6, width: 6, outChannels: 2, kernel: 3)
    let g5 = try ConvGeometry(
      batch: 1, inChannels: 2, height: 6, width: 6, outChannels: 2, kernel: 5)
    let g7 = try ConvGeometry(
      batch: 1, inChannels: 2, height: 8, width: 8, outChannels: 2, kernel: 7)
    var runs = 0
    #expect(
      ConvolutionAlgorithms.choose(g3, pass: .forward, policy: .fixed(.winograd)) { _ in runs += 1 }
        == .winograd)
    #expect(
      ConvolutionAlgorithms.choose(g7, pass: .forward, policy: .measure) { _ in runs += 1 }
        == .im2colGEMM)
    // A fixed algorithm that does not apply to the kernel falls back to im2col.
    #expect(
      ConvolutionAlgorithms.choose(g5, pass: .forward, policy: .fixed(.winograd4x4)) { _ in
        runs += 1
      } == .im2colGEMM)
    #expect(
      ConvolutionAlgorithms.choose(g3, pass: .forward, policy: .fixed(.winograd3x3)) { _ in
        runs += 1
      } == .im2colGEMM)
    #expect(runs == 0)
  }

  /// Through the measuring dispatch the forward, and the backward's gradients (accumulated onto
  /// ones, as a second step's would be), match the reference once: the candidates timed on the
  /// first call must not add their weight gradients too.
  @Test(
    arguments: [
      ConvolutionAlgorithmPolicy.rule, .measure, .fixed(.winograd), .fixed(.winograd4x4),
      .fixed(.winograd3x3), .fixed(.im2colGEMM),
    ], [3, 5])
  func dispatchMatchesReference(_ policy: ConvolutionAlgorithmPolicy, kernel: Int) throws {
    let g = try ConvGeometry(
      batch: 3, inChannels: 4, height: 9, width: 10, outChannels: 6, kernel: kernel,
      padding: .same, groups: 2)
    var rng = SeededGenerator(seed: 90)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([6])
    let dy = rng.tensor(g.outputShape)
    let naive = conv2dBackwardNaive(g, input: x, weight: w, outputGradient: dy)
    let (y, dx, dw, db) = Self.dispatch(
      g, input: x, weight: w, bias: b, outputGradient: dy, inputGradient: true, policy: policy)
    #expect(maxRelativeError(y, conv2dForwardNaive(g, input: x, weight: w, bias: b)) <= 1e-4)
    #expect(maxRelativeError(dx, naive.input) <= 1e-4)
    #expect(maxRelativeError(dw, naive.weight + Tensor(shape: g.weightShape, repeating: 1)) <= 1e-4)
    #expect(maxRelativeError(db, naive.bias + Tensor(shape: [6], repeating: 1)) <= 1e-4)
  }

  /// The pointer-level forward and backward dispatch of `g` under `policy` on one workspace: the
  /// output, the input gradient (empty unless `inputGradient`), and the weight and bias gradients
  /// accumulated onto ones, as a second step's would be.
  static func dispatch(
    _ g: ConvGeometry, input x: Tensor, weight w: Tensor, bias b: Tensor, outputGradient dy: Tensor,
    inputGradient: Bool, policy: ConvolutionAlgorithmPolicy
  ) -> (output: Tensor, input: Tensor, weight: Tensor, bias: Tensor) {
    var y = Tensor(zeros: g.outputShape)
    var dx = Tensor(zeros: inputGradient ? g.inputShape : [0])
    var dw = Tensor(shape: g.weightShape, repeating: 1)
    var db = Tensor(shape: [g.outChannels], repeating: 1)
    let workspace = Workspace()
    x.withUnsafeBufferPointer { x in
      w.withUnsafeBufferPointer { w in
        b.withUnsafeBufferPointer { b in
          y.withUnsafeMutableBufferPointer { y in
            conv2dForward(
              g, input: x.baseAddress!, weight: w.baseAddress!, bias: b.baseAddress!,
              output: y.baseAddress!, workspace: workspace, policy: policy)
          }
        }
        dy.withUnsafeBufferPointer { dy in
          dx.withUnsafeMutableBufferPointer { dx in
            dw.withUnsafeMutableBufferPointer { dw in
              db.withUnsafeMutableBufferPointer { db in
                conv2dBackward(
                  g, input: x.baseAddress!, weight: w.baseAddress!, outputGradient: dy.baseAddress!,
                  inputGradient: inputGradient ? dx.baseAddress! : nil,
                  weightGradient: dw.baseAddress!, biasGradient: db.baseAddress!,
                  workspace: workspace, policy: policy)
              }
            }
          }
        }
      }
    }
    return (y, dx, dw, db)
  }

  /// Inference keeps the transformed filters until the weights change, in place or by assignment.
  @Test func weightChangesInvalidateCachedFilters() throws {
    var rng = SeededGenerator(seed: 91)
    let layer = Conv2D(
      weight: rng.tensor([4, 3, 3, 3]), bias: rng.tensor([4]), padding: .explicit(1))
    let x = Variable(rng.tensor([2, 3, 8, 7]))
    let g = try ConvGeometry(
      batch: 2, inChannels: 3, height: 8, width: 7, outChannels: 4, kernel: 3,
      padding: .explicit(1))
    func check() -> Float {
      let y = withGradientsDisabled {
        layer.winogradInference(x, activation: .identity, policy: .fixed(.winograd))
      }
      return maxRelativeError(
        y!.value,
        conv2dForwardNaive(
          g, input: x.value, weight: layer.weight.value,
          bias: layer.bias!.value))
    }
    #expect(check() <= 1e-4)
    #expect(check() <= 1e-4)
    #expect(layer.winogradFilterCache.transforms == 1)
    layer.weight.value.withUnsafeMutableBufferPointer { $0[5] += 1 }  // as an optimiser steps
    #expect(check() <= 1e-4)
    #expect(layer.winogradFilterCache.transforms == 2)
    layer.weight.value = rng.tensor([4, 3, 3, 3])  // as loading a checkpoint does
    #expect(check() <= 1e-4)
    #expect(layer.winogradFilterCache.transforms == 3)
    // F(4×4) keeps its own filters beside F(2×2)'s: transformed once, then reused.
    func check4x4() -> Float {
      let y = withGradientsDisabled {
        layer.winogradInference(x, activation: .relu, policy: .fixed(.winograd4x4))
      }
      let z = conv2dForwardNaive(
        g, input: x.value, weight: layer.weight.value, bias: layer.bias!.value)
      return maxRelativeError(y!.value, reluForwardNaive(input: z))
    }
    #expect(check4x4() <= 1e-4 && check4x4() <= 1e-4)
    #expect(check() <= 1e-4)
    #expect(layer.winogradFilterCache.transforms == 4)
    // Training records a graph: the usual path.
    #expect(layer.winogradInference(x, activation: .identity, policy: .fixed(.winograd)) == nil)
    // Shapes the policy gives to im2col (2 images of 3 channels under the rule) transform no
    // filters.
    let byRule = withGradientsDisabled {
      layer.winogradInference(x, activation: .identity, policy: .rule)
    }
    #expect(byRule == nil && layer.winogradFilterCache.transforms == 4)
  }
}
