import CMPI
import Foundation

/// The processes of a job started by Open MPI's `mpirun`: this process's rank, their count, and
/// the collective operations data-parallel training needs. `MPIWorld.launched()` initialises MPI
/// only when `mpirun` started the process (it sets OMPI_COMM_WORLD_SIZE), so a plain
/// `alexnet train` never touches MPI and needs no launcher.
///
/// One world per process (MPI can be initialised once); calls come from one thread at a time.
public final class MPIWorld: @unchecked Sendable {
  public let rank: Int
  public let size: Int
  public var isRoot: Bool { rank == 0 }

  nonisolated(unsafe) private static var shared: MPIWorld?
  private static let lock = NSLock()

  private init(rank: Int, size: Int) { (self.rank, self.size) = (rank, size) }

  /// Whether `mpirun` (Open MPI's launcher) started this process.
  public static var isLaunchedByMPIRun: Bool {
    ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
  }

  /// The world of a process started by `mpirun` (initialised on first use), nil otherwise.
  public static func launched() -> MPIWorld? {
    guard isLaunchedByMPIRun else { return nil }
    return lock.withLock {
      if let shared { return shared }
      var provided: Int32 = 0
      // FUNNELED: only the training thread calls MPI; the loader's threads never do.
      MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
      var rank: Int32 = 0
      var size: Int32 = 0
      MPI_Comm_rank(cmpi_comm_world(), &rank)
      MPI_Comm_size(cmpi_comm_world(), &size)
      let world = MPIWorld(rank: Int(rank), size: Int(size))
      shared = world
      return world
    }
  }

  /// Sums `buffer` over the processes, in place.
  public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
    guard size > 1, !buffer.isEmpty else { return }
    MPI_Allreduce(
      cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), cmpi_float(), cmpi_sum(),
      cmpi_comm_world())
  }

  /// Sums `values` over the processes (counts and metrics, in double precision).
  public func allreduceSum(_ values: inout [Double]) {
    values.withUnsafeMutableBufferPointer { allreduceSum($0) }
  }

  /// Sums `buffer` over the processes, in place, in double precision (batch-norm statistics).
  public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
    guard size > 1, !buffer.isEmpty else { return }
    MPI_Allreduce(
      cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), cmpi_double(), cmpi_sum(),
      cmpi_comm_world())
  }

  /// Overwrites `buffer` on every process with rank 0's.
  public func broadcastFromRoot(_ buffer: UnsafeMutableBufferPointer<Float>) {
    guard size > 1, !buffer.isEmpty else { return }
    MPI_Bcast(buffer.baseAddress, Int32(buffer.count), cmpi_float(), 0, cmpi_comm_world())
  }

  /// Whether every process reports `ok` (a collective call: all must make it, so that one
  /// process's failure stops all of them at the same point instead of leaving them waiting).
  public func allSucceeded(_ ok: Bool) -> Bool {
    var failures = [ok ? 0.0 : 1.0]
    allreduceSum(&failures)
    return failures[0] == 0
  }

  /// Waits until every process arrives.
  public func barrier() {
    guard size > 1 else { return }
    MPI_Barrier(cmpi_comm_world())
  }

  /// Ends MPI for this process (after the last collective call).
  public func finalize() { MPI_Finalize() }

  /// Ends the whole job with `code` (a fatal error on one rank must not leave the others waiting
  /// in a collective call).
  public func abort(code: Int32) -> Never {
    MPI_Abort(cmpi_comm_world(), code)
    exit(code)
  }
}
