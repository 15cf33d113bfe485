import Foundation
import Testing

@testable import AlexNetKit

/// The progress thread finishes a started allreduce by itself: Open MPI moves a non-blocking
/// collective only inside MPI calls, and here the test's own thread makes none while it waits.
/// The test starts itself under `mpirun -np 2` (this test binary, this test alone); each rank
/// runs the check below.
@Suite struct ProgressThreadTests {
  static let name = "progressThreadFinishesAnAllreduceAlone"

  @Test func progressThreadFinishesAnAllreduceAlone() throws {
    guard let world = MPIWorld.launched() else { return try Self.launchTwoRanks() }
    defer { world.finalize() }
    #expect(world.allowsProgressThread)
    // 16 MB: far more than one poll moves (the TCP transport's rendezvous takes round trips).
    var buffer = [Float](repeating: Float(world.rank + 1), count: 4 << 20)
    let progress = ProgressThread(world: world, interval: 1e-3)
    defer { progress.stop() }
    buffer.withUnsafeMutableBufferPointer { progress.add(world.startAllreduceSum($0)) }
    let deadline = Date(timeIntervalSinceNow: 60)
    while progress.inFlight > 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    #expect(progress.inFlight == 0, "the allreduce did not finish without the test's MPI calls")
    progress.waitAll()
    #expect(buffer.allSatisfy { $0 == 3 }, "1 + 2 on every element")
  }

  /// Runs this test under `mpirun -np 2` and expects both ranks to pass.
  static func launchTwoRanks() throws {
    let launcher = try #require(
      ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
        FileManager.default.isExecutableFile(atPath: $0)
      }, "mpirun not found: make deps installs openmpi-bin")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher)
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    process.arguments = [
      "-np", "2", "--oversubscribe", "--mca", "btl", "tcp,self", binary,
      "--testing-library", "swift-testing", "--filter", "ProgressThreadTests/\(name)",
    ]
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    process.environment = environment
    let output = Pipe()
    (process.standardOutput, process.standardError) = (output, output)
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(text)")
    // Both ranks ran the check (an empty filter would pass with nothing run).
    #expect(text.components(separatedBy: "\(name)() passed").count == 3, "\(text)")
  }
}
