import Foundation
import Synchronization

/// How a convolution is computed.
public enum ConvolutionAlgorithm: String, Sendable, Codable, CaseIterable {
  /// im2col + one SGEMM per group (any kernel, stride, padding).
  case im2colGEMM
  /// Winograd F(2×2, 3×3) or F(2×2, 5×5) (3×3 or 5×5 kernels at stride 1, or strided kernels
  /// whose ⌈kernel / stride⌉ is 3 or 5 through space to depth: forward and weight gradient only).
  case winograd
  /// Winograd F(4×4, 3×3) (3×3 kernels at stride 1, or strided ones whose ⌈kernel / stride⌉ is
  /// 3): as `winograd`, with 6×6 tiles (fewer multiplications, narrower products, larger
  /// rounding).
  case winograd4x4
  /// Winograd F(3×3, 5×5) (5×5 kernels at stride 1, or strided ones whose ⌈kernel / stride⌉ is
  /// 5): as `winograd`, with 7×7 tiles (1.8 times fewer products than F(2×2, 5×5)).
  case winograd3x3

  /// The Winograd variant this algorithm runs for `g`'s forward pass and weight gradient (strided
  /// shapes through space to depth), nil for im2col or where it does not apply. The input
  /// gradient of a strided shape stays with im2col.
  public func winogradVariant(for g: ConvGeometry) -> WinogradVariant? {
    let variant: WinogradVariant
    switch self {
    case .im2colGEMM: return nil
    case .winograd:
      let taps = SpaceToDepth(g)?.taps ?? g.kernel
      variant = taps == 5 ? .f2x2Kernel5 : .f2x2
    case .winograd4x4: variant = .f4x4
    case .winograd3x3: variant = .f3x3Kernel5
    }
    return variant.supportsForwardAndWeightGradient(g) ? variant : nil
  }

  /// Whether this algorithm computes `g`'s forward pass and weight gradient (im2col computes
  /// every convolution and every pass).
  public func applies(to g: ConvGeometry) -> Bool {
    self == .im2colGEMM || winogradVariant(for: g) != nil
  }
}

/// How the algorithm of each convolution shape is picked.
public enum ConvolutionAlgorithmPolicy: Equatable, Sendable {
  /// The default: a rule of the shape alone, Winograd F(2×2) (3×3 or 5×5 kernels, stride 1) where
  /// it applies and the call has at least `ruleMinimumBatch` images (narrower products were slower
  /// than im2col's), im2col elsewhere; for 5×5 kernels F(3×3, 5×5) wherever Winograd runs. Two
  /// processes (a run and its resume, a checkpoint and its ONNX export) then compute the same
  /// bits, which timing cannot promise: PyTorch leaves cuDNN's benchmark mode off for that. F(4×4) is left to `.measure`: on this 2-core machine (loaded, load average
  /// 10-15) it was slower than F(2×2) at AlexNet's conv3-5 (batch 32 and 128, forward 1.00-1.25x
  /// im2col against F(2×2)'s 1.09-1.65x; batch 1 0.10-0.74x) and at resnet-small's 3x3 layers
  /// (16x16 down to 4x4), and ahead only at 32x32 with 32 channels, not in every run: 16 output
  /// blocks per 13x13 plane make its 36 products narrow, and 4×4 blocks compute 256 outputs for
  /// the plane's 169 (2×2 blocks: 196).
  /// Inference (no graph recorded) keeps its transformed filters, so there Winograd F(2×2) also
  /// runs for fewer images wherever the products are at least `ruleMinimumInferenceChannels`
  /// deep: AlexNet's conv2-5 at batch 1, with filters kept, took 0.63-0.81x im2col's time on this
  /// Zen 3 (whole alexnet-tv forward 14.0 against 17.0 ms), where the 3-channel first layer of
  /// the CIFAR network took 2x.
  /// A strided shape (through space to depth) counts its depth in view channels
  /// (inChannels · stride²) and its forward takes F(4×4) where its view kernel is 3×3: AlexNet's
  /// conv1 (48 view channels of 57x57) on an Ice Lake host, `benchmarks --only winograd --layers
  /// conv1,tv-conv1 --batch 128`, four runs: forward F(4×4) 1.13-1.50x im2col's speed at batch
  /// 128, F(2×2) 1.03-1.21x; at batch 1 inside whole passes, filters kept, torchvision's conv1
  /// took a median of 2.08 against 2.34 ms (the 2012 conv1 showed no gain on that host).
  /// A weight gradient alone (a layer whose input needs no gradient) takes Winograd where training's
  /// forward would and its products are as deep as inference asks.
  case rule
  /// cuDNN's benchmark mode: on the first call of a shape, every applicable algorithm is timed a
  /// few times on the call's own data and the fastest kept for the rest of the process.
  case measure
  /// Always this one where it applies, im2col elsewhere: reproducible timings.
  case fixed(ConvolutionAlgorithm)

