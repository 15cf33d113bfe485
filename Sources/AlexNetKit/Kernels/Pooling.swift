/// The shape of a max pooling over NCHW input: a `window`×`window` window moved by `stride`
/// (AlexNet's overlapping 3/2, or the usual 2/2). Padding cells never win the maximum.
public struct PoolGeometry: Equatable, Hashable, Sendable, CustomStringConvertible {
  public let batch, channels, height, width: Int
  public let window, stride: Int
  public let padding: Padding
  public let padTop, padLeft, outHeight, outWidth: Int

  public init(
    batch: Int, channels: Int, height: Int, width: Int, window: Int, stride: Int,
    padding: Padding = .valid
  ) throws(ShapeError) {
    let input = "input [\(batch), \(channels), \(height), \(width)]"
    guard batch > 0, channels > 0 else {
      throw ShapeError("pooling of \(input): extents must be positive")
    }
    if case .explicit(let p) = padding, p * 2 > window {
      throw ShapeError(
        "pooling \(window)x\(window) of \(input): padding \(p) exceeds half the window")
    }
    let rows: (output: Int, before: Int)
    let columns: (output: Int, before: Int)
    do {
      rows = try padding.resolve(input: height, window: window, stride: stride)
      columns = try padding.resolve(input: width, window: window, stride: stride)
    } catch {
      throw ShapeError(
        "pooling \(window)x\(window) stride \(stride) \(padding) of \(input): \(error.message)")
    }
    (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
    (self.window, self.stride, self.padding) = (window, stride, padding)
    (outHeight, padTop, outWidth, padLeft) = (
      rows.output, rows.before, columns.output, columns.before
    )
  }

  public var inputShape: [Int] { [batch, channels, height, width] }
  public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

  public var description: String {
    "\(batch)x\(channels)x\(height)x\(width) max \(window)/\(stride) \(padding)"
  }

  func checkInput(_ input: Tensor) {
    precondition(
      input.shape == inputShape, "pooling \(self): input \(input.shape), expected \(inputShape)")
  }

  func checkOutputGradient(_ gradient: Tensor) {
    precondition(
      gradient.shape == outputShape,
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
        y[(plane * g.outHeight + oy) * g.outWidth + ox] =
          naiveWindowMaximum(g, x, plane: plane, oy: oy, ox: ox).value
      }
    }
  }
  return Tensor(shape: g.outputShape, scalars: y)
}

