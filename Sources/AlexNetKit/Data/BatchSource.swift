/// Where a trainer's or an evaluation's batches come from: `BatchLoader` (image files, decoded by
/// workers) or `TensorBatches` (tensors already in memory), or a type of one's own.
///
/// An epoch is numbered from 0; a source that shuffles derives the order from its seed and the
/// epoch, so a resumed run sees the same batches as one that never stopped.
public protocol BatchSource {
  /// Batches per epoch.
  var batchCount: Int { get }
  /// Calls `body` with each batch of epoch `epoch` in order (index from 0). Errors from the
  /// source (an unreadable file) or from `body` end the epoch and are rethrown.
  func forEachBatch(epoch: Int, _ body: (_ index: Int, _ batch: Batch) throws -> Void) throws
}

extension BatchLoader: BatchSource {
  public func forEachBatch(epoch: Int, _ body: (_ index: Int, _ batch: Batch) throws -> Void) throws
  {
    let batches = self.epoch(epoch)
    defer { batches.cancel() }  // stops the workers when `body` throws mid-epoch
    for (index, batch) in batches.enumerated() { try body(index, batch) }
    if let error = batches.error { throw error }
  }
}

/// Batches of images [N, C, H, W] and labels held in memory: for data made by code, tests, or
/// features computed once. Each epoch's order is a seeded shuffle of (seed, epoch) when `shuffle`.
public struct TensorBatches: BatchSource, Sendable {
  public let images: Tensor
  public let labels: [Int]
  public let batchSize: Int
  public var shuffle: Bool
  public var seed: UInt64
  /// Leaves out the last, shorter batch.
  public var dropLast: Bool

  public init(
    images: Tensor, labels: [Int], batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
    dropLast: Bool = false
  ) {
    precondition(
      images.rank >= 1 && images.shape[0] == labels.count,
      "TensorBatches: images \(images.shape) for \(labels.count) labels")
    precondition(batchSize > 0, "TensorBatches: batch size must be positive, got \(batchSize)")
    (self.images, self.labels, self.batchSize) = (images, labels, batchSize)
    (self.shuffle, self.seed, self.dropLast) = (shuffle, seed, dropLast)
  }

  public var batchCount: Int {
    dropLast ? labels.count / batchSize : (labels.count + batchSize - 1) / batchSize
  }

  /// The sample order of an epoch (the same rule as `BatchLoader.order(epoch:)`).
  public func order(epoch: Int) -> [Int] {
    var indices = Array(labels.indices)
    if shuffle {
      var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
      indices.shuffle(using: &generator)
    }
    return indices
  }

  public func forEachBatch(epoch: Int, _ body: (_ index: Int, _ batch: Batch) throws -> Void) throws
  {
    let order = order(epoch: epoch)
    let sampleSize = images.count / Swift.max(labels.count, 1)
    for index in 0..<batchCount {
      let positions = (index * batchSize)..<Swift.min(order.count, (index + 1) * batchSize)
      var batch = Tensor(uninitializedShape: [positions.count] + images.shape.dropFirst())
      batch.withUnsafeMutableBufferPointer { destination in
        images.withUnsafeBufferPointer { source in
          for (row, position) in positions.enumerated() {
            let from = source.baseAddress! + order[position] * sampleSize
            (destination.baseAddress! + row * sampleSize).update(from: from, count: sampleSize)
          }
        }
      }
      let batchLabels = positions.map { labels[order[$0]] }
      try body(index, Batch(images: batch, labels: batchLabels, positions: Array(positions)))
    }
  }
}
