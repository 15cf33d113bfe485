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
  var batchPerProcess: Int
  var computeMilliseconds: Double
  var overlappedMilliseconds: Double
  var oneShotMilliseconds: Double
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

/// One rank under mpirun: the allreduce of AlexNet's gradient, then the gradient phase of a step
/// without communication, with buckets overlapping the backward, and with the one-shot allreduce.
func runDistributedRank(_ world: MPIWorld, batch: Int, repetitions: Int, result: String?) {
  let trainer = distributedTrainer()
  let floats = trainer.model.trainableParameterCount
  var buffer = [Float](repeating: 1, count: floats)
  func timed(_ body: () -> Void) -> Double {
    medianMilliseconds(repetitions: repetitions) {
      world.barrier()
      body()
    }
  }
  let allreduce = timed { buffer.withUnsafeMutableBufferPointer { world.allreduceSum($0) } }
  let (images, labels) = distributedBatch(batch)
  let overlapped = DataParallel(world: world)
  let oneShot = DataParallel(world: world, overlapsCommunication: false)
  // Fixed sample keys: every call draws the same dropout masks, so the two schemes' gradients
  // can be compared.
  let keys = (0..<batch).map { UInt64(world.rank * batch + $0) }
  func gradientPhase(_ dataParallel: DataParallel?) {
    trainer.dataParallel = dataParallel
    _ = trainer.computeGradients(images: images, labels: labels, sampleKeys: keys)
    trainer.reduceGradients(localSamples: batch)
  }
  let compute = timed { gradientPhase(nil) }
  let overlap = timed { gradientPhase(overlapped) }
  let oneShotTime = timed { gradientPhase(oneShot) }
  gradientPhase(overlapped)
  let first = trainer.model.namedParameters.map { $0.variable.grad! }
  gradientPhase(oneShot)
  let second = trainer.model.namedParameters.map { $0.variable.grad! }
  let difference =
    zip(first, second).map { a, b in
      a.maxAbsoluteDifference(to: b) / max(b.scalars.map(abs).max() ?? 0, .leastNormalMagnitude)
    }.max() ?? 0
  guard world.isRoot, let result else { return }
  let row = DistributedRow(
    processes: world.size, floats: floats, allreduceMilliseconds: allreduce,
    batchPerProcess: batch, computeMilliseconds: compute, overlappedMilliseconds: overlap,
    oneShotMilliseconds: oneShotTime, overlappedAgainstOneShot: difference)
  do {
    try AtomicFile.write(
      String(decoding: try JSONEncoder().encode(row), as: UTF8.self),
      to: URL(fileURLWithPath: result))
  } catch {
    FileHandle.standardError.write(Data("benchmarks: \(result): \(error)\n".utf8))
  }
}

