/// The shape of a max pooling over NCHW input: a `window`×`window` window moved by `stride`
/// (AlexNet's overlapping 3/2, or the usual 2/2). Padding cells never win the maximum.
public struct PoolGeometry: Equatable, Hashable, Sendable, CustomStringConvertible {
  public let batch, channels, height, width: Int
  public let window, stride: Int
  public let padding: Padding
  public let padTop, padLeft, outHeight, outWidth: Int

  public init(
    batch: Int, channels: Int, height: Int, width: Int, window: Int, stride: Int, padding: Padding = .valid
  ) throws(ShapeError) {
    let input = "input [\(batch), \(channels), \(height), \(width)]"
    guard batch > 0, channels > 0 else { throw ShapeError("pooling of \(input): extents must be positive") }
    if case .explicit(let p) = padding, p * 2 > window {
      throw ShapeError("pooling \(window)x\(window) of \(input): padding \(p) exceeds half the window")
    }
    let rows: (output: Int, before: Int), columns: (output: Int, before: Int)
    do {
      rows = try padding.resolve(input: height, window: window, stride: stride)
      columns = try padding.resolve(input: width, window: window, stride: stride)
    } catch {
      throw ShapeError("pooling \(window)x\(window) stride \(stride) \(padding) of \(input): \(error.message)")
    }
    (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
    (self.window, self.stride, self.padding) = (window, stride, padding)
    (outHeight, padTop, outWidth, padLeft) = (rows.output, rows.before, columns.output, columns.before)
  }

  public var inputShape: [Int] { [batch, channels, height, width] }
  public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

  public var description: String {
    "\(batch)x\(channels)x\(height)x\(width) max \(window)/\(stride) \(padding)"
  }

  func checkInput(_ input: Tensor) {
    precondition(input.shape == inputShape, "pooling \(self): input \(input.shape), expected \(inputShape)")
  }

  func checkOutputGradient(_ gradient: Tensor) {
    precondition(gradient.shape == outputShape,
                 "pooling \(self): output gradient \(gradient.shape), expected \(outputShape)")
  }
}

// MARK: - Naive reference

/// Reference max pooling: every window scanned in row-major order; the first maximum wins ties.
public func maxPool2dForwardNaive(_ g: PoolGeometry, input: Tensor) -> Tensor {
  g.checkInput(input)
  let x = input.scalars
  var y = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
  for plane in 0..<(g.batch * g.channels) {
    for oy in 0..<g.outHeight {
      for ox in 0..<g.outWidth {
        y[(plane * g.outHeight + oy) * g.outWidth + ox] = naiveWindowMaximum(g, x, plane: plane, oy: oy, ox: ox).value
      }
    }
  }
  return Tensor(shape: g.outputShape, scalars: y)
}

/// Reference backward: each output gradient goes to its window's (first) maximum.
public func maxPool2dBackwardNaive(_ g: PoolGeometry, input: Tensor, outputGradient: Tensor) -> Tensor {
  g.checkInput(input)
  g.checkOutputGradient(outputGradient)
  let x = input.scalars, dy = outputGradient.scalars
  var dx = [Float](repeating: 0, count: x.count)
  for plane in 0..<(g.batch * g.channels) {
    for oy in 0..<g.outHeight {
      for ox in 0..<g.outWidth {
        let winner = naiveWindowMaximum(g, x, plane: plane, oy: oy, ox: ox).index
        dx[winner] += dy[(plane * g.outHeight + oy) * g.outWidth + ox]
      }
    }
  }
  return Tensor(shape: g.inputShape, scalars: dx)
}

func naiveWindowMaximum(_ g: PoolGeometry, _ x: [Float], plane: Int, oy: Int, ox: Int) -> (value: Float, index: Int) {
  var best = -Float.infinity, bestIndex = -1
  for ky in 0..<g.window {
    for kx in 0..<g.window {
      let iy = oy * g.stride - g.padTop + ky, ix = ox * g.stride - g.padLeft + kx
      guard 0 <= iy, iy < g.height, 0 <= ix, ix < g.width else { continue }
      let index = (plane * g.height + iy) * g.width + ix
      if bestIndex < 0 || x[index] > best { (best, bestIndex) = (x[index], index) }
    }
  }
  return (best, bestIndex)
}

// MARK: - Fast version

/// Fast max pooling, parallel over planes, with the window clipped to the image once per row
/// instead of tested per cell, and a branch-free scan (a data-dependent branch per cell
/// mispredicts about half the time on real activations). Overwrites `output`, and `argmax`, when
/// given, with each maximum's index within its plane (the backward pass routes gradients through
/// it, as Darknet's `indexes`); inference passes nil and skips it.
public func maxPool2dForward(
  _ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
  argmax: UnsafeMutablePointer<Int32>?
) {
  let inPlane = g.height * g.width, outPlane = g.outHeight * g.outWidth
  Parallel.forEachChunk(g.batch * g.channels, minimumChunk: 8) { planes in
    for plane in planes {
      let x = input + plane * inPlane, y = output + plane * outPlane
      let indices = argmax.map { $0 + plane * outPlane }
      for oy in 0..<g.outHeight {
        let y0 = Swift.max(oy * g.stride - g.padTop, 0), y1 = Swift.min(oy * g.stride - g.padTop + g.window, g.height)
        for ox in 0..<g.outWidth {
          let x0 = Swift.max(ox * g.stride - g.padLeft, 0)
          let x1 = Swift.min(ox * g.stride - g.padLeft + g.window, g.width)
          var bestIndex = y0 * g.width + x0, best = x[bestIndex]
          for iy in y0..<y1 {
            for ix in x0..<x1 {
              let index = iy * g.width + ix, value = x[index]
              // Strictly greater: the first maximum wins, as in the reference.
              let better = value > best
              best = better ? value : best
              bestIndex = better ? index : bestIndex
            }
          }
          y[oy * g.outWidth + ox] = best
          indices?[oy * g.outWidth + ox] = Int32(bestIndex)
        }
      }
    }
  }
}

/// Fast backward: zeroes `inputGradient`, then adds each output gradient at its argmax.
public func maxPool2dBackward(
  _ g: PoolGeometry, outputGradient: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
  inputGradient: UnsafeMutablePointer<Float>
) {
  let inPlane = g.height * g.width, outPlane = g.outHeight * g.outWidth
  Parallel.forEachChunk(g.batch * g.channels, minimumChunk: 8) { planes in
    for plane in planes {
      let dx = inputGradient + plane * inPlane, dy = outputGradient + plane * outPlane
      let indices = argmax + plane * outPlane
      dx.update(repeating: 0, count: inPlane)
      for i in 0..<outPlane { dx[Int(indices[i])] += dy[i] }
    }
  }
}

/// Max pooling of a tensor: the output and the argmax its backward needs.
public func maxPool2dForward(_ g: PoolGeometry, input: Tensor) -> (output: Tensor, argmax: [Int32]) {
  g.checkInput(input)
  var output = Tensor(uninitializedShape: g.outputShape)
  var argmax = [Int32](repeating: 0, count: output.count)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      argmax.withUnsafeMutableBufferPointer { a in
        maxPool2dForward(g, input: x.baseAddress!, output: y.baseAddress!, argmax: a.baseAddress!)
      }
    }
  }
  return (output, argmax)
}

/// Max pooling of a tensor without the argmax, for inference.
public func maxPool2dInference(_ g: PoolGeometry, input: Tensor) -> Tensor {
  g.checkInput(input)
  var output = Tensor(uninitializedShape: g.outputShape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      maxPool2dForward(g, input: x.baseAddress!, output: y.baseAddress!, argmax: nil)
    }
  }
  return output
}

/// The input gradient of a max pooling, from the argmax of its forward pass.
public func maxPool2dBackward(_ g: PoolGeometry, outputGradient: Tensor, argmax: [Int32]) -> Tensor {
  g.checkOutputGradient(outputGradient)
  precondition(argmax.count == outputGradient.count, "pooling \(g): \(argmax.count) argmax entries")
  var dx = Tensor(uninitializedShape: g.inputShape)
  outputGradient.withUnsafeBufferPointer { dy in
    dx.withUnsafeMutableBufferPointer { dx in
      argmax.withUnsafeBufferPointer { a in
        maxPool2dBackward(g, outputGradient: dy.baseAddress!, argmax: a.baseAddress!, inputGradient: dx.baseAddress!)
      }
    }
  }
  return dx
}
