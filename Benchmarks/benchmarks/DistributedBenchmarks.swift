import AlexNetKit
import Foundation

// `--only distributed`: data-parallel AlexNet on this machine, then projected past it.
// Run plainly, the benchmark measures one process with two threads, then starts itself under
// `mpirun -np 2` (one thread each), which measures the allreduce and the step and writes its
// figures to a file; the parent prints the comparison and the projection.

/// What the two ranks measured (rank 0 writes it).
struct DistributedRow: Codable {
  var processes: Int
  var floats: Int
  var allreduceMilliseconds: Double
  /// The same gradient in 25 MB MPI_Iallreduce buckets, all started, then waited for.
  var bucketedMilliseconds: Double
  var batchPerProcess: Int
  var computeMilliseconds: Double
  /// Gradient phases, medians: buckets polled by a thread, polled after each parameter's
  /// gradient, and one blocking allreduce per bucket after the backward.
  var threadMilliseconds: Double
  var testallMilliseconds: Double
  var oneShotMilliseconds: Double
  /// Largest relative difference of either overlapped scheme's gradients from the one-shot's.
  var overlappedAgainstOneShot: Float
}

/// AlexNet (the paper's, 1000 classes) with SGD, for the steps timed here.
func distributedTrainer() -> Trainer {
  let model = ModelCatalog.make(.alexnet, classes: 1000, seed: 1)
  return Trainer(
    model: model, modelIdentifier: "alexnet", classNames: (0..<1000).map(String.init),
    optimizer: SGD(learningRate: 0.01), outputDirectory: nil)
}

func distributedBatch(_ size: Int) -> (images: Tensor, labels: [Int]) {
  var generator = SeededGenerator(seed: 5)
  let images = Tensor.randomUniform([size, 3, 227, 227], lower: -1, upper: 1, using: &generator)
  return (images, (0..<size).map { $0 * 37 % 1000 })
}

/// Medians of `bodies` timed in turn (a, b, c, a, b, c...) after one warm-up round, each start
/// aligned across the ranks by a barrier: on a shared machine the ratios of alternated
/// contenders are far steadier than those of separate runs.
func alternatedMedians(_ world: MPIWorld, repetitions: Int, _ bodies: [() -> Void]) -> [Double] {
  let clock = ContinuousClock()
  var samples = bodies.map { _ in [Double]() }
  for round in 0...max(1, repetitions) {
    for (index, body) in bodies.enumerated() {
      world.barrier()
      let elapsed = clock.measure(body)
      guard round > 0 else { continue }
      samples[index].append(
        Double(elapsed.components.seconds) * 1e3
          + Double(elapsed.components.attoseconds) * 1e-15)
    }
  }
  return samples.map { $0.sorted()[$0.count / 2] }
}

