// How the im2col + GEMM path chunks a batch: images per im2col and GEMM.

extension ConvGeometry {
  /// Images per GEMM, as the fast path chunks the batch (the benchmark mirrors its SGEMMs).
  public var imagesPerChunkForBenchmark: Int { imagesPerChunk() }

  /// Images per GEMM: as many as keep the column matrix and the GEMM output within `budget`
  /// floats (8 MB), so one product covers a few images while the columns im2col writes are
  /// still in cache when the GEMM reads them; larger chunks spill to memory and im2col then costs
  /// as much as the GEMM (measured on conv3-5 at 13x13).
  /// Inside a batch shard the threads share the cache, so each gets its part of the budget.
  func imagesPerChunk(budget: Int = 1 << 21) -> Int {
    let context = ComputeContext.current
    let budget = context.isInsideShard ? budget / context.threadCount : budget
    // A plane this wide already makes a GEMM wide enough; batching would only add the scatter
    // into NCHW and push the columns out of cache (conv1: 3025 positions per image).
    if outputPlane >= 1024 { return 1 }
    let perImage = (inChannels * kernel * kernel + outChannels) * outputPlane
    return Swift.max(1, Swift.min(batch, budget / Swift.max(perImage, 1)))
  }
}

/// Calls `body(first, count)` for consecutive chunks of `g.imagesPerChunk()` images covering the
/// batch: the unit of one im2col and one GEMM per group.
@inline(__always)
func forEachImageChunk(_ g: ConvGeometry, _ body: (_ first: Int, _ count: Int) -> Void) {
  let chunk = g.imagesPerChunk()
  for first in stride(from: 0, to: g.batch, by: chunk) {
    body(first, Swift.min(chunk, g.batch - first))
  }
}
