import Foundation

/// Data-parallel training across the processes of an `MPIWorld`, with the semantics of PyTorch's
/// DistributedDataParallel and Horovod: every process holds the whole model, sees its own shard of
/// each global batch, and applies the same averaged gradient, so the weights stay identical.
///
/// The average is over images, not processes: each gradient (a mean over the local batch) is
/// weighted by the local image count before the sum, so a short last batch, or a rank whose
/// shard of it is empty, gives exactly the gradient of the whole global batch in one process.
public final class DataParallel {
  public let world: MPIWorld
  /// Floats per allreduce (PyTorch DDP's 25 MB buckets): large enough for bandwidth, small enough
  /// that the copy buffer stays modest.
  public let bucketFloats: Int
  /// Reused between steps, so the training step allocates nothing here.
  private var bucket: [Float]

  /// Batch-norm statistics over the global batch (`--sync-batch-norm`, PyTorch's SyncBatchNorm)
  /// instead of each process's own.
  public let synchronizesBatchNorm: Bool

  /// Buckets start while the backward runs (`GradientBuckets`); false: one allreduce per bucket
  /// after the backward (`averageGradients`), the reference the overlapped scheme is tested on.
  public let overlapsCommunication: Bool
  private let buckets: GradientBuckets

  /// `progress`: how overlapped buckets advance during the backward (ignored when
  /// `overlapsCommunication` is false).
  public init(
    world: MPIWorld, bucketFloats: Int = 25 << 18, synchronizesBatchNorm: Bool = false,
    overlapsCommunication: Bool = true, progress: CommunicationProgress = .default
  ) {
    precondition(bucketFloats > 0, "a bucket holds at least one float")
    (self.world, self.bucketFloats) = (world, bucketFloats)
    (self.synchronizesBatchNorm, self.overlapsCommunication) = (
      synchronizesBatchNorm, overlapsCommunication
    )
    bucket = []
    buckets = GradientBuckets(
      world: world, bucketFloats: bucketFloats,
      progress: overlapsCommunication ? progress : .afterEachGradient)
  }

  /// Before a step's backward (overlapped scheme): `gradientFinished` then starts buckets.
  public func beginStep(_ parameters: [(name: String, variable: Variable)], localSamples: Int) {
    guard overlapsCommunication else { return }
    buckets.begin(parameters, localSamples: localSamples)
  }

  /// The backward's `onGradientFinished`: starts the buckets whose gradients are all done.
  public func gradientFinished(_ parameter: Variable) {
    if overlapsCommunication { buckets.gradientFinished(parameter) }
  }

  /// Replaces every parameter's gradient by the image-weighted mean over the processes: waits for
  /// the buckets started during the backward (overlapped), or reduces them now (one-shot).
  public func finishStep(_ parameters: [(name: String, variable: Variable)], localSamples: Int) {
    guard overlapsCommunication else {
      return averageGradients(parameters, localSamples: localSamples)
    }
    if !buckets.isActive { buckets.begin(parameters, localSamples: localSamples) }
    buckets.finish()
  }

  /// Connects `model`'s batch-norm layers to the other processes when `synchronizesBatchNorm`.
  public func prepare(_ model: any Layer) {
    guard synchronizesBatchNorm else { return }
    let world = self.world
    for norm in Self.batchNorms(of: model) {
      norm.crossProcessSum = { world.allreduceSum($0) }
    }
  }

  /// A step with no images here: this process still takes part in every synchronized batch
  /// norm's reductions, in the order a step makes them (forward in layer order, backward in
  /// reverse), which holds for networks whose batch norms run in the order they are declared.
  public func takePartInBatchNormWithoutImages(_ model: any Layer) {
    let norms = Self.batchNorms(of: model).compactMap { norm in
      norm.crossProcessSum.map { (channels: norm.channels, reduce: $0) }
    }
    for norm in norms { batchNormSynchronizedAbsentForward(channels: norm.0, reduce: norm.1) }
    for norm in norms.reversed() {
      batchNormSynchronizedAbsentBackward(channels: norm.0, reduce: norm.1)
    }
  }

  static func batchNorms(of model: any Layer) -> [BatchNorm] {
    model.namedLayers.compactMap { $0.layer as? BatchNorm }
  }

  /// Replaces every parameter's gradient by the image-weighted mean over the processes.
  /// `localSamples` is this process's batch size this step (0 when its shard is empty; its
  /// gradients are then taken as zeros). Buckets go from the last parameter to the first, the
  /// order in which the backward finishes them.
  public func averageGradients(
    _ parameters: [(name: String, variable: Variable)], localSamples: Int
  ) {
    var counts = [Double(localSamples)]
    world.allreduceSum(&counts)
    let total = Float(counts[0])
    guard total > 0 else { return }
    let weight = Float(localSamples)
    var pending: [Variable] = []
    var filled = 0
    for (_, variable) in parameters.reversed() {
      if variable.grad == nil || localSamples == 0 { variable.grad = Tensor(zeros: variable.shape) }
      if filled + variable.value.count > bucketFloats, !pending.isEmpty {
        flush(pending, filled: filled, weight: weight, total: total)
        (pending, filled) = ([], 0)
      }
      pending.append(variable)
      filled += variable.value.count
    }
    if !pending.isEmpty { flush(pending, filled: filled, weight: weight, total: total) }
  }

  /// Packs the gradients of `variables` (scaled by `weight`) into the bucket, sums it over the
  /// processes, and unpacks it divided by `total`.
  private func flush(_ variables: [Variable], filled: Int, weight: Float, total: Float) {
    if bucket.count < filled { bucket = [Float](repeating: 0, count: filled) }
    bucket.withUnsafeMutableBufferPointer { buffer in
      var offset = 0
      for variable in variables {
        variable.grad!.withUnsafeBufferPointer { g in
          for i in 0..<g.count { buffer[offset + i] = g[i] * weight }
          offset += g.count
        }
      }
      world.allreduceSum(UnsafeMutableBufferPointer(rebasing: buffer[0..<filled]))
      offset = 0
      for variable in variables {
        variable.grad!.withUnsafeMutableBufferPointer { g in
          for i in 0..<g.count { g[i] = buffer[offset + i] / total }
          offset += g.count
        }
      }
    }
  }

  /// Gives every process rank 0's buffers (batch norm's running statistics, which each process
  /// gathers from its own images), as DDP's broadcast_buffers does, so that evaluation and the
  /// checkpoint rank 0 writes describe the same model on every rank.
  public func broadcastBuffers(of model: any Layer) {
    for (_, variable) in model.namedBuffers {
      variable.value.withUnsafeMutableBufferPointer { world.broadcastFromRoot($0) }
    }
  }

  /// The metrics of all processes together (sums of losses, hits and the confusion matrix).
  public func reduce(_ metrics: ClassificationMetrics) -> ClassificationMetrics {
    var values =
      [
        Double(metrics.samples), metrics.lossSum, Double(metrics.top1Correct),
        Double(metrics.top5Correct),
      ] + metrics.confusion.joined().map(Double.init)
    world.allreduceSum(&values)
    var merged = metrics
    merged.samples = Int(values[0])
    merged.lossSum = values[1]
    (merged.top1Correct, merged.top5Correct) = (Int(values[2]), Int(values[3]))
    let c = metrics.classCount
    merged.confusion = (0..<c).map { row in (0..<c).map { Int(values[4 + row * c + $0]) } }
    return merged
  }
}
