/// Inverted dropout (Srivastava et al. 2014; the 2012 paper's §4.2 with the scaling moved to
/// training time, as PyTorch and Keras do): in training each unit is kept with probability
/// 1 − rate and scaled by 1/(1 − rate); in inference the layer is the identity. The mask comes
/// from a seeded generator, so a run is reproducible, and the backward pass reuses it.

/// A mask of 0 and 1/(1 − rate), one entry per element.
public func dropoutMask(shape: [Int], rate: Float, using generator: inout SeededGenerator) -> Tensor
{
  precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
  let keep = 1 - rate
  let scale = 1 / keep
  var mask = Tensor(uninitializedShape: shape)
  mask.withUnsafeMutableBufferPointer { m in
    for i in m.indices { m[i] = generator.nextUniform() < keep ? scale : 0 }
  }
  return mask
}

/// Training-mode dropout: the input times the mask. The backward pass is the gradient times the
/// same mask.
public func dropoutForward(input: Tensor, mask: Tensor) -> Tensor {
  precondition(input.shape == mask.shape, "dropout: input \(input.shape), mask \(mask.shape)")
  return input * mask
}