/// The parent: one process with two threads, the two-rank run, then the tables.
func runDistributedBenchmarks(batch: Int, repetitions: Int, quick: Bool) -> Bool {
  print("\nDistributed (AlexNet, 227x227, \(batch) images per process; this machine is shared")
  print("with other work, so treat times as rough and ratios within the run as the figures)")
  let trainer = distributedTrainer()
  let (images, labels) = distributedBatch(2 * batch)
  let single = withComputeContext(ComputeContext(threadCount: 2)) {
    medianMilliseconds(repetitions: repetitions) {
      _ = trainer.computeGradients(images: images, labels: labels)
    }
  }
  let result = FileManager.default.temporaryDirectory
    .appendingPathComponent("alexnet-distributed-\(UUID().uuidString).json")
  defer { try? FileManager.default.removeItem(at: result) }
  guard let row = runTwoRanks(quick: quick, batch: batch, result: result) else { return false }
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
  let seconds = row.allreduceMilliseconds / 1e3
  let n = Double(row.processes)
  print(
    "\nMPI_Allreduce of AlexNet's gradient: \(row.floats) floats (\(format(bytes / 1e6)) MB), "
      + "\(row.processes) processes, TCP on one host: \(format(row.allreduceMilliseconds)) ms, "
      + "\(format(bytes / seconds / 1e9, 2)) GB/s of gradient, "
      + "\(format(2 * (n - 1) / n * bytes / seconds / 1e9, 2)) GB/s ring bus (2(N-1)/N of it)")
  let global = row.batchPerProcess * row.processes
  print("\nGradient phase of a step (forward, backward, average), medians in ms")
  printTable(
    ["run", "images", "compute ms", "step ms", "not overlapped ms", "images/s"],
    [
      [
        "1 process x 2 threads", "\(global)", format(singleMilliseconds),
        format(singleMilliseconds),
        "0", format(Double(global) / singleMilliseconds * 1e3),
      ],
      [
        "2 processes x 1 thread, overlapped buckets", "\(global)", format(row.computeMilliseconds),
        format(row.overlappedMilliseconds),
        format(max(0, row.overlappedMilliseconds - row.computeMilliseconds)),
        format(Double(global) / row.overlappedMilliseconds * 1e3),
      ],
      [
        "2 processes x 1 thread, one-shot allreduce", "\(global)", format(row.computeMilliseconds),
        format(row.oneShotMilliseconds),
        format(max(0, row.oneShotMilliseconds - row.computeMilliseconds)),
        format(Double(global) / row.oneShotMilliseconds * 1e3),
      ],
    ])
  print(
    "overlapped and one-shot gradients agree: max relative difference "
      + String(format: "%.1e", row.overlappedAgainstOneShot))
}

/// Scaling past this machine: a machine like this one (two cores) computes a step of `perMachine`
/// images in the measured time; the ring allreduce and Krizhevsky's 2014 scheme add their
/// transfers, none of them overlapped (a lower bound on efficiency).
func printProjection(
  _ model: any Layer, row: DistributedRow, singleMilliseconds: Double, batch: Int
) {
  let perMachine = 128
  let compute = singleMilliseconds / 1e3 / Double(batch) * Double(perMachine)
  let convolution = model.namedLayers.compactMap { $0.layer as? Conv2D }
    .reduce(0) { $0 + $1.parameterCount }
  let dense = model.trainableParameterCount - convolution
  let activations = 9216 + 4096 + 4096  // the inputs of fc6, fc7 and fc8, per image
  let bytes = 4.0 * Double(model.trainableParameterCount)
  print("\nProjected scaling efficiency, T_compute / (T_compute + T_communication)")
  print("  T_compute = \(format(compute, 2)) s for \(perMachine) images per machine (measured:")
  print("    \(format(singleMilliseconds)) ms for \(batch) images, 1 process x 2 threads)")
  print("  data parallel: T_comm = 2(N-1)/N * \(Int(bytes)) bytes / bandwidth (ring allreduce)")
  print(
    "  one weird trick (Krizhevsky 2014): convolutions by data, dense layers by model:\n"
      + "    T_comm = [2(N-1)/N * 4 * \(convolution) conv parameters"
      + " + 2 (N-1) * \(perMachine) images * 4 * \(activations) dense-layer inputs] / bandwidth\n"
      + "    (dense layers hold \(dense) parameters, "
      + "\(format(100 * Double(dense) / Double(dense + convolution)))%; their inputs are gathered"
      + " forward and their gradients scattered back)")
  var rows: [[String]] = []
  for machines in [2, 4, 8, 16, 32, 64] {
    let n = Double(machines)
    var cells = ["\(machines)"]
    for gigabits in [10.0, 25, 100] {
      let bandwidth = gigabits * 1e9 / 8
      let ring = 2 * (n - 1) / n * bytes / bandwidth
      let trick =
        (2 * (n - 1) / n * 4 * Double(convolution)
          + 2 * (n - 1) * Double(perMachine) * 4 * Double(activations)) / bandwidth
      cells.append(String(format: "%.0f%%", 100 * compute / (compute + ring)))
      cells.append(String(format: "%.0f%%", 100 * compute / (compute + trick)))
    }
    rows.append(cells)
  }
  printTable(
    ["machines", "10G data", "10G trick", "25G data", "25G trick", "100G data", "100G trick"],
    rows)
}
