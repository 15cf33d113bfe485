// Batch shards of the im2col + GEMM path: one shard of images per thread, each with
// single-threaded GEMMs in a workspace its caller keeps for it.

/// Fast forward (im2col + GEMM). The batch is split into one shard of images per thread (`Parallel.forEachShard`),
/// each convolved by `conv2dForwardImages` with single-threaded GEMMs; a single image gets
/// OpenBLAS's threads instead. Overwrites `output`. Scratch comes from `workspace` (slots 0 and 1)
/// and, for the other shards, the workspaces it keeps for them.
public func conv2dForward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, activation: Activation = .identity,
  output: UnsafeMutablePointer<Float>,
  workspace: Workspace
) {
  let shards = Parallel.shardCount(for: g.batch)
  guard shards > 1 else {
    return conv2dForwardImages(
      g, input: input, weight: weight, bias: bias, activation: activation, output: output,
      workspace: workspace)
  }
  let inputImage = g.inChannels * g.height * g.width
  let outputImage = g.outChannels * g.outputPlane
  workspace.prepareShards(shards)
  Parallel.forEachShard(g.batch, shards: shards) { shard, images in
    conv2dForwardImages(
      g.withBatch(images.count), input: input + images.lowerBound * inputImage, weight: weight,
      bias: bias, activation: activation, output: output + images.lowerBound * outputImage,
      workspace: workspace.shard(shard))
  }
}

/// Fast backward (im2col + GEMM). Adds into `weightGradient` (dW += dY·colsᵀ per group) and `biasGradient`
/// (db += sums of dY), or with `accumulate: false` writes them over whatever they held (no zero
/// fill needed); overwrites `inputGradient` when given
/// (dCols = Wᵀ·dY per group, then col2im sums overlapping windows). Columns are recomputed
/// from the input rather than kept from the forward pass, which would cost B·K·P floats per layer.
/// With `activatedOutput` (the forward's output after a fused ReLU), `outputGradient` is the
/// gradient of that output and is masked where the ReLU was off.
/// Sharded over the batch like the forward: the first shard writes the gradients, the others
/// their own partial sums (in their workspaces, slot 2), added in at the end.
public func conv2dBackward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  activatedOutput: UnsafePointer<Float>? = nil,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true, workspace: Workspace
) {
  let shards = Parallel.shardCount(for: g.batch)
  guard shards > 1 else {
    return conv2dBackwardImages(
      g, input: input, weight: weight, activatedOutput: activatedOutput,
      outputGradient: outputGradient, inputGradient: inputGradient,
      weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate,
      workspace: workspace)
  }
  let inputImage = g.inChannels * g.height * g.width
  let outputImage = g.outChannels * g.outputPlane
  let weightCount = g.outChannels * g.columnRows
  let partialCount = weightCount + g.outChannels
  workspace.prepareShards(shards)
  // Shards after the first leave their partial sums in their workspace (slot 2), which the caller
  // owns: a pool thread may take another caller's shard before this one sums the partials.
  func partial(_ shard: Int) -> UnsafeMutablePointer<Float> {
    workspace.shard(shard).floats(partialCount, slot: 2)
  }
  Parallel.forEachShard(g.batch, shards: shards) { shard, images in
    var (dw, db) = (weightGradient, biasGradient)
    if shard > 0 {
      (dw, db) = (partial(shard), biasGradient.map { _ in partial(shard) + weightCount })
    }
    conv2dBackwardImages(
      g.withBatch(images.count), input: input + images.lowerBound * inputImage, weight: weight,
      activatedOutput: activatedOutput.map { $0 + images.lowerBound * outputImage },
      outputGradient: outputGradient + images.lowerBound * outputImage,
      inputGradient: inputGradient.map { $0 + images.lowerBound * inputImage },
      weightGradient: dw, biasGradient: db, accumulate: shard == 0 && accumulate,
      workspace: workspace.shard(shard))
  }
  for shard in 1..<shards {
    let dw = partial(shard)
    let db = dw + weightCount
    Parallel.forEachChunk(weightCount, minimumChunk: 1 << 14) { range in
      for i in range { weightGradient[i] += dw[i] }
    }
    if let biasGradient { for o in 0..<g.outChannels { biasGradient[o] += db[o] } }
  }
}
