import AlexNetKit
import Foundation
import Testing

/// `mpirun -np 2 alexnet train` through the built binary (Open MPI, one host): rank 0 alone prints
/// and writes the run directory, the global batch is printed, and a resumed run continues.
@Suite(.serialized) struct DistributedCommandTests {
  /// Open MPI's launcher, which `make deps` installs (openmpi-bin).
  static let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  /// Runs `alexnet` under `mpirun -np processes`, as root too (containers, CI).
  static func runMPI(_ processes: Int, _ arguments: [String]) throws -> (
    status: Int32, output: String, error: String
  ) {
    let launcher = try #require(mpirun, "mpirun not found: make deps installs openmpi-bin")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher)
    process.arguments =
      ["-np", "\(processes)", "--oversubscribe", "--mca", "btl", "tcp,self", alexnetBinary().path]
      + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    process.environment = environment
    return try capture(process)
  }

  @Test func twoProcessesTrainOneRunAndResumeIt() throws {
    let data = try CommandTests.dataFolder(perClass: 6)
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let common = [
      "train", "--data", data.path, "--validation-split", "0.25", "--batch-size", "2",
      "--image-size", "32", "--output", run.path, "--threads", "1",
    ]
    let first = try Self.runMPI(2, common + ["--epochs", "1"])
    #expect(first.status == 0, "\(first.error)")
    #expect(
      first.output.contains("Data-parallel over 2 processes: global batch 4 (2 per process)."))
    // One rank prints: the epoch line appears once.
    #expect(first.output.components(separatedBy: "Epoch 1/1 - ").count == 2, "\(first.output)")
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: run.path))
    #expect(names.isSuperset(of: ["config.json", "cp-0001.safetensors", "metrics.json"]))

    // Another process count resumes the same run.
    let resumed = try Self.runMPI(3, ["train", "--output", run.path, "--resume", "--epochs", "2"])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("Resuming from cp-0001.safetensors (epoch 1)."))
    let second = run.appendingPathComponent("cp-0002.safetensors")
    #expect(FileManager.default.fileExists(atPath: second.path))
  }

  /// Issue 14's exactness: two processes of 8 images with --sync-batch-norm, and one process of
  /// 16, give the same weights after an epoch (the small model: batch norm and dropout, with
  /// augmentation), up to float reassociation. 24 images make a second, short step whose images
  /// all fall to rank 0: rank 1 takes part in its batch-norm and gradient reductions with none.
  @Test func twoProcessesWithSyncBatchNormEqualOneProcess() throws {
    let data = try CommandTests.dataFolder(perClass: 12)
    let scratch = try CommandTests.scratch()
    let (one, two) = (scratch.appendingPathComponent("one"), scratch.appendingPathComponent("two"))
    let common = [
      "train", "--data", data.path, "--validation-split", "0", "--image-size", "32",
      "--epochs", "1", "--threads", "1", "--quiet",
      // SGD: Adam divides by the root of tiny second moments, which magnifies float
      // reassociation far beyond 1e-5 in the first steps.
      "--optimizer", "sgd", "--lr", "0.01",
    ]
    let single = try runAlexnet(common + ["--batch-size", "16", "--output", one.path])
    #expect(single.status == 0, "\(single.error)")
    let split = try Self.runMPI(
      2, common + ["--batch-size", "8", "--sync-batch-norm", "--output", two.path])
    #expect(split.status == 0, "\(split.error)")
    let name = "cp-0001.safetensors"
    let expected = try Checkpoint(contentsOf: one.appendingPathComponent(name)).weights
    let actual = try Checkpoint(contentsOf: two.appendingPathComponent(name)).weights
    #expect(actual.map(\.name) == expected.map(\.name) && !expected.isEmpty)
    let worst = Self.largestRelativeDifference(actual, expected)
    #expect(
      worst.difference <= 1e-5, "max relative difference \(worst.difference) in \(worst.name)")
    // The comparison can fail: per-process batch-norm statistics (no --sync-batch-norm) differ.
    let unsynchronized = scratch.appendingPathComponent("three")
    let perProcess = try Self.runMPI(
      2, common + ["--batch-size", "8", "--output", unsynchronized.path])
    #expect(perProcess.status == 0, "\(perProcess.error)")
    let other = try Checkpoint(contentsOf: unsynchronized.appendingPathComponent(name)).weights
    #expect(Self.largestRelativeDifference(other, expected).difference > 1e-3)
  }

  /// Gradient buckets averaged while the backward runs give the weights of the one-shot
  /// allreduce after it (the same buckets and weights: sums of two floats agree exactly; the
  /// check allows 1e-6 for MPI's algorithms). Small buckets make several per step.
  @Test func overlappedBucketsEqualTheOneShotAllreduce() throws {
    let data = try CommandTests.dataFolder(perClass: 6)
    let scratch = try CommandTests.scratch()
    let common = [
      "train", "--data", data.path, "--validation-split", "0", "--image-size", "32",
      "--epochs", "1", "--threads", "1", "--quiet", "--batch-size", "3",
      "--bucket-megabytes", "1",  // the small model's 4 MB of gradients in 5 buckets
    ]
    var weights: [[(name: String, tensor: Tensor)]] = []
    for (index, extra) in [[], ["--one-shot-allreduce"]].enumerated() {
      let run = scratch.appendingPathComponent("run\(index)")
      let result = try Self.runMPI(2, common + extra + ["--output", run.path])
      #expect(result.status == 0, "\(result.error)")
      weights.append(
        try Checkpoint(contentsOf: run.appendingPathComponent("cp-0001.safetensors")).weights)
    }
    #expect(weights[0].map(\.name) == weights[1].map(\.name))
    let worst = Self.largestRelativeDifference(weights[0], weights[1])
    #expect(worst.difference <= 1e-6, "\(worst.difference) in \(worst.name)")
  }

  /// max |a − b| / max |b| of each pair of tensors, the largest with its tensor's name.
  static func largestRelativeDifference(
    _ actual: [(name: String, tensor: Tensor)], _ expected: [(name: String, tensor: Tensor)]
  ) -> (difference: Float, name: String) {
    var worst: (difference: Float, name: String) = (0, "")
    for ((name, a), (_, b)) in zip(actual, expected) {
      let scale = max(b.scalars.map(abs).max() ?? 0, Float.leastNormalMagnitude)
      let difference = a.maxAbsoluteDifference(to: b) / scale
      if difference > worst.difference { worst = (difference, name) }
    }
    return worst
  }

  /// A rank killed in mid-training ends the whole job within seconds, and the message names it;
  /// the checkpoint left behind is whole, and one process resumes the run from it.
  @Test func aLostRankEndsTheJobAndTheRunResumes() throws {
    let data = try CommandTests.dataFolder(perClass: 6)
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let launcher = try #require(Self.mpirun, "mpirun not found: make deps installs openmpi-bin")
    let job = Process()
    job.executableURL = URL(fileURLWithPath: launcher)
    job.arguments = [
      "-np", "2", "--oversubscribe", "--mca", "btl", "tcp,self", alexnetBinary().path, "train",
      "--data", data.path, "--validation-split", "0", "--batch-size", "2", "--image-size", "32",
      "--epochs", "1000", "--output", run.path, "--threads", "1", "--quiet",
    ]
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    job.environment = environment
    let killer = Thread {
      let checkpoint = run.appendingPathComponent("cp-0001.safetensors").path
      for _ in 0..<1200 where !FileManager.default.fileExists(atPath: checkpoint) {
        Thread.sleep(forTimeInterval: 0.1)
      }
      Thread.sleep(forTimeInterval: 0.3)  // into the next epoch
      if let rank1 = Self.processOfRank(1, binary: alexnetBinary().path) { kill(rank1, SIGKILL) }
    }
    killer.start()
    let started = Date()
    let ended = try capture(job, timeout: 150)
    #expect(ended.status != 0)
    #expect(
      ended.error.contains("process rank 1") && ended.error.contains("signal 9"), "\(ended.error)")
    #expect(Date().timeIntervalSince(started) < 140)

    let resumed = try runAlexnet(["train", "--output", run.path, "--resume", "--epochs", "1"])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(resumed.output.contains("Resuming from cp-"), "\(resumed.output)")
  }

  /// The process of `binary` that mpirun started as `rank` (from its environment).
  static func processOfRank(_ rank: Int, binary: String) -> pid_t? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
      guard let pid = pid_t(entry),
        let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
        String(decoding: command, as: UTF8.self).hasPrefix(binary),
        let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ")
      else { continue }
      let variables = String(decoding: environment, as: UTF8.self).split(separator: "\0")
      if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
    }
    return nil
  }
}

/// The built `alexnet` beside the test runner, in the products folder.
func alexnetBinary() -> URL {
  URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("alexnet")
}

/// Runs `process` to its end and returns its status and outputs; a process still running after
/// `timeout` seconds is terminated (a hung job fails the test instead of stalling the suite).
func capture(_ process: Process, timeout: Double = 180) throws -> (
  status: Int32, output: String, error: String
) {
  let output = Pipe()
  let error = Pipe()
  (process.standardOutput, process.standardError) = (output, error)
  try process.run()
  let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
  DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
  defer { watchdog.cancel() }
  // Standard error is read on another thread so that neither pipe fills while the other is read.
  nonisolated(unsafe) var err = Data()
  let done = NSCondition()
  nonisolated(unsafe) var finished = false
  let handle = error.fileHandleForReading
  Thread {
    let read = handle.readDataToEndOfFile()
    done.withLock {
      (err, finished) = (read, true)
      done.signal()
    }
  }.start()
  let out = output.fileHandleForReading.readDataToEndOfFile()
  done.withLock { while !finished { done.wait() } }
  process.waitUntilExit()
  return (
    process.terminationStatus, String(decoding: out, as: UTF8.self),
    String(decoding: err, as: UTF8.self)
  )
}
