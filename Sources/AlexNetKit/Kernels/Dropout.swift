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

/// A mask whose row r (the r-th slice of the first dimension, one sample) is drawn from its own
/// generator seeded by `rowSeeds[r]`. A sample's mask then depends on its seed alone, not on the
/// samples that share its batch or its process, so data-parallel training draws the masks one
/// process would.
public func dropoutMask(shape: [Int], rate: Float, rowSeeds: [UInt64]) -> Tensor {
  precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
  precondition(
    !shape.isEmpty && shape[0] == rowSeeds.count,
    "dropout: \(rowSeeds.count) row seeds for shape \(shape)")
  let keep = 1 - rate
  let scale = 1 / keep
  let rowCount = shape.dropFirst().reduce(1, *)
  var mask = Tensor(uninitializedShape: shape)
  mask.withUnsafeMutableBufferPointer { m in
    // Rows draw from their own generators, so threads may take them in any order.
    let rowsPerThread = Swift.max(1, (1 << 14) / Swift.max(rowCount, 1))
    Parallel.forEachChunk(rowSeeds.count, minimumChunk: rowsPerThread) { rows in
      for row in rows {
        var generator = SeededGenerator(seed: rowSeeds[row])
        for i in (row * rowCount)..<((row + 1) * rowCount) {
          m[i] = generator.nextUniform() < keep ? scale : 0
        }
      }
    }
  }
  return mask
}

/// The seed of one sample's mask in one dropout layer: both words pass through SplitMix64's
/// finaliser, so nearby layer seeds and nearby sample keys give unrelated streams.
public func dropoutRowSeed(layerSeed: UInt64, sampleKey: UInt64) -> UInt64 {
  func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  return mix(layerSeed ^ mix(sampleKey))
}
