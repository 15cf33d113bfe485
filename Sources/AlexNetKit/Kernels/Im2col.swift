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
  let k = g.kernel
  let s = g.stride
  let outW = g.outWidth
  let outH = g.outHeight
  let planeSize = g.height * g.width
  do {
    let plane = image + c * planeSize
    for ky in kernelRows {
      let rows = insideRange(
        extent: g.height, outputs: outH, stride: s, padding: g.padTop, offset: ky)
      for kx in 0..<k {
        let cols = insideRange(
          extent: g.width, outputs: outW, stride: s, padding: g.padLeft, offset: kx)
        let destination = columns + ((c * k + ky) * k + kx) * rowLength + columnOffset
        let firstX = cols.lowerBound * s - g.padLeft + kx
        for oy in 0..<outH {
          let out = destination + oy * outW
          guard rows.contains(oy) else {
            out.update(repeating: 0, count: outW)
            continue
          }
          out.update(repeating: 0, count: cols.lowerBound)
          let source = plane + (oy * s - g.padTop + ky) * g.width + firstX
          if s == 1 {
            (out + cols.lowerBound).update(from: source, count: cols.count)
          } else {
            for i in 0..<cols.count { out[cols.lowerBound + i] = source[i * s] }
          }
          (out + cols.upperBound).update(repeating: 0, count: outW - cols.upperBound)
        }
      }
    }
  }
}

/// The adjoint of `im2col`: sums each column entry back into the input cell it was read from
/// (overlapping windows add up). Overwrites channels `channels` of `image`.
@inlinable
func col2im(
  _ g: ConvGeometry, columns: UnsafePointer<Float>, rowLength: Int, columnOffset: Int,
  image: UnsafeMutablePointer<Float>, channels: Range<Int>
) {
  let k = g.kernel
  let s = g.stride
  let outW = g.outWidth
  let outH = g.outHeight
  let planeSize = g.height * g.width
  for c in channels {
    let plane = image + c * planeSize
    plane.update(repeating: 0, count: planeSize)
    for ky in 0..<k {
      let rows = insideRange(
        extent: g.height, outputs: outH, stride: s, padding: g.padTop, offset: ky)
      for kx in 0..<k {
        let cols = insideRange(
          extent: g.width, outputs: outW, stride: s, padding: g.padLeft, offset: kx)
        let source = columns + ((c * k + ky) * k + kx) * rowLength + columnOffset
        let firstX = cols.lowerBound * s - g.padLeft + kx
        for oy in rows {
          let from = source + oy * outW + cols.lowerBound
          let to = plane + (oy * s - g.padTop + ky) * g.width + firstX
          if s == 1 {
            for i in 0..<cols.count { to[i] += from[i] }
          } else {
            for i in 0..<cols.count { to[i * s] += from[i] }
          }
        }
      }
    }
  }
}
