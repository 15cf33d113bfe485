import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Writes files so that a reader, or a run killed at any moment, sees either the old content or
/// the new, never a part: the bytes go to a temporary file in the same directory, which is
/// flushed to disk and then renamed over the target (rename is atomic within a file system), and
/// the directory is flushed so the rename itself survives a crash.
public enum AtomicFile {
  /// A test hook for the writes of one scope (`$beforeRename.withValue(hook) { ... }`): called
  /// after the temporary file is written, before the rename; a throw there simulates a crash
  /// between the two. Task-local, so a test's hook never reaches another test's writes.
  @TaskLocal static var beforeRename: (@Sendable (URL) throws -> Void)?

  /// Writes every byte to an open descriptor, retrying short writes and EINTR; errors name `url`.
  static func writeAll(_ bytes: [UInt8], to descriptor: Int32, naming url: URL) throws {
    try bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          throw FileError(url, "write failed: \(errnoText())")
        }
        offset += written
      }
    }
  }

  public static func write(_ bytes: [UInt8], to url: URL) throws {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(
      ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw FileError(url, "cannot create a file in \(directory.path): \(errnoText())")
    }
    do {
      try writeAll(bytes, to: descriptor, naming: url)
      guard fsync(descriptor) == 0 else { throw FileError(url, "fsync failed: \(errnoText())") }
      close(descriptor)
      try beforeRename?(temporary)
      guard rename(temporary.path, url.path) == 0 else {
        throw FileError(url, "rename failed: \(errnoText())")
      }
    } catch {
      close(descriptor)
      unlink(temporary.path)
      throw error
    }
    let directoryDescriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if directoryDescriptor >= 0 {
      fsync(directoryDescriptor)
      close(directoryDescriptor)
    }
  }

  public static func write(_ text: String, to url: URL) throws {
    try write(Array(text.utf8), to: url)
  }

  static func errnoText() -> String { String(cString: strerror(errno)) }
}