/// Reference backward: each output gradient goes to its window's (first) maximum.
public func maxPool2dBackwardNaive(_ g: PoolGeometry, input: Tensor, outputGradient: Tensor)
  -> Tensor
{
  g.checkInput(input)
  g.checkOutputGradient(outputGradient)
  let x = input.scalars
  let dy = outputGradient.scalars
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

func naiveWindowMaximum(_ g: PoolGeometry, _ x: [Float], plane: Int, oy: Int, ox: Int) -> (
  value: Float, index: Int
) {
  var best = -Float.infinity
  var bestIndex = -1
  for ky in 0..<g.window {
    for kx in 0..<g.window {
      let iy = oy * g.stride - g.padTop + ky
      let ix = ox * g.stride - g.padLeft + kx
      guard 0 <= iy, iy < g.height, 0 <= ix, ix < g.width else { continue }
      let index = (plane * g.height + iy) * g.width + ix
      if bestIndex < 0 || x[index] > best { (best, bestIndex) = (x[index], index) }
    }
  }
  return (best, bestIndex)
}

// MARK: - Fast version

/// Fast max pooling, parallel over planes, branch-free and eight lanes wide, in two separable
/// steps per output row: the maximum down each input column of the row's window, then across each
/// output's columns. For the second step the column maxima are first dealt into `stride` phases
/// (column c + padLeft ≡ p mod stride goes to phase p at index (c + padLeft) / stride, with −∞ where
/// the window leaves the image), so that window column kx of eight adjacent outputs is eight
/// adjacent floats of phase kx % stride. Overwrites `output`, and `argmax`, when given, with each
/// maximum's index within its plane (the backward pass routes gradients through it, as Darknet's
/// `indexes`); inference passes nil and skips it.
///
/// Ties go to the first maximum in row-major window order, as in the reference (and PyTorch):
/// each column keeps its first row with the maximum, and across columns a tie goes to the smaller
/// row, then to the earlier column. Each chunk of planes works in its own part of `workspace`.
public func maxPool2dForward(
  _ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
  argmax: UnsafeMutablePointer<Int32>?, workspace: Workspace
) {
  let inPlane = g.height * g.width
  let outPlane = g.outHeight * g.outWidth
  let width = g.width
  let chunks = Parallel.chunkCount(g.batch * g.channels, minimumChunk: 8)
  workspace.prepareShards(chunks)
  Parallel.forEachIndexedChunk(g.batch * g.channels, minimumChunk: 8) { chunk, planes in
    let rows = PoolRowScratch(g, workspace: workspace.shard(chunk))
    for plane in planes {
      let x = input + plane * inPlane
      let y = output + plane * outPlane
      for oy in 0..<g.outHeight {
        let top = oy * g.stride - g.padTop
        let y0 = Swift.max(top, 0)
        let y1 = Swift.min(top + g.window, g.height)
        columnMaximaDown(
          x, rows: y0..<y1, width: width, maxima: rows.columnMaxima,
          rows: argmax == nil ? nil : rows.columnRows)
        rows.dealPhases(g, withRows: argmax != nil)
        rows.maximaAcross(g, withPositions: argmax != nil)
        (y + oy * g.outWidth).update(from: rows.rowMaxima, count: g.outWidth)
        if let argmax {
          let indices = argmax + plane * outPlane + oy * g.outWidth
          let (lastRow, lastColumn) = (Float(g.height - 1), Float(width - 1))
          for ox in 0..<g.outWidth {
            let row = Int32(Swift.min(rows.rowRows[ox], lastRow))
            let column = Int32(Swift.min(Swift.max(rows.rowColumns[ox], 0), lastColumn))
            indices[ox] = row * Int32(width) + column
          }
        }
      }
    }
  }
}

/// One output row's scratch in max pooling's two steps, carved from a chunk's workspace (slot 0):
/// the maxima down each input column (and their rows), the same dealt into `stride` phases, and
/// the row's output maxima (and their rows and columns), eight-lane padded.
struct PoolRowScratch {
  let columnMaxima, columnRows, phaseMaxima, phaseRows: UnsafeMutablePointer<Float>
  let rowMaxima, rowRows, rowColumns: UnsafeMutablePointer<Float>
  let phaseLength, paddedOutWidth: Int

  @inline(__always)
  init(_ g: PoolGeometry, workspace: Workspace) {
    paddedOutWidth = (g.outWidth + 7) / 8 * 8
    phaseLength = paddedOutWidth + (g.window - 1) / g.stride
    let phases = g.stride * phaseLength
    columnMaxima = workspace.floats(2 * g.width + 2 * phases + 3 * paddedOutWidth, slot: 0)
    columnRows = columnMaxima + g.width
    phaseMaxima = columnRows + g.width
    phaseRows = phaseMaxima + phases
    rowMaxima = phaseRows + phases
    rowRows = rowMaxima + paddedOutWidth
    rowColumns = rowRows + paddedOutWidth
  }

  /// Deals the column maxima (and rows) into the phases: index i of phase p holds column
  /// i·stride + p − padLeft, −∞ (and a row past every real one) where that leaves the image.
  @inline(__always)
  func dealPhases(_ g: PoolGeometry, withRows: Bool) {
    // A row past every real one: it loses every tie, and is clamped away if a window of NaNs
    // keeps it.
    let outsideRow = Float(g.height)
    for phase in 0..<g.stride {
      let offset = phase - g.padLeft
      let inside =
        Swift.min(
          phaseLength, Swift.max(0, (-offset + g.stride - 1) / g.stride))..<Swift.min(
          phaseLength, Swift.max(0, (g.width - offset + g.stride - 1) / g.stride))
      deal(
        columnMaxima, stride: g.stride, offset: offset, inside: inside, length: phaseLength,
        into: phaseMaxima + phase * phaseLength, outside: -.infinity)
      if withRows {
        deal(
          columnRows, stride: g.stride, offset: offset, inside: inside, length: phaseLength,
          into: phaseRows + phase * phaseLength, outside: outsideRow)
      }
    }
  }

  /// Step two: the maximum over each output's window columns, eight outputs at a time, into
  /// `rowMaxima`; with positions, also the first maximum's row and column.
  @inline(__always)
  func maximaAcross(_ g: PoolGeometry, withPositions: Bool) {
    let (stride, window) = (g.stride, g.window)
    let laneColumns = Float8(0, 1, 2, 3, 4, 5, 6, 7) * Float(stride)
    for ox in Swift.stride(from: 0, to: paddedOutWidth, by: 8) {
      var best = phaseMaxima.load8(ox)
      // Window column kx is phase kx % stride, shifted by kx / stride: stepped, not divided.
      var phase = 0
      var shift = 0
      func step() {
        phase += 1
        if phase == stride { (phase, shift) = (0, shift + 1) }
      }
      if !withPositions {
        for _ in 1..<window {
          step()
          let value = phaseMaxima.load8(phase * phaseLength + ox + shift)
          best = select8(greater8(value, best), value, best)
        }
      } else {
        let firstColumn = Float8(repeating: Float(ox * stride - g.padLeft)) + laneColumns
        var bestRow = phaseRows.load8(ox)
        var bestColumn = firstColumn
        for kx in 1..<window {
          step()
          let offset = phase * phaseLength + ox + shift
          let value = phaseMaxima.load8(offset)
          let row = phaseRows.load8(offset)
          let better = firstMaximum8(value, best, row: row, bestRow: bestRow)
          best = select8(better, value, best)
          bestRow = select8(better, row, bestRow)
          bestColumn = select8(better, firstColumn + Float8(repeating: Float(kx)), bestColumn)
        }
        rowRows.store8(bestRow, ox)
        rowColumns.store8(bestColumn, ox)
      }
      rowMaxima.store8(best, ox)
    }
  }
}

/// to[i] = from[i·stride + offset] for i in `inside`, and `outside` for the rest of 0..<length.
@inline(__always)
private func deal(
  _ from: UnsafeMutablePointer<Float>, stride: Int, offset: Int, inside: Range<Int>, length: Int,
  into to: UnsafeMutablePointer<Float>, outside: Float
) {
  to.update(repeating: outside, count: inside.lowerBound)
  let source = from + offset
  for i in inside { to[i] = source[i &* stride] }
  (to + inside.upperBound).update(repeating: outside, count: length - inside.upperBound)
}

/// maxima[c] = max over `rows` of x[r·width + c] and, when `bestRows` is given, bestRows[c] = the
/// first such r (as a float: exact for any plane height a Float32 tensor can have).
@inline(__always)
private func columnMaximaDown(
  _ x: UnsafePointer<Float>, rows: Range<Int>, width: Int,
  maxima: UnsafeMutablePointer<Float>, rows bestRows: UnsafeMutablePointer<Float>?
) {
  let first = x + rows.lowerBound * width
  guard width >= 8 else {
    for c in 0..<width {
      var best = first[c]
      var bestRow = rows.lowerBound
      for r in rows.dropFirst() where x[r * width + c] > best {
        (best, bestRow) = (x[r * width + c], r)
      }
      maxima[c] = best
      bestRows?[c] = Float(bestRow)
    }
    return
  }
  forEightOverlapping(width) { c in
    var best = first.load8(c)
    if let bestRows {
      var bestRow = Float8(repeating: Float(rows.lowerBound))
      for r in rows.dropFirst() {
        let value = (x + r * width).load8(c)
        let better = greater8(value, best)
        best = select8(better, value, best)
        bestRow = select8(better, Float8(repeating: Float(r)), bestRow)
      }
      bestRows.store8(bestRow, c)
    } else {
      for r in rows.dropFirst() {
        let value = (x + r * width).load8(c)
        best = select8(greater8(value, best), value, best)
      }
    }
    maxima.store8(best, c)
  }
}

/// Fast backward: zeroes `inputGradient`, then adds each output gradient at its argmax.
public func maxPool2dBackward(
  _ g: PoolGeometry, outputGradient: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
  inputGradient: UnsafeMutablePointer<Float>
) {
  let inPlane = g.height * g.width
  let outPlane = g.outHeight * g.outWidth
  Parallel.forEachChunk(g.batch * g.channels, minimumChunk: 8) { planes in
    for plane in planes {
      let dx = inputGradient + plane * inPlane
      let dy = outputGradient + plane * outPlane
      let indices = argmax + plane * outPlane
      dx.update(repeating: 0, count: inPlane)
      for i in 0..<outPlane { dx[Int(indices[i])] += dy[i] }
    }
  }
}

/// Max pooling of a tensor: the output and the argmax its backward needs. Scratch comes from
/// `workspace`, or from the compute context's when nil.
public func maxPool2dForward(
  _ g: PoolGeometry, input: Tensor, workspace: Workspace? = nil
) -> (output: Tensor, argmax: IndexBuffer) {
  g.checkInput(input)
  var output = Tensor(uninitializedShape: g.outputShape)
  let argmax = IndexBuffer(uninitializedCount: output.count)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      argmax.withUnsafeMutableBufferPointer { a in
        Workspace.using(workspace) { workspace in
          maxPool2dForward(
            g, input: x.baseAddress!, output: y.baseAddress!, argmax: a.baseAddress!,
            workspace: workspace)
        }
      }
    }
  }
  return (output, argmax)
}

