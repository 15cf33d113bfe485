import Foundation

/// How a sliding window (convolution or pooling) treats the border.
public enum Padding: Equatable, Hashable, Sendable, CustomStringConvertible {
  /// No padding: windows lie inside the input (Keras's `valid`).
  case valid
  /// Output extent ⌈input / stride⌉, padding split evenly with the odd cell at the end
  /// (Keras's and TensorFlow's `same`).
  case same
  /// The same number of cells on every side (PyTorch's and Caffe's `padding`).
  case explicit(Int)

  public var description: String {
    switch self {
    case .valid: return "valid"
    case .same: return "same"
    case .explicit(let p): return "p\(p)"
    }
  }

  /// Output extent and the padding before the first cell, for an input extent, window and stride.
  /// Throws when no window fits.
  public func resolve(input: Int, window: Int, stride: Int) throws(ShapeError) -> (
    output: Int, before: Int
  ) {
    guard input > 0, window > 0, stride > 0 else {
      throw ShapeError("input \(input), window \(window) and stride \(stride) must be positive")
    }
    switch self {
    case .valid:
      guard window <= input else {
        throw ShapeError(
          "a \(window)-wide window does not fit an input \(input) wide without padding")
      }
      return ((input - window) / stride + 1, 0)
    case .same:
      let output = (input + stride - 1) / stride
      let total = Swift.max((output - 1) * stride + window - input, 0)
      return (output, total / 2)
    case .explicit(let padding):
      guard padding >= 0 else { throw ShapeError("padding must not be negative, got \(padding)") }
      guard window <= input + 2 * padding else {
        throw ShapeError(
          "a \(window)-wide window does not fit an input \(input) wide padded by \(padding) on each side"
        )
      }
      return ((input + 2 * padding - window) / stride + 1, padding)
    }
  }
}

/// A shape that does not fit an operation: the message names the shapes involved.
public struct ShapeError: Error, Equatable, CustomStringConvertible, Sendable {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

extension ShapeError: LocalizedError {
  public var errorDescription: String? { message }
}
