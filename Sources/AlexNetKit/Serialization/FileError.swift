import Foundation

/// A file or folder that could not be read, written or used (an image, a safetensors file, a run
/// directory): its path and what was expected or went wrong, printed as one line "path: reason".
public struct FileError: Error, CustomStringConvertible, LocalizedError, Sendable {
  /// The file or folder, or the name a reader was given for its bytes.
  public var path: String
  public var reason: String
  public init(_ path: String, _ reason: String) { (self.path, self.reason) = (path, reason) }
  public init(_ url: URL, _ reason: String) { self.init(url.path, reason) }
  public var description: String { "\(path): \(reason)" }
  public var errorDescription: String? { description }
}

extension FileError {
  /// The bytes of the regular file at `url`, at most `limit` of them; `expected` says what the
  /// file should be, for the message. Foundation reports a directory as "NSCocoaErrorDomain error
  /// 256" and a device or FIFO as a missing permission (even to root), and reads /dev/zero without
  /// end; the kind and size are checked first so the one line says what the path really is.
  /// The bytes are read with read(2), not `Data(contentsOf:)`, which on this toolchain leaks its
  /// 4 KB buffer for every empty file (AddressSanitizer shows it, once per empty image per epoch).
  public static func readRegularFile(
    _ url: URL, expected: String, limit: Int = Int.max
  ) throws -> Data {
    let descriptor = open(url.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else { throw unreadable(url, expected: expected) }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw unreadable(url, expected: expected) }
    let kind = info.st_mode & S_IFMT
    guard kind == S_IFREG else {
      throw FileError(url, "is \(kindName(kind)), expected \(expected)")
    }
    guard Int(info.st_size) <= limit else {
      throw FileError(
        url, "is \(info.st_size) bytes, more than the \(limit) accepted for \(expected)")
    }
    var bytes = Data(count: Int(info.st_size))
    var count = 0
    while count < bytes.count {
      let got = bytes.withUnsafeMutableBytes { raw in
        read(descriptor, raw.baseAddress! + count, raw.count - count)
      }
      if got < 0 && errno == EINTR { continue }
      guard got >= 0 else { throw unreadable(url, expected: expected) }
      // A file that shrank while it was read ends here; its bytes are checked by the caller.
      if got == 0 { break }
      count += got
    }
    return bytes.prefix(count)
  }

  static func unreadable(_ url: URL, expected: String) -> FileError {
    FileError(url, "cannot be read: \(String(cString: strerror(errno))) (expected \(expected))")
  }

  static func kindName(_ kind: mode_t) -> String {
    switch kind {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO"
    case S_IFCHR, S_IFBLK: return "a device"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
  }
}
