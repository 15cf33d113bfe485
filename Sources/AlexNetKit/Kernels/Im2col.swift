// Image to columns and back (Caffe's `im2col_cpu`, Darknet's `im2col.c`). For one image, row
// (c·k + ky)·k + kx of the column matrix holds input channel c seen through kernel cell (ky, kx)
// at every output position, so a convolution becomes one matrix product.
//
// The columns of several images sit side by side: image b occupies columns b·P ..< (b+1)·P of a
// matrix whose rows are `rowLength` long, so one GEMM serves the whole chunk of images.

/// First output index whose input coordinate o·stride − padding + offset is ≥ 0, and the first
/// whose coordinate is ≥ extent: outputs in between read inside the image, the rest read padding.
@inlinable
func insideRange(extent: Int, outputs: Int, stride: Int, padding: Int, offset: Int) -> Range<Int> {
  func firstOutput(reaching coordinate: Int) -> Int {
    let needed = coordinate + padding - offset  // o·stride must reach this
    return needed <= 0 ? 0 : (needed + stride - 1) / stride
  }
  let lower = Swift.min(firstOutput(reaching: 0), outputs)
  let upper = Swift.min(Swift.max(firstOutput(reaching: extent), lower), outputs)
  return lower..<upper
}

/// Writes the column rows of kernel rows `kernelRows` of channel `c` of one image (`image` points
/// at its channel 0). Overwrites those rows in columns `columnOffset ..< columnOffset + P`.
@inlinable
func im2col(
  _ g: ConvGeometry, image: UnsafePointer<Float>, channel c: Int, kernelRows: Range<Int>,
  columns: UnsafeMutablePointer<Float>, rowLength: Int, columnOffset: Int
) {
  guard g.stride == 1 else {
    return im2colStrided(
      g, image: image, channel: c, kernelRows: kernelRows, columns: columns,
      rowLength: rowLength, columnOffset: columnOffset)
  }
  let k = g.kernel
  let outW = g.outWidth
  let outH = g.outHeight
  let plane = image + c * g.height * g.width
  for ky in kernelRows {
    let rows = insideRange(
      extent: g.height, outputs: outH, stride: 1, padding: g.padTop, offset: ky)
    for kx in 0..<k {
      let cols = insideRange(
        extent: g.width, outputs: outW, stride: 1, padding: g.padLeft, offset: kx)
      let destination = columns + ((c * k + ky) * k + kx) * rowLength + columnOffset
      let firstX = cols.lowerBound - g.padLeft + kx
      for oy in 0..<outH {
        let out = destination + oy * outW
        guard rows.contains(oy) else {
          out.update(repeating: 0, count: outW)
          continue
        }
        out.update(repeating: 0, count: cols.lowerBound)
        let source = plane + (oy - g.padTop + ky) * g.width + firstX
        (out + cols.lowerBound).update(from: source, count: cols.count)
        (out + cols.upperBound).update(repeating: 0, count: outW - cols.upperBound)
      }
    }
  }
}

/// `im2col` at stride s > 1. Read directly, kernel column kx takes every s-th float of an input
/// row, one at a time (conv1's 11x11/4 spent more time gathering than in its GEMM). Instead each
/// input row is split once into its s phases, zero-padded: phase φ holds padded columns
/// φ, φ + s, φ + 2s, …, so kernel column kx is the contiguous run of phase kx mod s from kx / s.
@inlinable
func im2colStrided(
  _ g: ConvGeometry, image: UnsafePointer<Float>, channel c: Int, kernelRows: Range<Int>,
  columns: UnsafeMutablePointer<Float>, rowLength: Int, columnOffset: Int
) {
  let k = g.kernel
  let s = g.stride
  let outW = g.outWidth
  let phaseLength = g.phaseLength
  let plane = image + c * g.height * g.width
  withUnsafeTemporaryAllocation(of: Float.self, capacity: g.phaseCount * phaseLength) { phases in
    let phases = phases.baseAddress!
    for ky in kernelRows {
      let destination = columns + (c * k + ky) * k * rowLength + columnOffset
      for oy in 0..<g.outHeight {
        let y = oy * s - g.padTop + ky
        let out = destination + oy * outW  // kernel column kx's row: out + kx·rowLength
        guard 0 <= y && y < g.height else {
          for kx in 0..<k { (out + kx * rowLength).update(repeating: 0, count: outW) }
          continue
        }
        splitIntoPhases(g, row: plane + y * g.width, phases: phases)
        for kx in 0..<k {
          (out + kx * rowLength).update(
            from: phases + (kx % s) * phaseLength + kx / s, count: outW)
        }
      }
    }
  }
}

