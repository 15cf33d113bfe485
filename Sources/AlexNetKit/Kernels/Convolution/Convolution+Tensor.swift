// Convolution of tensors: shapes checked, outputs allocated, scratch from the caller or the
// compute context.

/// im2col + GEMM convolution of tensors, or with a `policy` the algorithm it picks
/// (`ConvolutionAlgorithms`); `bias` may be nil; `activation` is applied to the output.
/// Scratch comes from `workspace`, or from the compute context's when nil.
public func conv2dForward(
  _ g: ConvGeometry, input: Tensor, weight: Tensor, bias: Tensor?,
  activation: Activation = .identity,
  workspace: Workspace? = nil, policy: ConvolutionAlgorithmPolicy? = nil
) -> Tensor {
  g.checkShapes(input: input, weight: weight, bias: bias)
  // An empty tensor's pointer stands in for "no bias".
  let biasValues = bias ?? Tensor(zeros: [0])
  var output = Tensor(uninitializedShape: g.outputShape)
  Workspace.using(workspace) { workspace in
    output.withUnsafeMutableBufferPointer { y in
      input.withUnsafeBufferPointer { x in
        weight.withUnsafeBufferPointer { w in
          biasValues.withUnsafeBufferPointer { b in
            let b = bias == nil ? nil : b.baseAddress!
            if let policy {
              conv2dForward(
                g, input: x.baseAddress!, weight: w.baseAddress!, bias: b, activation: activation,
                output: y.baseAddress!, workspace: workspace, policy: policy)
            } else {
              conv2dForward(
                g, input: x.baseAddress!, weight: w.baseAddress!, bias: b, activation: activation,
                output: y.baseAddress!, workspace: workspace)
            }
          }
        }
      }
    }
  }
  return output
}

/// Gradients of an im2col + GEMM convolution: input (nil unless `needsInputGradient`), weight
/// and bias, each freshly made. With `reluOutput` (the output of a forward with `.relu`),
/// `outputGradient` is that output's gradient. Scratch and `policy` as in the forward.
public func conv2dBackward(
  _ g: ConvGeometry, input: Tensor, weight: Tensor, reluOutput: Tensor? = nil,
  outputGradient: Tensor,
  needsInputGradient: Bool = true, workspace: Workspace? = nil,
  policy: ConvolutionAlgorithmPolicy? = nil
) -> (input: Tensor?, weight: Tensor, bias: Tensor) {
  g.checkShapes(input: input, weight: weight, bias: nil)
  precondition(
    outputGradient.shape == g.outputShape,
    "convolution \(g): output gradient \(outputGradient.shape), expected \(g.outputShape)")
  precondition(
    reluOutput == nil || reluOutput!.shape == g.outputShape,
    "convolution \(g): ReLU output \(reluOutput!.shape), expected \(g.outputShape)")
  // Empty tensors' pointers stand in for "no fused ReLU" and "no input gradient".
  let mask = reluOutput ?? Tensor(zeros: [0])
  var dx = Tensor(uninitializedShape: needsInputGradient ? g.inputShape : [0])
  var dw = Tensor(uninitializedShape: g.weightShape)
  var db = Tensor(uninitializedShape: [g.outChannels])
  Workspace.using(workspace) { workspace in
    input.withUnsafeBufferPointer { x in
      weight.withUnsafeBufferPointer { w in
        outputGradient.withUnsafeBufferPointer { dy in
          dw.withUnsafeMutableBufferPointer { dw in
            db.withUnsafeMutableBufferPointer { db in
              mask.withUnsafeBufferPointer { mask in
                dx.withUnsafeMutableBufferPointer { dx in
                  let (mask, dx) = (
                    reluOutput == nil ? nil : mask.baseAddress!,
                    needsInputGradient ? dx.baseAddress! : nil
                  )
                  if let policy {
                    conv2dBackward(
                      g, input: x.baseAddress!, weight: w.baseAddress!, activatedOutput: mask,
                      outputGradient: dy.baseAddress!, inputGradient: dx,
                      weightGradient: dw.baseAddress!, biasGradient: db.baseAddress!,
                      accumulate: false, workspace: workspace, policy: policy)
                  } else {
                    conv2dBackward(
                      g, input: x.baseAddress!, weight: w.baseAddress!, activatedOutput: mask,
                      outputGradient: dy.baseAddress!, inputGradient: dx,
                      weightGradient: dw.baseAddress!, biasGradient: db.baseAddress!,
                      accumulate: false, workspace: workspace)
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return (needsInputGradient ? dx : nil, dw, db)
}
