import CMPI
import Foundation

/// The processes of a job started by Open MPI's `mpirun`: this process's rank, their count, and
/// the collective operations data-parallel training needs. `MPIWorld.launched()` initialises MPI
/// only when `mpirun` started the process (it sets OMPI_COMM_WORLD_SIZE), so a plain
/// `alexnet train` never touches MPI and needs no launcher.
///
/// One world per process (MPI can be initialised once). The training thread and the gradient
/// buckets' progress thread both call MPI, one at a time: every call here holds `calls`
/// (MPI_THREAD_SERIALIZED).
public final class MPIWorld: @unchecked Sendable {
  public let rank: Int
  public let size: Int
  public var isRoot: Bool { rank == 0 }
  /// Whether MPI granted MPI_THREAD_SERIALIZED, which a progress thread needs.
  public let allowsProgressThread: Bool

  nonisolated(unsafe) private static var shared: MPIWorld?
  private static let lock = NSLock()
  /// Held during every MPI call, so that two threads never call MPI at once.
  private let calls = NSLock()

  private init(rank: Int, size: Int, gradientCommunicator: MPI_Comm?, serialized: Bool) {
    (self.rank, self.size, self.gradientCommunicator) = (rank, size, gradientCommunicator)
    allowsProgressThread = serialized
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
      chooseRingForNonBlockingAllreduce()
      var provided: Int32 = 0
      // SERIALIZED: the training thread and the buckets' progress thread take turns (`calls`);
      // the loader's threads never call MPI. Cheaper than MULTIPLE, which locks inside MPI.
      MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
      var rank: Int32 = 0
      var size: Int32 = 0
      MPI_Comm_rank(cmpi_comm_world(), &rank)
      MPI_Comm_size(cmpi_comm_world(), &size)
      var communicator: MPI_Comm?
      MPI_Comm_dup(cmpi_comm_world(), &communicator)
      let world = MPIWorld(
        rank: Int(rank), size: Int(size), gradientCommunicator: communicator,
        serialized: provided >= Int32(MPI_THREAD_SERIALIZED))
      shared = world
      return world
    }
  }

  /// Open MPI 4.1's MPI_Iallreduce (libnbc) takes a binomial tree, a reduce to rank 0 and then a
  /// broadcast, whenever there are fewer than 4 processes or the buffer is reduced in place (as
  /// the buckets are): the two directions run one after the other, about twice the time of the
  /// blocking MPI_Allreduce for two processes. The ring (1) sends 2(N-1)/N of the buffer both
  /// ways at once. A value the user set in the environment is kept.
  private static func chooseRingForNonBlockingAllreduce() {
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0)
  }

  /// Sums `buffer` over the processes, in place.
  public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
    guard size > 1, !buffer.isEmpty else { return }
    calls.withLock {
      _ = MPI_Allreduce(
        cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), cmpi_float(), cmpi_sum(),
        cmpi_comm_world())
    }
  }

  /// Sums `values` over the processes (counts and metrics, in double precision).
  public func allreduceSum(_ values: inout [Double]) {
    values.withUnsafeMutableBufferPointer { allreduceSum($0) }
  }

  /// Sums `buffer` over the processes, in place, in double precision (batch-norm statistics).
  public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
    guard size > 1, !buffer.isEmpty else { return }
    calls.withLock {
      _ = MPI_Allreduce(
        cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), cmpi_double(), cmpi_sum(),
        cmpi_comm_world())
    }
  }

  /// An allreduce started by `startAllreduceSum`, finished by `wait`.
  public struct Request {
    var handle: MPI_Request?
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
    calls.withLock {
      _ = MPI_Iallreduce(
        cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), cmpi_float(), cmpi_sum(),
        gradientCommunicator, &request.handle)
    }
    return request
  }

  /// Lets MPI move the started requests on (Open MPI progresses non-blocking collectives only
  /// inside MPI calls); returns whether all have finished. Finished ones become null requests.
  @discardableResult
  public func progress(_ requests: inout [Request]) -> Bool {
    guard size > 1, !requests.isEmpty else { return true }
    var flag: Int32 = 0
    // Request is a struct of one MPI_Request, laid out as one: MPI writes the handles in place,
    // so polling allocates nothing.
    requests.withUnsafeMutableBufferPointer { buffer in
      buffer.withMemoryRebound(to: MPI_Request?.self) { handles in
        calls.withLock {
          _ = MPI_Testall(
            Int32(handles.count), handles.baseAddress, &flag, cmpi_statuses_ignore())
        }
      }
    }
    return flag != 0
  }

  /// Waits until every request has finished, and empties `requests`.
  public func wait(_ requests: inout [Request]) {
    guard size > 1, !requests.isEmpty else { return }
    requests.withUnsafeMutableBufferPointer { buffer in
      buffer.withMemoryRebound(to: MPI_Request?.self) { handles in
        calls.withLock {
          _ = MPI_Waitall(Int32(handles.count), handles.baseAddress, cmpi_statuses_ignore())
        }
      }
    }
    requests.removeAll(keepingCapacity: true)
  }

  /// Overwrites `buffer` on every process with rank 0's.
  public func broadcastFromRoot(_ buffer: UnsafeMutableBufferPointer<Float>) {
    guard size > 1, !buffer.isEmpty else { return }
    calls.withLock {
      _ = MPI_Bcast(buffer.baseAddress, Int32(buffer.count), cmpi_float(), 0, cmpi_comm_world())
    }
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
    calls.withLock { _ = MPI_Barrier(cmpi_comm_world()) }
  }

  /// Ends MPI for this process (after the last collective call).
  public func finalize() { calls.withLock { _ = MPI_Finalize() } }

  /// Ends the whole job with `code` (a fatal error on one rank must not leave the others waiting
  /// in a collective call).
  public func abort(code: Int32) -> Never {
    calls.lock()  // never released: the job ends here
    MPI_Abort(cmpi_comm_world(), code)
    exit(code)
  }
}
