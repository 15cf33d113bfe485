import Foundation
import Testing

/// `alexnet train` and its run directory, through the built binary: a used directory is refused,
/// --overwrite replaces the run, --resume takes the run's own settings and refuses others, a
/// refused command changes nothing, and a directory locked by another process is refused at once.
@Suite(.serialized) struct RunDirectoryCommandTests {
  static func train(_ data: URL, _ run: URL, _ extra: [String] = []) throws -> (
    status: Int32, output: String, error: String
  ) {
    try runAlexnet(
      [
        "train", "--data", data.path, "--validation-split", "0.2", "--batch-size", "4",
        "--image-size", "32", "--output", run.path,
      ] + extra)
  }

  /// Every file's name and bytes.
  static func snapshot(_ directory: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
      files[name] = try Data(contentsOf: directory.appendingPathComponent(name))
    }
    return files
  }

  /// Standard error without the OpenBLAS notice that some machines print first.
  static func errorLines(_ text: String) -> [Substring] {
    text.split(separator: "\n").filter { !$0.hasPrefix("note:") }
  }

  @Test func aUsedDirectoryIsRefusedUnlessResumedOrOverwritten() throws {
    let data = try CommandTests.dataFolder()
    let run = try CommandTests.scratch().appendingPathComponent("run")
    let first = try Self.train(data, run, ["--epochs", "2"])
    #expect(first.status == 0, "\(first.error)")
    let trained = try Self.snapshot(run)

    let again = try Self.train(data, run, ["--epochs", "1"])
    #expect(again.status != 0 && Self.errorLines(again.error).count == 1, "\(again.error)")
    #expect(again.error.contains("is not empty") && again.error.contains("--overwrite"))
    let sgd = try runAlexnet([
      "train", "--output", run.path, "--resume", "--epochs", "3", "--optimizer", "sgd",
    ])
    #expect(
      sgd.status != 0
        && Self.errorLines(sgd.error) == ["Error: this run was trained with --optimizer adam"],
      "\(sgd.error)")
    let size = try runAlexnet(["train", "--output", run.path, "--resume", "--image-size", "48"])
    #expect(size.status != 0 && size.error.contains("this run was trained with --image-size 32"))
    #expect(try Self.snapshot(run) == trained)

    // Only --output and --epochs: everything else comes from config.json.
    let resumed = try runAlexnet(["train", "--output", run.path, "--resume", "--epochs", "3"])
    #expect(resumed.status == 0, "\(resumed.error)")
    #expect(
      resumed.output.contains("Resuming from cp-0002.safetensors (epoch 2).")
        && resumed.output.contains("Epoch 3/3 - "))

    let replaced = try Self.train(
      data, run, ["--epochs", "1", "--overwrite", "--optimizer", "sgd"])
    #expect(replaced.status == 0, "\(replaced.error)")
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: run.path))
    #expect(
      names.contains("cp-0001.safetensors") && !names.contains("cp-0002.safetensors")
        && !names.contains("cp-0003.safetensors"))
    let record = try JSONSerialization.jsonObject(
      with: Data(contentsOf: run.appendingPathComponent("config.json")))
    #expect((record as? [String: Any])?["optimizer"] as? String == "sgd")
  }

  @Test func aDirectoryLockedByAnotherProcessIsRefusedAtOnce() throws {
    let data = try CommandTests.dataFolder()
    let run = try CommandTests.scratch()
    let lock = run.appendingPathComponent(".lock").path
    // The holder keeps the lock while `flag` exists.
    let flag = try CommandTests.scratch().appendingPathComponent("hold")
    try Data().write(to: flag)
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
    holder.arguments = [lock, "/bin/sh", "-c", "while [ -e '\(flag.path)' ]; do sleep 0.05; done"]
    try holder.run()
    defer {
      try? FileManager.default.removeItem(at: flag)
      holder.waitUntilExit()
    }
    // Wait until the holder has the lock: `flock -n` fails while it does.
    var held = false
    for _ in 0..<100 where !held {
      let probe = Process()
      probe.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
      probe.arguments = ["-n", lock, "true"]
      try probe.run()
      probe.waitUntilExit()
      held = probe.terminationStatus != 0
      if !held { Thread.sleep(forTimeInterval: 0.05) }
    }
    #expect(held)
    let started = Date()
    let refused = try Self.train(data, run, ["--epochs", "1", "--overwrite"])
    #expect(
      refused.status != 0 && refused.error.contains("another process is using this run directory"),
      "\(refused.error)")
    #expect(Date().timeIntervalSince(started) < 20)
    #expect(try FileManager.default.contentsOfDirectory(atPath: run.path) == [".lock"])
  }
}
