import Foundation

/// How a sample becomes a network input: transforms on the decoded image, then normalisation
/// (and the paper's PCA colour noise, when given) into a [3, side, side] tensor, minus the mean
/// image when one is given (the paper's per-pixel mean subtraction, §2).
public struct ImagePipeline: Sendable {
  public var transforms: [ImageTransform]
  public var side: Int
  public var normalization: Normalization
  public var colorPCA: ColorPCA?
  /// [3, side, side], in normalised units (see `meanImage(of:)`), subtracted from every input.
  public var meanImage: Tensor?

  public init(
    transforms: [ImageTransform], side: Int, normalization: Normalization,
    colorPCA: ColorPCA? = nil,
    meanImage: Tensor? = nil
  ) {
    precondition(
      meanImage == nil || meanImage!.shape == [3, side, side],
      "the mean image must be [3, \(side), \(side)], got \(meanImage!.shape)")
    (self.transforms, self.side, self.normalization, self.colorPCA) = (
      transforms, side, normalization, colorPCA
    )
    self.meanImage = meanImage
  }

  /// The mean over `images` (already side x side) of their normalised tensors: "subtracting the
  /// mean activity over the training set from each pixel" (Krizhevsky et al. 2012, §2).
  public static func meanImage(of images: [RGBImage], normalization: Normalization) -> Tensor {
    precondition(!images.isEmpty, "a mean image needs at least one image")
    var sum = Tensor(zeros: normalization.tensor(images[0]).shape)
    for image in images { sum += normalization.tensor(image) }
    return sum / Float(images.count)
  }

  /// Applies the transforms, and makes sure the result is side x side.
  public func image(_ decoded: RGBImage, using generator: inout SeededGenerator) -> RGBImage {
    var image = transforms.reduce(decoded) { $1.apply($0, using: &generator) }
    if image.width != side || image.height != side {
      image = image.resized(width: side, height: side)
    }
    return image
  }

  /// Writes one sample into a batch slot ([3, side, side] floats), as the loader does.
  public func write(
    _ decoded: RGBImage, into destination: UnsafeMutablePointer<Float>,
    using generator: inout SeededGenerator
  ) {
    let image = self.image(decoded, using: &generator)
    let shift = colorPCA?.sampleShift(using: &generator) ?? [0, 0, 0]
    normalization.write(image, into: destination, colorShift: shift)
    meanImage?.withUnsafeBufferPointer { mean in
      for i in 0..<mean.count { destination[i] -= mean[i] }
    }
  }
}

/// A batch of images [N, 3, side, side] with their labels and file paths.
public struct Batch: Sendable {
  public var images: Tensor
  public var labels: [Int]
  public var paths: [String]
  /// Each image's position in its epoch's order, the same in one process and in a rank's shard:
  /// the trainer draws each image's dropout masks from it. Empty when the source has no order.
  public var positions: [Int]

  /// A batch from any source (`paths` empty when there are no files).
  public init(images: Tensor, labels: [Int], paths: [String] = [], positions: [Int] = []) {
    precondition(
      images.rank >= 1 && images.shape[0] == labels.count,
      "Batch: images \(images.shape) for \(labels.count) labels")
    precondition(
      positions.isEmpty || positions.count == labels.count,
      "Batch: \(positions.count) positions for \(labels.count) labels")
    (self.images, self.labels, self.paths, self.positions) = (images, labels, paths, positions)
  }
}

/// Batches of a sample list, decoded and augmented by worker threads ahead of the consumer.
///
/// - Every epoch reshuffles (when `shuffle`), from `seed` and the epoch number, and each sample's
///   augmentation draws from a generator seeded by (seed, epoch, position), so the batches are the
///   same whatever the number of workers.
/// - At most `prefetch` batches are decoded ahead, which bounds memory.
/// - A file that cannot be decoded is skipped (its batch is one image shorter) and reported once
///   in `badFiles`; with `stopOnBadFile` the iteration throws instead.
/// - Threads: the default is one worker. While a model trains, OpenBLAS and our kernels already use
///   every core, so more decoding threads would only compete with them; raise `workers` when
///   decoding is the bottleneck (evaluation, feature extraction).
public final class BatchLoader: @unchecked Sendable {
  public let samples: [ImageFolder.Sample]
  public let pipeline: ImagePipeline
  public let batchSize: Int
  public var shuffle: Bool
  public let seed: UInt64
  public var workers: Int
  public var prefetch: Int
  public var dropLast: Bool
  public var stopOnBadFile: Bool

  private let lock = NSLock()
  private var bad: [String: String] = [:]
  private var badOrder: [String] = []
  /// Called once per newly found bad file (path, reason), on a worker thread.
  public var onBadFile: (@Sendable (String, String) -> Void)?

  public init(
    samples: [ImageFolder.Sample], pipeline: ImagePipeline, batchSize: Int, shuffle: Bool = true,
    seed: UInt64 = 0, workers: Int = 1, prefetch: Int = 2, dropLast: Bool = false,
    stopOnBadFile: Bool = false
  ) {
    precondition(
      batchSize > 0 && workers > 0 && prefetch > 0,
      "batch size, workers and prefetch must be positive")
    (self.samples, self.pipeline, self.batchSize, self.shuffle, self.seed) = (
      samples, pipeline, batchSize, shuffle, seed
    )
    (self.workers, self.prefetch, self.dropLast, self.stopOnBadFile) = (
      workers, prefetch, dropLast, stopOnBadFile
    )
  }

