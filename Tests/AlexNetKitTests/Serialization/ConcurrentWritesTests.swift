import Foundation
import Synchronization
import Testing

@testable import AlexNetKit

/// Checkpoints written from several threads at once, for ThreadSanitizer (`make test-sanitizers`)
/// as much as for the assertions: every read in between finds one whole file, never a mix or a
/// part, no temporary file is left behind, and of several openings of one run directory at once
/// exactly one holds it.
@Suite struct ConcurrentWritesTests {
  /// Writer `index`'s checkpoint: one tensor filled with its own value, sizes differing so that a
  /// torn file cannot pass for a whole one.
  static func checkpoint(_ index: Int) -> [(name: String, tensor: Tensor)] {
    [("w", Tensor(shape: [301 + 7 * index, 64], repeating: Float(index + 1)))]
  }

  /// What a reader found, if it is not exactly one writer's checkpoint.
  static func problem(reading url: URL, writers: Int) -> String? {
    do {
      let file = try SafetensorsFile(contentsOf: url)
      guard let index = Int(file.metadata["writer"] ?? ""), (0..<writers).contains(index) else {
        return "no writer in \(file.metadata)"
      }
      let bytes = try [UInt8](Data(contentsOf: url))
      let expected = Safetensors.encode(checkpoint(index), metadata: ["writer": "\(index)"])
      return bytes == expected ? nil : "writer \(index)'s file differs"
    } catch {
      return "\(error)"
    }
  }

  @Test func checkpointsWrittenAtOnceLeaveOneWholeFile() throws {
    let directory = try DataFixtures.scratchDirectory()
    let target = directory.appendingPathComponent("cp-0001.safetensors")
    let writers = 4
    let problems = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: writers) { index in
      for _ in 0..<4 {
        do {
          try Safetensors.write(
            Self.checkpoint(index), metadata: ["writer": "\(index)"], to: target)
        } catch {
          problems.withLock { $0.append("writer \(index): \(error)") }
        }
        if let problem = Self.problem(reading: target, writers: writers) {
          problems.withLock { $0.append(problem) }
        }
      }
    }
    #expect(problems.withLock { $0 } == [])
    #expect(Self.problem(reading: target, writers: writers) == nil)
    let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    #expect(left == ["cp-0001.safetensors"], "temporary files left: \(left)")
    try FileManager.default.removeItem(at: directory)
  }

  /// One thread's opening, kept alive (holding the lock) until every thread has tried.
  final class Opening: @unchecked Sendable {
    var run: RunDirectory?
    var refusal: String?
  }

  @Test func oneOfSeveralOpeningsAtOnceHoldsTheRunDirectory() throws {
    let directory = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    let openings = (0..<6).map { _ in Opening() }
    DispatchQueue.concurrentPerform(iterations: openings.count) { index in
      do {
        openings[index].run = try RunDirectory(directory, mode: .new)
      } catch {
        openings[index].refusal = "\(error)"
      }
    }
    let held = openings.compactMap(\.run)
    #expect(held.count == 1, "openings that got the directory: \(held.count)")
    let refused = openings.compactMap(\.refusal)
    #expect(refused.count == 5)
    #expect(refused.allSatisfy { $0.contains("another process") }, "\(refused)")
    for run in held { run.close() }
    // Released, it opens again.
    try RunDirectory(directory, mode: .new).close()
  }
}
