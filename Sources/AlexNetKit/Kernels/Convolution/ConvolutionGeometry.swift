/// The shape of a 2-D convolution over NCHW input with square kernels and `groups` (Krizhevsky et
/// al. 2012, §3.2: the two-GPU split, where each half of the kernels sees half of the channels).
/// Weights are [outChannels, inChannels / groups, kernel, kernel], as in PyTorch and Caffe.
public struct ConvGeometry: Equatable, Hashable, Sendable, CustomStringConvertible {
  public let batch, inChannels, height, width: Int
  public let outChannels, kernel, stride, groups: Int
  public let padding: Padding
  /// Zero cells added before the first row and column (the rest follows from the output size).
  public let padTop, padLeft: Int
  public let outHeight, outWidth: Int

  /// Checks that the shapes fit together; the error names them when they do not.
  public init(
    batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
    kernel: Int, stride: Int = 1, padding: Padding = .valid, groups: Int = 1
  ) throws(ShapeError) {
    let input = "input [\(batch), \(inChannels), \(height), \(width)]"
    guard batch > 0, inChannels > 0, outChannels > 0 else {
      throw ShapeError(
        "convolution of \(input) to \(outChannels) channels: extents must be positive")
    }
    guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
      throw ShapeError(
        "convolution of \(input) to \(outChannels) channels: \(groups) groups must divide both channel counts"
      )
    }
    let rows: (output: Int, before: Int)
    let columns: (output: Int, before: Int)
    do {
      rows = try padding.resolve(input: height, window: kernel, stride: stride)
      columns = try padding.resolve(input: width, window: kernel, stride: stride)
    } catch {
      throw ShapeError(
        "convolution \(kernel)x\(kernel) stride \(stride) \(padding) of \(input): \(error.message)")
    }
    (self.batch, self.inChannels, self.height, self.width) = (batch, inChannels, height, width)
    (self.outChannels, self.kernel, self.stride, self.groups) = (
      outChannels, kernel, stride, groups
    )
    self.padding = padding
    (outHeight, padTop, outWidth, padLeft) = (
      rows.output, rows.before, columns.output, columns.before
    )
  }

  public var inputShape: [Int] { [batch, inChannels, height, width] }
  public var weightShape: [Int] { [outChannels, inChannels / groups, kernel, kernel] }
  public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
  /// Rows of one group's column matrix: inChannels / groups · kernel².
  public var columnRows: Int { inChannels / groups * kernel * kernel }
  /// Output positions per image.
  public var outputPlane: Int { outHeight * outWidth }
  /// Multiply-adds of the forward pass, counted as two floating-point operations each.
  public var forwardFLOPs: Double { 2 * Double(batch * outChannels * outputPlane * columnRows) }

  /// The same convolution over a different batch size.
  public func withBatch(_ newBatch: Int) -> ConvGeometry {
    try! ConvGeometry(
      batch: newBatch, inChannels: inChannels, height: height, width: width,
      outChannels: outChannels,
      kernel: kernel, stride: stride, padding: padding, groups: groups)
  }

  /// "2x4x9x10 * 6x2x3x3 s2 p1 g2": input, weights, stride, padding and groups.
  public var description: String {
    "\(batch)x\(inChannels)x\(height)x\(width) * \(outChannels)x\(inChannels / groups)x\(kernel)x\(kernel)"
      + " s\(stride) \(padding)\(groups > 1 ? " g\(groups)" : "")"
  }
}

extension ConvGeometry {
  func checkShapes(input: Tensor, weight: Tensor, bias: Tensor?) {
    precondition(
      input.shape == inputShape, "convolution \(self): input \(input.shape), expected \(inputShape)"
    )
    precondition(
      weight.shape == weightShape,
      "convolution \(self): weight \(weight.shape), expected \(weightShape)")
    if let bias {
      precondition(
        bias.shape == [outChannels],
        "convolution \(self): bias \(bias.shape), expected [\(outChannels)]")
    }
  }

}
