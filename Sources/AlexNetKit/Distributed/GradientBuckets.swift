/// Gradient averaging that overlaps the backward, as PyTorch's DDP and Horovod do: parameters
/// are grouped into buckets of about `bucketFloats` in reverse declaration order (the order the
/// backward finishes them), and a bucket's MPI_Iallreduce starts as soon as the backward has
/// finished all of its gradients, while the layers below are still differentiated. `finish`
/// waits for the buckets before the update.
///
/// Buckets start strictly in order on every process, so the non-blocking collectives match even
/// when gradients become ready in another order, or on a rank with no images (which starts them
/// all in `finish`). The sums are the one-shot `averageGradients`'s: the same buckets, the same
/// weights (each process's gradient times its image count, the sum divided by the total).
/// Started buckets advance as `progress` says (a thread of their own by default).
final class GradientBuckets {
  let world: MPIWorld
  let bucketFloats: Int
  /// Polls the started buckets (`CommunicationProgress.thread`); nil: `gradientFinished` does.
  private let progressThread: ProgressThread?
  /// The parameters in bucket order, each one's offset in `storage`, and each bucket's range of
  /// parameters; planned once for a parameter list and reused while it stays the same.
  private var parameters: [Variable] = []
  private var offsets: [Int] = []
  private var buckets: [Range<Int>] = []
  private var bucketOf: [ObjectIdentifier: Int] = [:]
  /// One float per gradient element: a started bucket's floats stay untouched until `finish`.
  private var storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)
  private var unfinished: [Int] = []
  private var started = 0
  private var requests: [MPIWorld.Request] = []
  private var weight: Float = 0
  private(set) var isActive = false

  init(world: MPIWorld, bucketFloats: Int, progress: CommunicationProgress) {
    (self.world, self.bucketFloats) = (world, bucketFloats)
    if case .thread(let interval) = progress, world.size > 1, world.allowsProgressThread {
      progressThread = ProgressThread(world: world, interval: interval)
    } else {
      progressThread = nil
    }
  }

  deinit {
    progressThread?.stop()
    storage.deallocate()
  }

  /// Starts a step: no bucket is ready yet; `localSamples` weights this process's gradients.
  func begin(_ named: [(name: String, variable: Variable)], localSamples: Int) {
    plan(named.map(\.variable).reversed())
    unfinished = buckets.map(\.count)
    (started, weight, isActive) = (0, Float(localSamples), true)
  }

  /// The backward has finished `variable`'s gradient: starts every bucket, in order, whose
  /// gradients are all finished, and (without a progress thread) lets the started ones progress.
  func gradientFinished(_ variable: Variable) {
    guard isActive, let bucket = bucketOf[ObjectIdentifier(variable)] else { return }
    unfinished[bucket] -= 1
    while started < buckets.count, unfinished[started] == 0 { startBucket() }
    if progressThread == nil { world.progress(&requests) }
  }

  /// Starts the buckets not started yet (gradients the backward never reached count as zeros),
  /// waits for all, and writes the image-weighted mean into every parameter's gradient.
  func finish() {
    precondition(isActive, "GradientBuckets.finish without begin")
    while started < buckets.count { startBucket() }
    if let progressThread { progressThread.waitAll() } else { world.wait(&requests) }
    var counts = [Double(weight)]
    world.allreduceSum(&counts)
    let total = Float(counts[0])
    isActive = false
    guard total > 0 else { return }
    for (index, variable) in parameters.enumerated() {
      if variable.grad == nil { variable.grad = Tensor(zeros: variable.shape) }
      let offset = offsets[index]
      variable.grad!.withUnsafeMutableBufferPointer { g in
        for i in 0..<g.count { g[i] = storage[offset + i] / total }
      }
    }
  }

  /// Packs bucket `started`'s gradients, times the weight, and starts its allreduce.
  private func startBucket() {
    let range = buckets[started]
    for index in range {
      let offset = offsets[index]
      if let grad = parameters[index].grad, weight > 0 {
        grad.withUnsafeBufferPointer { g in
          for i in 0..<g.count { storage[offset + i] = g[i] * weight }
        }
      } else {
        let count = parameters[index].value.count
        (storage.baseAddress! + offset).update(repeating: 0, count: count)
      }
    }
    let first = offsets[range.lowerBound]
    let end = offsets[range.upperBound - 1] + parameters[range.upperBound - 1].value.count
    let floats = UnsafeMutableBufferPointer(rebasing: storage[first..<end])
    let request = world.startAllreduceSum(floats)
    if let progressThread { progressThread.add(request) } else { requests.append(request) }
    started += 1
  }

  /// Buckets of consecutive parameters of at most `bucketFloats` (or one larger parameter),
  /// the rule of `DataParallel.averageGradients`.
  private func plan(_ ordered: [Variable]) {
    let identities = ordered.map(ObjectIdentifier.init)
    guard identities != parameters.map(ObjectIdentifier.init) else { return }
    parameters = ordered
    (offsets, buckets, bucketOf) = ([], [], [:])
    var (total, bucketStart, filled) = (0, 0, 0)
    for (index, variable) in ordered.enumerated() {
      let count = variable.value.count
      if filled + count > bucketFloats, index > bucketStart {
        buckets.append(bucketStart..<index)
        (bucketStart, filled) = (index, 0)
      }
      offsets.append(total)
      bucketOf[ObjectIdentifier(variable)] = buckets.count
      (total, filled) = (total + count, filled + count)
    }
    if bucketStart < ordered.count { buckets.append(bucketStart..<ordered.count) }
    storage.deallocate()
    storage = .allocate(capacity: total)
  }
}