  /// Files skipped so far, with the reason, in the order found.
  public var badFiles: [(path: String, reason: String)] {
    lock.withLock { badOrder.map { ($0, bad[$0]!) } }
  }

  /// This process's shard of every global batch (data-parallel training): global batch k holds
  /// positions [k·B, (k+1)·B) of the epoch's order, B = batchSize · count, and rank r takes its
  /// r-th slice of batchSize. The order and each image's augmentation depend on its position,
  /// never on the rank, so the shards together are exactly one process's batches of size B.
  public var shard: (rank: Int, count: Int) = (0, 1) {
    didSet { precondition(shard.count > 0 && (0..<shard.count).contains(shard.rank), "bad shard") }
  }

  /// Batches per epoch (global batches, the same count on every rank; a rank's shard of the
  /// last may be short or empty).
  public var batchCount: Int {
    let global = batchSize * shard.count
    return dropLast ? samples.count / global : (samples.count + global - 1) / global
  }

  /// The positions in the epoch's order of this rank's part of batch `index`.
  public func positions(batch index: Int) -> Range<Int> {
    let start = Swift.min(samples.count, (index * shard.count + shard.rank) * batchSize)
    return start..<Swift.min(samples.count, start + batchSize)
  }

  /// The sample order of an epoch.
  public func order(epoch: Int) -> [Int] {
    var indices = Array(samples.indices)
    if shuffle {
      var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
      indices.shuffle(using: &generator)
    }
    return indices
  }

  /// The batches of one epoch (from 0), produced ahead by the workers.
  public func epoch(_ epoch: Int) -> EpochBatches { EpochBatches(loader: self, epoch: epoch) }

  /// Decodes and transforms batch `index` of an epoch's order.
  func makeBatch(epoch: Int, index: Int, order: [Int]) throws -> Batch {
    let positions = self.positions(batch: index)
    let side = pipeline.side
    let imageSize = 3 * side * side
    var images = Tensor(uninitializedShape: [positions.count, 3, side, side])
    var labels: [Int] = []
    var paths: [String] = []
    var kept: [Int] = []
    try images.withUnsafeMutableBufferPointer { buffer in
      for position in positions {
        let sample = samples[order[position]]
        var generator = SeededGenerator(
          seed: seed ^ (UInt64(epoch) << 40) ^ UInt64(position) &* 0xD1B5_4A32_D192_ED03)
        do {
          let decoded = try ImageDecoder.decode(contentsOf: sample.url)
          pipeline.write(
            decoded, into: buffer.baseAddress! + labels.count * imageSize, using: &generator)
          labels.append(sample.label)
          paths.append(sample.url.path)
          kept.append(position)
        } catch let error as FileError {
          if stopOnBadFile { throw error }
          record(error)
        }
      }
    }
    if labels.count < positions.count {
      images = Tensor(
        shape: [labels.count, 3, side, side],
        scalars: Array(images.scalars.prefix(labels.count * imageSize)))
    }
    return Batch(images: images, labels: labels, paths: paths, positions: kept)
  }

  private func record(_ error: FileError) {
    let isNew: Bool = lock.withLock {
      guard bad[error.path] == nil else { return false }
      bad[error.path] = error.reason
      badOrder.append(error.path)
      return true
    }
    if isNew { onBadFile?(error.path, error.reason) }
  }
}

/// One epoch's batches in order; worker threads fill them ahead of `next()`.
public final class EpochBatches: Sequence, IteratorProtocol, @unchecked Sendable {
  let loader: BatchLoader
  let epoch: Int
  let order: [Int]
  let count: Int
  private let condition = NSCondition()
  private var ready: [Int: Result<Batch, Error>] = [:]
  private var nextToClaim = 0
  private var nextToReturn = 0
  private var cancelled = false
  private var running = 0

  init(loader: BatchLoader, epoch: Int) {
    self.loader = loader
    self.epoch = epoch
    order = loader.order(epoch: epoch)
    count = loader.batchCount
    running = Swift.min(loader.workers, Swift.max(count, 1))
    for _ in 0..<running {
      let thread = Thread { [self] in work() }
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  private func work() {
    while true {
      condition.lock()
      while !cancelled && nextToClaim < count && nextToClaim >= nextToReturn + loader.prefetch {
        condition.wait()
      }
      guard !cancelled, nextToClaim < count else {
        running -= 1
        condition.broadcast()
        condition.unlock()
        return
      }
      let index = nextToClaim
      nextToClaim += 1
      condition.unlock()
      let result = Result { try loader.makeBatch(epoch: epoch, index: index, order: order) }
      condition.lock()
      ready[index] = result
      condition.broadcast()
      condition.unlock()
    }
  }

  /// The next batch, or nil at the end of the epoch. A bad file under `stopOnBadFile` ends the
  /// epoch; `error` then holds it.
  public func next() -> Batch? {
    condition.lock()
    defer { condition.unlock() }
    guard nextToReturn < count, !cancelled else { return nil }
    while ready[nextToReturn] == nil { condition.wait() }
    let result = ready.removeValue(forKey: nextToReturn)!
    nextToReturn += 1
    condition.broadcast()
    switch result {
    case .success(let batch): return batch
    case .failure(let failure):
      error = failure
      cancelled = true
      return nil
    }
  }

  /// The error that ended the epoch early, if any.
  public private(set) var error: Error?

  /// Stops the workers (an epoch abandoned early).
  public func cancel() {
    condition.lock()
    cancelled = true
    condition.broadcast()
    condition.unlock()
  }

  deinit { cancel() }
}