  public static let ruleMinimumBatch = 8
  public static let ruleMinimumInferenceChannels = 16

  /// The environment variable that picks the policy: `rule` (the default), `measure`, or an
  /// algorithm's name.
  public static let environmentVariable = "ALEXNET_CONV_ALGORITHM"

  /// The policy `ALEXNET_CONV_ALGORITHM` names, read once. The library takes an unknown value as
  /// the default; the command-line tools refuse it first (`fromEnvironment`).
  public static let environment: ConvolutionAlgorithmPolicy =
    (try? fromEnvironment()) ?? .rule

  /// The policy `ALEXNET_CONV_ALGORITHM` names in `environment`: `.rule` when unset or empty,
  /// an error naming the variable and the values it takes for anything else.
  public static func fromEnvironment(
    _ environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(ConfigurationError) -> ConvolutionAlgorithmPolicy {
    guard let value = environment[environmentVariable], !value.isEmpty else { return .rule }
    switch value {
    case "rule": return .rule
    case "measure": return .measure
    case let name:
      guard let algorithm = ConvolutionAlgorithm(rawValue: name) else {
        let names = ["rule", "measure"] + ConvolutionAlgorithm.allCases.map(\.rawValue)
        throw ConfigurationError(
          environmentVariable,
          "must be one of \(names.joined(separator: ", ")), got \"\(value)\"")
      }
      return .fixed(algorithm)
    }
  }
}

/// Which pass of a convolution an algorithm was chosen for.
public enum ConvolutionPass: String, Sendable, Codable {
  /// A forward pass that records a graph: Winograd transforms its filters on every call.
  case forward
  case backward
  /// A forward pass without a graph: Winograd's filters are transformed once and kept.
  case inference
  /// A backward pass that needs no input gradient (a first layer): the weight and bias gradients
  /// alone, which the Winograd path also computes for strided shapes.
  case weightGradient
}

/// The algorithms chosen so far, by shape (geometry with its batch, pass and thread count: each
/// changes which is fastest). Lock-protected; filled once per shape.
public enum ConvolutionAlgorithms {
  struct Key: Hashable {
    let geometry: ConvGeometry, pass: ConvolutionPass, threads: Int, sharded: Bool
  }
  static let chosen = Mutex<[Key: ConvolutionAlgorithm]>([:])

  static func key(_ g: ConvGeometry, _ pass: ConvolutionPass) -> Key {
    let context = ComputeContext.current
    return Key(
      geometry: g, pass: pass, threads: context.threadCount, sharded: context.shardsBatches)
  }

  /// What `choose` picks for `g`'s `pass` under `policy`, without running anything: the rule's or
  /// the fixed algorithm, or under `.measure` the one measured at the current thread settings
  /// (nil before the shape's first call).
  public static func selected(
    _ g: ConvGeometry, pass: ConvolutionPass, policy: ConvolutionAlgorithmPolicy
  ) -> ConvolutionAlgorithm? {
    let applies = pass == .backward ? Winograd.supports : Winograd.supportsForwardAndWeightGradient
    guard applies(g) else { return .im2colGEMM }
    switch policy {
    case .fixed(let algorithm): return algorithm.applies(to: g) ? algorithm : .im2colGEMM
    case .rule:
      // Through space to depth a strided shape's products are stride² times as deep.
      let depth = g.inChannels / g.groups * g.stride * g.stride
      let deep = depth >= ConvolutionAlgorithmPolicy.ruleMinimumInferenceChannels
      let batch = g.batch >= ConvolutionAlgorithmPolicy.ruleMinimumBatch
      let winograd: Bool
      switch pass {
      case .inference: winograd = batch || deep
      case .forward, .backward: winograd = batch
      // The weight gradient alone (a first layer, or one behind frozen layers), where the
      // products are deep: inside whole training steps (`benchmarks --layer-table MODEL --batch
      // 128`, alternating, Zen 4), conv1's backward by F(4×4) through space to depth took 86-127
      // against im2col's 136-143 ms (torchvision's) and 136-165 against 174-188 (the 2012 net).
      // `--only winograd` (no mask) gave F(2×2)'s weight gradient 1.2-1.4x at conv2-5.
      case .weightGradient: winograd = batch && deep
      }
      guard winograd else { return .im2colGEMM }
      let strided = g.stride > 1 && ConvolutionAlgorithm.winograd4x4.applies(to: g)
      if strided { return .winograd4x4 }
      // 5×5 kernels: F(3×3, 5×5)'s 7×7 tiles wherever Winograd runs. `benchmarks --only
      // winograd --layers conv2,tv-conv2 --batch 128` (Zen 4): forward 152 against F(2×2, 5×5)'s
      // 272 ms (the 2012 conv2), 171 against 211 (torchvision's); backward 404 against 642 and
      // 388 against 480. Inference at batch 1, filters kept (`--layer-chain alexnet-tv --batch
      // 1`, three alternating runs): torchvision's conv2 1.32-1.55 against 2.10-2.11 ms.
      // F(2×2, 5×5) is left to `.measure`.
      let large = ConvolutionAlgorithm.winograd3x3.applies(to: g)
      return large ? .winograd3x3 : .winograd
    case .measure:
      let key = key(g, pass)
      return chosen.withLock { $0[key] }
    }
  }

