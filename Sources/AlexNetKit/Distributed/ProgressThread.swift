import Foundation

/// How the gradient buckets' non-blocking allreduces advance while the backward runs. Open MPI
/// 4.1 has no asynchronous progress for them (`ompi_info`: "OMPI progress: no"): a started
/// MPI_Iallreduce moves only while some thread is inside an MPI call, so left alone it waits
/// for the final MPI_Waitall and overlaps nothing.
public enum CommunicationProgress: Sendable, Equatable {
  /// MPI_Testall each time the backward finishes a parameter's gradient: no thread, but only a
  /// few calls during the long convolution backwards, when most of the gradient is in flight.
  case afterEachGradient
  /// A thread that calls MPI_Testall every `interval` seconds while buckets are in flight and
  /// sleeps otherwise (needs MPI_THREAD_SERIALIZED; `MPIWorld` serialises the calls).
  case thread(interval: Double)

  /// The thread, polling every millisecond: the socket buffers (4 MB here) refill faster than
  /// that, and a wake-up a millisecond costs the backward well under 1%.
  public static let `default` = CommunicationProgress.thread(interval: 1e-3)
}

/// Drives started requests to completion from a thread of its own (`CommunicationProgress
/// .thread`): `add` hands over a request, `waitAll` finishes them all on the caller's thread.
/// The thread polls only while requests are outstanding.
final class ProgressThread: @unchecked Sendable {
  private let world: MPIWorld
  private let interval: Double
  /// Guards `requests` and `stopping`; the thread sleeps on it between polls.
  private let condition = NSCondition()
  private var requests: [MPIWorld.Request] = []
  private var stopping = false

  init(world: MPIWorld, interval: Double) {
    precondition(interval > 0, "a progress interval is positive, got \(interval)")
    (self.world, self.interval) = (world, interval)
    requests.reserveCapacity(64)
    let thread = Thread { [self] in run() }
    thread.name = "MPI progress"
    thread.start()
  }

  /// Ends the thread (it holds this object until then).
  func stop() {
    condition.withLock {
      stopping = true
      condition.signal()
    }
  }

  func add(_ request: MPIWorld.Request) {
    condition.withLock {
      requests.append(request)
      condition.signal()
    }
  }

  /// The requests handed over that the thread has not yet seen finish.
  var inFlight: Int { condition.withLock { requests.count } }

  /// Waits for every request handed over; the thread does not poll meanwhile (MPI forbids two
  /// threads completing the same request).
  func waitAll() {
    condition.withLock { world.wait(&requests) }
  }

  private func run() {
    condition.lock()
    defer { condition.unlock() }
    while !stopping {
      if requests.isEmpty {
        condition.wait()
      } else if world.progress(&requests) {
        requests.removeAll(keepingCapacity: true)
      } else {
        _ = condition.wait(until: Date(timeIntervalSinceNow: interval))
      }
    }
  }
}