/// One rank under mpirun: the allreduce of AlexNet's gradient (blocking, and in non-blocking
/// buckets), then the gradient phase of a step without communication and with the three
/// averaging schemes, alternated.
func runDistributedRank(_ world: MPIWorld, batch: Int, repetitions: Int, result: String?) {
  let trainer = distributedTrainer()
  let floats = trainer.model.trainableParameterCount
  var buffer = [Float](repeating: 1, count: floats)
  let bucket = 25 << 18
  var requests: [MPIWorld.Request] = []
  let transfers = alternatedMedians(
    world, repetitions: repetitions,
    [
      { buffer.withUnsafeMutableBufferPointer { world.allreduceSum($0) } },
      {
        buffer.withUnsafeMutableBufferPointer { all in
          for start in stride(from: 0, to: floats, by: bucket) {
            let end = min(floats, start + bucket)
            requests.append(world.startAllreduceSum(.init(rebasing: all[start..<end])))
          }
          world.wait(&requests)
        }
      },
    ])
  let (images, labels) = distributedBatch(batch)
  let schemes = [
    DataParallel(world: world, progress: .default),
    DataParallel(world: world, progress: .afterEachGradient),
    DataParallel(world: world, overlapsCommunication: false),
  ]
  // Fixed sample keys: every call draws the same dropout masks, so the schemes' gradients can
  // be compared.
  let keys = (0..<batch).map { UInt64(world.rank * batch + $0) }
  func gradientPhase(_ dataParallel: DataParallel?) {
    trainer.dataParallel = dataParallel
    _ = trainer.computeGradients(images: images, labels: labels, sampleKeys: keys)
    trainer.reduceGradients(localSamples: batch)
  }
  let steps = alternatedMedians(
    world, repetitions: repetitions,
    [{ gradientPhase(nil) }] + schemes.map { scheme in { gradientPhase(scheme) } })
  let gradients = schemes.map { scheme in
    gradientPhase(scheme)
    return trainer.model.namedParameters.map { $0.variable.grad! }
  }
  let difference = gradients.dropLast().map { largestRelativeDifference($0, gradients.last!) }
    .max()!
  guard world.isRoot, let result else { return }
  let row = DistributedRow(
    processes: world.size, floats: floats, allreduceMilliseconds: transfers[0],
    bucketedMilliseconds: transfers[1], batchPerProcess: batch, computeMilliseconds: steps[0],
    threadMilliseconds: steps[1], testallMilliseconds: steps[2], oneShotMilliseconds: steps[3],
    overlappedAgainstOneShot: difference)
  do {
    try AtomicFile.write(
      String(decoding: try JSONEncoder().encode(row), as: UTF8.self),
      to: URL(fileURLWithPath: result))
  } catch {
    FileHandle.standardError.write(Data("benchmarks: \(result): \(error)\n".utf8))
  }
}

/// max |a − b| / max |b| over pairs of tensors.
func largestRelativeDifference(_ actual: [Tensor], _ expected: [Tensor]) -> Float {
  zip(actual, expected).map { a, b in
    a.maxAbsoluteDifference(to: b) / max(b.scalars.map(abs).max() ?? 0, .leastNormalMagnitude)
  }.max() ?? 0
}

/// The parent: one process with two threads, timed before and after the two-rank run (so it
/// sees the machine's load on both sides of it), then the tables.
func runDistributedBenchmarks(batch: Int, repetitions: Int, quick: Bool) -> Bool {
  print("\nDistributed (AlexNet, 227x227, \(batch) images per process; this machine is shared")
  print("with other work, so treat times as rough and ratios within the run as the figures)")
  let trainer = distributedTrainer()
  let (images, labels) = distributedBatch(2 * batch)
  var samples: [Double] = []
  func timeSingle(warmUp: Bool) {
    withComputeContext(ComputeContext(threadCount: 2)) {
      if warmUp { _ = trainer.computeGradients(images: images, labels: labels) }
      for _ in 0..<max(1, (repetitions + 1) / 2) {
        samples.append(
          medianMilliseconds(repetitions: 1, warmUp: false) {
            _ = trainer.computeGradients(images: images, labels: labels)
          })
      }
    }
  }
  timeSingle(warmUp: true)
  let result = FileManager.default.temporaryDirectory
    .appendingPathComponent("alexnet-distributed-\(UUID().uuidString).json")
  defer { try? FileManager.default.removeItem(at: result) }
  guard let row = runTwoRanks(quick: quick, batch: batch, result: result) else { return false }
  timeSingle(warmUp: false)
  let single = samples.sorted()[samples.count / 2]
  printDistributedRow(row, singleMilliseconds: single)
  printProjection(trainer.model, row: row, singleMilliseconds: single, batch: 2 * batch)
  return true
}