  /// The algorithm to run `g`'s `pass` with under `policy`. Under `.measure`, the first call of a
  /// shape calls `run` for each candidate, three rounds alternating, and keeps the one with the
  /// lowest median (`run` must leave its results valid whichever runs last).
  static func choose(
    _ g: ConvGeometry, pass: ConvolutionPass, policy: ConvolutionAlgorithmPolicy,
    run: (ConvolutionAlgorithm) -> Void
  ) -> ConvolutionAlgorithm {
    if let known = selected(g, pass: pass, policy: policy) { return known }
    let key = key(g, pass)
    let candidates = ConvolutionAlgorithm.allCases.filter { $0.applies(to: g) }
    var samples = [[Duration]](repeating: [], count: candidates.count)
    let clock = ContinuousClock()
    // The trials are not the caller's work: a profile of the scope (the per-layer table's share
    // of core time inside SGEMM, per step) would count three runs of every candidate as one.
    var unprofiled = ComputeContext.current
    unprofiled.profile = nil
    withComputeContext(unprofiled) {
      for _ in 0..<3 {
        for (i, candidate) in candidates.enumerated() {
          samples[i].append(clock.measure { run(candidate) })
        }
      }
    }
    let medians = samples.map { $0.sorted()[$0.count / 2] }
    let best = candidates[medians.indices.min { medians[$0] < medians[$1] }!]
    chosen.withLock { $0[key] = best }
    return best
  }
}

// MARK: - Dispatch

/// Forward by the algorithm `policy` picks for `g` (same contract as `conv2dForward`).
public func conv2dForward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?,
  activation: Activation = .identity, output: UnsafeMutablePointer<Float>, workspace: Workspace,
  policy: ConvolutionAlgorithmPolicy
) {
  func run(_ algorithm: ConvolutionAlgorithm) {
    switch algorithm {
    case .im2colGEMM:
      conv2dForward(
        g, input: input, weight: weight, bias: bias, activation: activation, output: output,
        workspace: workspace)
    case .winograd, .winograd4x4, .winograd3x3:
      winogradConv2dForward(
        g, input: input, weight: weight, bias: bias, activation: activation, output: output,
        workspace: workspace, variant: algorithm.winogradVariant(for: g)!)
    }
  }
  let algorithm = ConvolutionAlgorithms.choose(g, pass: .forward, policy: policy) { run($0) }
  run(algorithm)
}

/// Backward by the algorithm `policy` picks for `g`'s pass (same contract as `conv2dBackward`):
/// `.backward` where the input gradient is wanted, `.weightGradient` for a first layer. Winograd
/// computes every gradient asked for when chosen (a strided shape only without input gradient).
/// While measuring, the candidates write their weight and bias gradients to scratch (the real
/// ones may be accumulating), then the chosen one runs once more for real.
public func conv2dBackward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  activatedOutput: UnsafePointer<Float>? = nil,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true, workspace: Workspace, policy: ConvolutionAlgorithmPolicy
) {
  func run(
    _ algorithm: ConvolutionAlgorithm, weightGradient: UnsafeMutablePointer<Float>,
    biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool
  ) {
    // The input gradient of a strided shape is im2col's (col2im) alone.
    guard let variant = algorithm.winogradVariant(for: g), inputGradient == nil || g.stride == 1
    else {
      return conv2dBackward(
        g, input: input, weight: weight, activatedOutput: activatedOutput,
        outputGradient: outputGradient, inputGradient: inputGradient,
        weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate,
        workspace: workspace)
    }
    winogradConv2dWeightGradient(
      g, input: input, activatedOutput: activatedOutput, outputGradient: outputGradient,
      weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate,
      workspace: workspace, variant: variant)
    if let inputGradient {
      winogradConv2dInputGradient(
        g, weight: weight, activatedOutput: activatedOutput,
        outputGradient: outputGradient, inputGradient: inputGradient,
        workspace: workspace, variant: variant)
    }
  }
  let pass: ConvolutionPass = inputGradient == nil ? .weightGradient : .backward
  let algorithm = ConvolutionAlgorithms.choose(g, pass: pass, policy: policy) { candidate in
    // Only while measuring, once per shape: the training step itself allocates nothing here.
    let scratch = UnsafeMutablePointer<Float>.allocate(
      capacity: g.outChannels * (g.columnRows + 1))
    defer { scratch.deallocate() }
    run(
      candidate, weightGradient: scratch, biasGradient: scratch + g.outChannels * g.columnRows,
      accumulate: false)
  }
  run(algorithm, weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate)
}

