import Foundation
import SwiftProtobuf

#if canImport(Glibc)
  import Glibc
#endif

/// A TensorBoard event file, `events.out.tfevents.<seconds>.<host>`, written as TensorFlow's
/// `EventFileWriter` and PyTorch's `SummaryWriter` write it: a first event with file_version
/// "brain.Event:2", then one event per call, each framed as a TFRecord and handed to the kernel
/// with one `write` before the call returns. A run killed at any moment leaves a file whose
/// complete records all read back (at most the last one is cut short, which readers skip).
public final class EventFileWriter {
  public let url: URL
  private var descriptor: Int32

  /// Creates `directory` if needed and a new event file in it (never an existing one: a second
  /// writer in the same second gets its process id appended).
  public init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw FileError(directory, "cannot create the TensorBoard log directory")
    }
    let name = "events.out.tfevents.\(Int(wallTime)).\(ProcessInfo.processInfo.hostName)"
    var candidate = directory.appendingPathComponent(name)
    var opened = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
    if opened < 0 && errno == EEXIST {
      candidate = directory.appendingPathComponent(name + ".\(getpid())")
      opened = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
    }
    guard opened >= 0 else {
      throw FileError(candidate, "cannot create an event file: \(String(cString: strerror(errno)))")
    }
    (url, descriptor) = (candidate, opened)
    var first = Tensorboard_Event()
    first.wallTime = wallTime
    first.fileVersion = "brain.Event:2"
    first.sourceMetadata.writer = "alexnet-swift"
    try write(first)
  }

  deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

  /// One event with a scalar per tag at `step`: `simple_value` without metadata, as PyTorch's
  /// `add_scalar` writes it; TensorBoard's scalar dashboard migrates it on reading.
  public func addScalars(
    _ scalars: [(tag: String, value: Float)], step: Int,
    wallTime: Double = Date().timeIntervalSince1970
  ) throws {
    var event = Tensorboard_Event()
    event.wallTime = wallTime
    event.step = Int64(step)
    event.summary.value = scalars.map { tag, value in
      var entry = Tensorboard_Summary.Value()
      entry.tag = tag
      entry.simpleValue = value
      return entry
    }
    try write(event)
  }

  func write(_ event: Tensorboard_Event) throws {
    let bytes = TFRecord.framed(try event.serializedBytes())
    try AtomicFile.writeAll(bytes, to: descriptor, naming: url)
  }

  /// Flushes the file to disk and closes it; later writes are errors.
  public func close() throws {
    guard descriptor >= 0 else { return }
    let synced = fsync(descriptor) == 0
    Glibc.close(descriptor)
    descriptor = -1
    guard synced else { throw FileError(url, "fsync failed: \(String(cString: strerror(errno)))") }
  }
}

/// One scalar read back from an event file.
public struct TensorBoardScalar: Sendable, Equatable {
  public var step: Int
  public var tag: String
  public var value: Float
  public var wallTime: Double
}

/// Reads event files back: for tests, and for checking a log without TensorBoard.
public enum EventFileReader {
  /// The file's version string (from its first event, "brain.Event:2" for ours) and every
  /// `simple_value` scalar in order. Checksums are verified; a record cut short at the end is
  /// left out, as TensorBoard leaves it out.
  public static func scalars(in url: URL) throws -> (version: String, scalars: [TensorBoardScalar])
  {
    let bytes = [UInt8](try FileError.readRegularFile(url, expected: "a TensorBoard event file"))
    var version = ""
    var scalars: [TensorBoardScalar] = []
    for (index, record) in try TFRecord.records(in: bytes, source: url.path).records.enumerated() {
      let event: Tensorboard_Event
      do { event = try Tensorboard_Event(serializedBytes: record) } catch {
        throw FileError(url, "record \(index) is not a TensorBoard event")
      }
      if index == 0 { version = event.fileVersion }
      for value in event.summary.value {
        guard case .simpleValue(let number) = value.value else { continue }
        scalars.append(
          TensorBoardScalar(
            step: Int(event.step), tag: value.tag, value: number, wallTime: event.wallTime))
      }
    }
    return (version, scalars)
  }
}