/// Max pooling of a tensor without the argmax, for inference. Scratch as in `maxPool2dForward`.
public func maxPool2dInference(
  _ g: PoolGeometry, input: Tensor, workspace: Workspace? = nil
) -> Tensor {
  g.checkInput(input)
  var output = Tensor(uninitializedShape: g.outputShape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      Workspace.using(workspace) { workspace in
        maxPool2dForward(
          g, input: x.baseAddress!, output: y.baseAddress!, argmax: nil,
          workspace: workspace)
      }
    }
  }
  return output
}

/// The input gradient of a max pooling, from the argmax of its forward pass.
public func maxPool2dBackward(_ g: PoolGeometry, outputGradient: Tensor, argmax: IndexBuffer)
  -> Tensor
{
  g.checkOutputGradient(outputGradient)
  precondition(argmax.count == outputGradient.count, "pooling \(g): \(argmax.count) argmax entries")
  var dx = Tensor(uninitializedShape: g.inputShape)
  outputGradient.withUnsafeBufferPointer { dy in
    dx.withUnsafeMutableBufferPointer { dx in
      argmax.withUnsafeBufferPointer { a in
        maxPool2dBackward(
          g, outputGradient: dy.baseAddress!, argmax: a.baseAddress!, inputGradient: dx.baseAddress!
        )
      }
    }
  }
  return dx
}