// MARK: - Inference with filters transformed once

/// One layer's filters in the Winograd domain, one set per variant, kept while its weights stay
/// as they were (the weight variable's `version` counts every change, in place or not).
public final class WinogradFilterCache: @unchecked Sendable {
  private let lock = NSLock()
  private var kept: [WinogradVariant: (version: Int, filters: WinogradFilters)] = [:]

  public init() {}

  /// `weight`'s filters for `g` and `variant`, transformed now only if the weights or the shape
  /// changed since the last call for that variant.
  public func filters(
    _ g: ConvGeometry, weight: Variable, variant: WinogradVariant = .f2x2
  ) -> WinogradFilters {
    lock.withLock {
      if let kept = kept[variant], kept.version == weight.version,
        kept.filters.geometry.withBatch(g.batch) == g
      {
        return kept.filters
      }
      let made = WinogradFilters(g, weight: weight.value, variant: variant)
      kept[variant] = (weight.version, made)
      transforms += 1
      return made
    }
  }

  /// How many times filters were transformed (for tests).
  public private(set) var transforms = 0
}

extension Conv2D {
  /// Inference (no graph recorded) by Winograd with the cached filters, when the policy picks
  /// Winograd for this shape; nil to take the usual path.
  func winogradInference(
    _ input: Variable, activation: Activation,
    policy: ConvolutionAlgorithmPolicy = .environment
  ) -> Variable? {
    // Filters are transformed (and kept) only where Winograd may run: not for shapes the policy
    // already gives to im2col, such as a 3-channel stride-1 first layer at batch 1 under the
    // default rule.
    guard !GradientMode.isEnabled, let g = try? geometry(input.shape),
      ConvolutionAlgorithms.selected(g, pass: .inference, policy: policy) != .im2colGEMM
    else { return nil }
    var output = Tensor(uninitializedShape: g.outputShape)
    let noBias = Tensor(zeros: [0])
    ComputeContext.current.withWorkspace { workspace in
      input.value.withUnsafeBufferPointer { x in
        (bias?.value ?? noBias).withUnsafeBufferPointer { b in
          output.withUnsafeMutableBufferPointer { y in
            let bias = self.bias == nil ? nil : b.baseAddress!
            func run(_ algorithm: ConvolutionAlgorithm) {
              if let variant = algorithm.winogradVariant(for: g) {
                let filters = winogradFilterCache.filters(g, weight: weight, variant: variant)
                winogradConv2dForward(
                  g, input: x.baseAddress!, filters: filters, bias: bias, activation: activation,
                  output: y.baseAddress!, workspace: workspace)
              } else {
                weight.value.withUnsafeBufferPointer { w in
                  conv2dForward(
                    g, input: x.baseAddress!, weight: w.baseAddress!, bias: bias,
                    activation: activation,
                    output: y.baseAddress!, workspace: workspace)
                }
              }
            }
            run(ConvolutionAlgorithms.choose(g, pass: .inference, policy: policy) { run($0) })
          }
        }
      }
    }
    return Variable(output)
  }
}

extension Conv2D {
  /// The algorithms this layer runs with on input of shape `inputShape` under `policy` and the
  /// current compute context (nil under `.measure` before the shape's first call); the backward
  /// one is `.weightGradient`'s when the layer's input needs no gradient (a first layer).
  public func selectedAlgorithms(
    inputShape: [Int], inputNeedsGradient: Bool = true,
    policy: ConvolutionAlgorithmPolicy = .environment
  ) -> (
    inference: ConvolutionAlgorithm?, forward: ConvolutionAlgorithm?,
    backward: ConvolutionAlgorithm?
  ) {
    guard let g = try? geometry(inputShape) else { return (nil, nil, nil) }
    let backward: ConvolutionPass = inputNeedsGradient ? .backward : .weightGradient
    return (
      ConvolutionAlgorithms.selected(g, pass: .inference, policy: policy),
      ConvolutionAlgorithms.selected(g, pass: .forward, policy: policy),
      ConvolutionAlgorithms.selected(g, pass: backward, policy: policy)
    )
  }
}