/// Starts this benchmark under `mpirun -np 2` and reads rank 0's figures.
func runTwoRanks(quick: Bool, batch: Int, result: URL) -> DistributedRow? {
  guard
    let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: {
      FileManager.default.isExecutableFile(atPath: $0)
    })
  else {
    FileHandle.standardError.write(Data("benchmarks: mpirun not found (make deps)\n".utf8))
    return nil
  }
  let child = Process()
  child.executableURL = URL(fileURLWithPath: mpirun)
  child.arguments =
    ["-np", "2", "--oversubscribe", "--mca", "btl", "tcp,self", CommandLine.arguments[0]]
    + ["--only", "distributed", "--batch", "\(batch)", "--distributed-result", result.path]
    + (quick ? ["--quick"] : [])
  child.environment = ProcessInfo.processInfo.environment.merging([
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
  ]) { $1 }
  do {
    try child.run()
    child.waitUntilExit()
    let data = try Data(contentsOf: result)
    return try JSONDecoder().decode(DistributedRow.self, from: data)
  } catch {
    FileHandle.standardError.write(Data("benchmarks: mpirun -np 2: \(error)\n".utf8))
    return nil
  }
}

func printDistributedRow(_ row: DistributedRow, singleMilliseconds: Double) {
  let bytes = Double(row.floats) * 4
  let n = Double(row.processes)
  let algorithm = ProcessInfo.processInfo.environment["OMPI_MCA_coll_libnbc_iallreduce_algorithm"]
  print("\nAllreduce of AlexNet's gradient: \(row.floats) floats (\(format(bytes / 1e6)) MB),")
  print("\(row.processes) processes, TCP on one host; bus GB/s = 2(N-1)/N * bytes / time")
  printTable(
    ["", "ms", "GB/s of gradient", "bus GB/s"],
    [
      ("MPI_Allreduce, one buffer", row.allreduceMilliseconds),
      (
        "MPI_Iallreduce, 25 MB buckets (libnbc algorithm \(algorithm ?? "1, ring"))",
        row.bucketedMilliseconds
      ),
    ].map { name, ms in
      [
        name, format(ms), format(bytes / ms / 1e6, 2),
        format(2 * (n - 1) / n * bytes / ms / 1e6, 2),
      ]
    })
  let global = row.batchPerProcess * row.processes
  print("\nGradient phase of a step (forward, backward, average), medians in ms, alternated;")
  print("not overlapped = step - compute (the same ranks' step without communication)")
  let twoProcesses: [(String, Double)] = [
    ("overlapped buckets, progress thread", row.threadMilliseconds),
    ("overlapped buckets, MPI_Testall per gradient", row.testallMilliseconds),
    ("one-shot allreduce after the backward", row.oneShotMilliseconds),
  ]
  printTable(
    ["run", "images", "compute ms", "step ms", "not overlapped ms", "images/s"],
    [
      [
        "1 process x 2 threads", "\(global)", format(singleMilliseconds),
        format(singleMilliseconds), "0", format(Double(global) / singleMilliseconds * 1e3, 2),
      ]
    ]
      + twoProcesses.map { name, step in
        [
          "2 processes x 1 thread, \(name)", "\(global)", format(row.computeMilliseconds),
          format(step), format(max(0, step - row.computeMilliseconds)),
          format(Double(global) / step * 1e3, 2),
        ]
      })
  print(
    "step time against the one-shot allreduce: progress thread "
      + format(row.threadMilliseconds / row.oneShotMilliseconds, 3) + ", MPI_Testall per gradient "
      + format(row.testallMilliseconds / row.oneShotMilliseconds, 3))
  print(
    "overlapped and one-shot gradients agree: max relative difference "
      + String(format: "%.1e", row.overlappedAgainstOneShot))
}

/// Per-machine communication of a step (seconds) at `gigabits` Gb/s among `machines`: plain data
/// parallelism's ring allreduce of every gradient, and Krizhevsky's 2014 scheme, which
/// allreduces only the convolutions' gradients and moves the dense layers' inputs instead.
struct CommunicationModel {
  var parameters: Int
  var convolutionParameters: Int
  var imagesPerMachine: Int
  /// The inputs of the dense layers per image (9216 + 4096 + 4096 for AlexNet).
  var denseInputs: Int

