import Foundation

/// A problem with the data on disk: names the file or folder and what was expected.
public struct DataError: Error, CustomStringConvertible, LocalizedError, Sendable {
  public var path: String
  public var reason: String
  public init(_ path: String, _ reason: String) { (self.path, self.reason) = (path, reason) }
  public var description: String { "\(path): \(reason)" }
  public var errorDescription: String? { description }
}
