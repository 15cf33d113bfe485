/// How a convolution is computed. `ConvolutionAlgorithm.choose(for:)` is the one place the choice
/// is made: `conv2dForward` and `conv2dBackward` (pointer and tensor forms) ask it unless the
/// caller names an algorithm, and switch over the answer below.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
  /// im2col, then one SGEMM per group and chunk of images (Caffe's method), the batch split into
  /// one shard per thread: any geometry.
  case im2colGEMM

  /// The algorithm for a geometry.
  public static func choose(for g: ConvGeometry) -> ConvolutionAlgorithm { .im2colGEMM }
}

/// Fast forward of a batch, by `algorithm` or the one chosen for `g`. Overwrites `output`;
/// `bias` may be nil; `activation` is applied to the output. Scratch comes from `workspace` and,
/// for shards, the workspaces it keeps for them.
public func conv2dForward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, activation: Activation = .identity, output: UnsafeMutablePointer<Float>,
  algorithm: ConvolutionAlgorithm? = nil, workspace: Workspace
) {
  switch algorithm ?? .choose(for: g) {
  case .im2colGEMM:
    shardedConv2dForward(g, input: input, weight: weight, bias: bias, activation: activation, output: output,
                         workspace: workspace)
  }
}

/// Fast backward of a batch, by `algorithm` or the one chosen for `g`. Adds into
/// `weightGradient` and `biasGradient`, or with `accumulate: false` writes them over whatever
/// they held (no zero fill needed); overwrites `inputGradient` when given. With
/// `activatedOutput` (the forward's output after a fused ReLU), `outputGradient` is the gradient
/// of that output and is masked where the ReLU was off.
public func conv2dBackward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  activatedOutput: UnsafePointer<Float>? = nil,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true, algorithm: ConvolutionAlgorithm? = nil, workspace: Workspace
) {
  switch algorithm ?? .choose(for: g) {
  case .im2colGEMM:
    shardedConv2dBackward(g, input: input, weight: weight, activatedOutput: activatedOutput,
                          outputGradient: outputGradient, inputGradient: inputGradient,
                          weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate,
                          workspace: workspace)
  }
}
