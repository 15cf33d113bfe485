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

  private init(rank: Int, size: Int, gradientCommunicator: MPI_Comm?) {
    (self.rank, self.size, self.gradientCommunicator) = (rank, size, gradientCommunicator)
  }

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
      var communicator: MPI_Comm?
      MPI_Comm_dup(cmpi_comm_world(), &communicator)
      let world = MPIWorld(rank: Int(rank), size: Int(size), gradientCommunicator: communicator)
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

  /// An allreduce started by `startAllreduceSum`, finished by `wait`.
  public struct Request {
    fileprivate var handle: MPI_Request?
  }

  /// Gradient buckets travel on a communicator of their own: their non-blocking allreduces are
  /// started while the backward makes blocking ones (synchronized batch norm) on the world's,
  /// and MPI orders collectives per communicator.
  /// (Duplicated at initialisation: MPI_Comm_dup is itself a collective call, which every rank
  /// must make at the same point.)
  private let gradientCommunicator: MPI_Comm?

  /// Starts summing `buffer` over the processes in place (MPI_Iallreduce on the gradient
  /// communicator); `buffer` must stay allocated and untouched until `wait`.
  public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> Request {
    var request = Request(handle: cmpi_request_null())
    guard size > 1, !buffer.isEmpty else { return request }
    MPI_Iallreduce(
      cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), cmpi_float(), cmpi_sum(),
      gradientCommunicator, &request.handle)
    return request
  }

  /// Lets MPI move the started requests on (Open MPI progresses non-blocking collectives only
  /// inside MPI calls); returns whether all have finished.
  @discardableResult
  public func progress(_ requests: inout [Request]) -> Bool {
    guard size > 1, !requests.isEmpty else { return true }
    var handles = requests.map(\.handle)
    var flag: Int32 = 0
    MPI_Testall(Int32(handles.count), &handles, &flag, cmpi_statuses_ignore())
    for i in requests.indices { requests[i].handle = handles[i] }
    return flag != 0
  }

  /// Waits until every request has finished.
  public func wait(_ requests: inout [Request]) {
    guard size > 1, !requests.isEmpty else { return }
    var handles = requests.map(\.handle)
    MPI_Waitall(Int32(handles.count), &handles, cmpi_statuses_ignore())
    requests.removeAll(keepingCapacity: true)
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