  func dataParallel(machines: Int, gigabits: Double) -> Double {
    let n = Double(machines)
    return 2 * (n - 1) / n * 4 * Double(parameters) / (gigabits * 1e9 / 8)
  }

  /// The dense layers' inputs of all images are gathered forward and their gradients scattered
  /// back: each machine receives (N-1) * images * inputs floats each way.
  func oneWeirdTrick(machines: Int, gigabits: Double) -> Double {
    let n = Double(machines)
    let convolution = 2 * (n - 1) / n * 4 * Double(convolutionParameters)
    let activations = 2 * (n - 1) * Double(imagesPerMachine) * 4 * Double(denseInputs)
    return (convolution + activations) / (gigabits * 1e9 / 8)
  }
}

/// Scaling past this machine: a machine like this one (two cores) computes a step of `perMachine`
/// images in the measured time; the ring allreduce and Krizhevsky's 2014 scheme add their
/// transfers, none of them overlapped (a lower bound on efficiency).
func printProjection(
  _ model: any Layer, row: DistributedRow, singleMilliseconds: Double, batch: Int
) {
  let perMachine = 128
  let compute = singleMilliseconds / 1e3 / Double(batch) * Double(perMachine)
  let denseLayers = model.namedLayers.compactMap { $0.layer as? Dense }
  let denseInputs = denseLayers.reduce(0) { $0 + $1.inputs }
  let dense = denseLayers.reduce(0) { $0 + $1.parameterCount }
  let denseFLOPs = denseLayers.reduce(0) { $0 + $1.forwardFLOPs(inputShape: [1, $1.inputs]) }
  let costs = CommunicationModel(
    parameters: model.trainableParameterCount,
    convolutionParameters: model.trainableParameterCount - dense, imagesPerMachine: perMachine,
    denseInputs: denseInputs)
  print("\nProjected scaling efficiency, T_compute / (T_compute + T_comm), no overlap assumed")
  print("  T_compute = \(format(compute, 2)) s for \(perMachine) images per machine (measured:")
  print("    \(format(singleMilliseconds)) ms for \(batch) images, 1 process x 2 threads)")
  print(
    "  data parallel: T_comm = 2(N-1)/N * 4 * \(costs.parameters) parameters / bandwidth"
      + " (ring allreduce)")
  print(
    "  one weird trick (Krizhevsky 2014): convolutions by data, dense layers by model:\n"
      + "    T_comm = [2(N-1)/N * 4 * \(costs.convolutionParameters) conv parameters"
      + " + 2 (N-1) * \(perMachine) images * 4 * \(denseInputs) dense-layer inputs]"
      + " / bandwidth\n"
      + "    (dense layers: \(dense) parameters, "
      + "\(format(100 * Double(dense) / Double(costs.parameters)))%, and "
      + "\(format(100 * denseFLOPs / model.forwardFLOPs(inputShape: [1, 3, 227, 227])))% of the"
      + " forward arithmetic;\n"
      + "    their inputs are gathered forward, their gradients scattered back)")
  let speeds = [10.0, 25, 100]
  let header = ["machines"] + speeds.flatMap { ["\(Int($0))G data", "\(Int($0))G trick"] }
  func table(_ cell: (Double) -> String) -> [[String]] {
    [2, 4, 8, 16, 32, 64].map { machines in
      ["\(machines)"]
        + speeds.flatMap { gigabits in
          [
            cell(costs.dataParallel(machines: machines, gigabits: gigabits)),
            cell(costs.oneWeirdTrick(machines: machines, gigabits: gigabits)),
          ]
        }
    }
  }
  printTable(header, table { String(format: "%.0f%%", 100 * compute / (compute + $0)) })
  print("\nT_comm in seconds: for a machine that computes its step in T seconds (faster cores,")
  print("a GPU), the efficiency is T / (T + T_comm)")
  printTable(header, table { String(format: "%.3f", $0) })
}