extension ConvGeometry {
  /// Phases of an input row a strided kernel reads: a kernel narrower than the stride never
  /// reads the phases from its width on.
  @inlinable var phaseCount: Int { Swift.min(stride, kernel) }
  /// Floats of one phase: the outputs' columns and the kernel's reach beyond them.
  @inlinable var phaseLength: Int { outWidth + (kernel - 1) / stride }
}

/// Phase φ < `g.phaseCount` of an input row, at `phases + φ·g.phaseLength`: element i is padded
/// column i·stride + φ, i.e. input column i·stride + φ − padLeft, or zero outside the row.
@inlinable
func splitIntoPhases(
  _ g: ConvGeometry, row: UnsafePointer<Float>, phases: UnsafeMutablePointer<Float>
) {
  let s = g.stride
  let phaseLength = g.phaseLength
  for phase in 0..<g.phaseCount {
    let to = phases + phase * phaseLength
    let inside = insideRange(
      extent: g.width, outputs: phaseLength, stride: s, padding: g.padLeft, offset: phase)
    to.update(repeating: 0, count: inside.lowerBound)
    var from = row + (inside.lowerBound * s + phase - g.padLeft)
    for i in inside {
      to[i] = from.pointee
      from += s
    }
    (to + inside.upperBound).update(repeating: 0, count: phaseLength - inside.upperBound)
  }
}

/// The adjoint of `im2col`: sums each column entry back into the input cell it was read from
/// (overlapping windows add up). Overwrites channels `channels` of `image`.
@inlinable
func col2im(
  _ g: ConvGeometry, columns: UnsafePointer<Float>, rowLength: Int, columnOffset: Int,
  image: UnsafeMutablePointer<Float>, channels: Range<Int>
) {
  guard g.stride == 1 else {
    return col2imStrided(
      g, columns: columns, rowLength: rowLength, columnOffset: columnOffset, image: image,
      channels: channels)
  }
  let k = g.kernel
  let outW = g.outWidth
  let planeSize = g.height * g.width
  for c in channels {
    let plane = image + c * planeSize
    plane.update(repeating: 0, count: planeSize)
    for ky in 0..<k {
      let rows = insideRange(
        extent: g.height, outputs: g.outHeight, stride: 1, padding: g.padTop, offset: ky)
      for kx in 0..<k {
        let cols = insideRange(
          extent: g.width, outputs: outW, stride: 1, padding: g.padLeft, offset: kx)
        let source = columns + ((c * k + ky) * k + kx) * rowLength + columnOffset
        let firstX = cols.lowerBound - g.padLeft + kx
        for oy in rows {
          let from = source + oy * outW + cols.lowerBound
          let to = plane + (oy - g.padTop + ky) * g.width + firstX
          for i in 0..<cols.count { to[i] += from[i] }
        }
      }
    }
  }
}

/// `col2im` at stride s > 1, the adjoint of `im2colStrided`: per input row, the kernel columns'
/// contiguous runs are summed into the row's phases, which are then added into the row, every
/// s-th float, once per row instead of once per kernel column.
@inlinable
func col2imStrided(
  _ g: ConvGeometry, columns: UnsafePointer<Float>, rowLength: Int, columnOffset: Int,
  image: UnsafeMutablePointer<Float>, channels: Range<Int>
) {
  let k = g.kernel
  let s = g.stride
  let outW = g.outWidth
  let phaseLength = g.phaseLength
  let planeSize = g.height * g.width
  withUnsafeTemporaryAllocation(of: Float.self, capacity: g.phaseCount * phaseLength) { phases in
    let phases = phases.baseAddress!
    for c in channels {
      let plane = image + c * planeSize
      plane.update(repeating: 0, count: planeSize)
      for ky in 0..<k {
        let source = columns + (c * k + ky) * k * rowLength + columnOffset
        for oy in 0..<g.outHeight {
          let y = oy * s - g.padTop + ky
          guard 0 <= y && y < g.height else { continue }
          phases.update(repeating: 0, count: g.phaseCount * phaseLength)
          for kx in 0..<k {
            let from = source + kx * rowLength + oy * outW
            let to = phases + (kx % s) * phaseLength + kx / s
            for i in 0..<outW { to[i] += from[i] }
          }
          addPhases(g, phases: phases, into: plane + y * g.width)
        }
      }
    }
  }
}

/// The adjoint of `splitIntoPhases`: adds each phase's elements that fall inside the row into it.
@inlinable
func addPhases(
  _ g: ConvGeometry, phases: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>
) {
  let s = g.stride
  let phaseLength = g.phaseLength
  for phase in 0..<g.phaseCount {
    let from = phases + phase * phaseLength
    let inside = insideRange(
      extent: g.width, outputs: phaseLength, stride: s, padding: g.padLeft, offset: phase)
    var to = row + (inside.lowerBound * s + phase - g.padLeft)
    for i in inside {
      to.pointee += from[i]
      to += s
    }
  }
}
