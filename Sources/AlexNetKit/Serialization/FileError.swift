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
