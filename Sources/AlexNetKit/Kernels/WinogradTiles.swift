// The Winograd path's passes over images: cutting planes into overlapping 4×4 (6×6, 7×7) tiles
// (input transform) and putting the 2×2 (4×4, 3×3) output blocks back (output transform), eight
// tiles of a tile row at a time. Tile t of a chunk is image b's tile (ty, tx) with
// t = b·tilesPerImage + ty·tilesWide + tx.

/// V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile d of every channel c of `images` images. With `mask`
/// (same layout as the input), input cells where the mask is not positive count as zero.
func winogradTransformInput(
  _ s: WinogradShape, images: Int, input: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
  into v: UnsafeMutablePointer<Float>
) {
  precondition(mask == nil || s.spaceToDepth == nil, "Winograd: a strided shape takes no mask")
  let tiles = images * s.tilesPerImage
  let plane = s.height * s.width
  let rowLength = s.paddedRowLength
  let m = s.variant.outputTile
  // Tile rows overlap by side − m input rows, so the channel's rows are padded once, not per
  // tile row (1.5 to 3 copies of each row before).
  let paddedRows = m * s.tilesHigh + s.variant.inputTile - m
  Parallel.forEachChunk(images * s.inChannels, minimumChunk: 4) { units in
    // The zero-padded rows, then ξ × 8 floats for a last group of fewer than eight tiles, and as
    // many for the larger tiles' intermediate sums.
    let capacity = paddedRows * rowLength + 2 * 8 * s.positions
    withUnsafeTemporaryAllocation(of: Float.self, capacity: capacity) { scratch in
      let rows = scratch.baseAddress!
      let partial = rows + paddedRows * rowLength
      for unit in units {
        let b = unit / s.inChannels
        let c = unit % s.inChannels
        let offset = unit * plane
        let channel = v + c * tiles + b * s.tilesPerImage
        for r in 0..<paddedRows {
          if let view = s.spaceToDepth {
            view.gatherRow(
              r - s.padTop, channel: c, image: input + b * s.inputImage,
              into: rows + r * rowLength, length: rowLength)
          } else {
            fillPaddedRow(
              s, row: r - s.padTop, plane: input + offset, mask: mask.map { $0 + offset },
              into: rows + r * rowLength, length: rowLength)
          }
        }
        for ty in 0..<s.tilesHigh {
          winogradInputTileRow(
            s, rows: UnsafePointer(rows + m * ty * rowLength), rowLength: rowLength,
            partial: partial, output: channel, ty: ty, stride: s.inChannels * tiles)
        }
      }
    }
  }
}

/// Tile row `ty`'s input transforms into the channel's tiles at `output`, eight tiles at a time,
/// in place where `eightTilesFit` (a group through `partial` costs a memmove per position), else
/// through `partial`. 6×6 and 7×7 tiles keep their intermediate sums after `partial`'s ξ × 8
/// floats.
@inline(__always)
private func winogradInputTileRow(
  _ s: WinogradShape, rows: UnsafePointer<Float>, rowLength: Int,
  partial: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, ty: Int, stride: Int
) {
  let output = output + ty * s.tilesWide
  for tx in Swift.stride(from: 0, to: s.tilesWide, by: 8) {
    let x = s.variant.outputTile * tx
    let direct = s.eightTilesFit(ty: ty, tx: tx)
    let (target, step) = direct ? (output + tx, stride) : (partial, 8)
    switch s.variant {
    case .f2x2:
      let group = (
        rows + x, rows + rowLength + x, rows + 2 * rowLength + x, rows + 3 * rowLength + x
      )
      winogradInputTransform8(rows: group, output: target, stride: step)
    case .f4x4:
      winograd4x4InputTransform8(
        rows: rows + x, rowLength: rowLength, scratch: partial + 8 * s.positions,
        output: target, stride: step)
    case .f2x2Kernel5:
      winograd5x5InputTransform8(
        rows: rows + x, rowLength: rowLength, scratch: partial + 8 * s.positions,
        output: target, stride: step)
    case .f3x3Kernel5:
      winograd3x3Kernel5InputTransform8(
        rows: rows + x, rowLength: rowLength, scratch: partial + 8 * s.positions,
        output: target, stride: step)
    }
    if !direct {
      copyShortGroup(
        s, from: partial, to: output + tx, stride: stride, count: Swift.min(8, s.tilesWide - tx))
    }
  }
}

/// The first `count` lanes of a group transformed into `partial` (ξ × 8 floats) to their tiles at
/// `output + ξ·stride`.
func copyShortGroup(
  _ s: WinogradShape, from partial: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
  stride: Int, count: Int
) {
  for xi in 0..<s.positions {
    (output + xi * stride).update(from: partial + 8 * xi, count: count)
  }
}

/// Input row `row` (any integer: rows outside the plane are zero) placed at `padLeft` in a
/// zero-filled row of `length`, masked when a mask is given.
@inline(__always)
private func fillPaddedRow(
  _ s: WinogradShape, row: Int, plane: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
  into destination: UnsafeMutablePointer<Float>, length: Int
) {
  guard 0 <= row, row < s.height else { return destination.update(repeating: 0, count: length) }
  // Destination cells first..<last hold input columns first − padLeft ..< last − padLeft.
  let first = Swift.max(0, s.padLeft)
  let last = Swift.max(first, Swift.min(length, s.width + s.padLeft))
  destination.update(repeating: 0, count: first)
  let source = plane + row * s.width + first - s.padLeft
  if let mask {
    keepWherePositive(
      count: last - first, source, where: mask + row * s.width + first - s.padLeft,
      into: destination + first)
  } else {
    (destination + first).update(from: source, count: last - first)
  }
  (destination + last).update(repeating: 0, count: length - last)
}

/// Output blocks from the products M[ξ][o][t]: Y = Aᵀ m A plus the bias, through the activation,
/// cut at the plane's edge (the last tile row or column may stick out by one).
func winogradTransformOutput(
  _ s: WinogradShape, images: Int, products m: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  activation: Activation, output: UnsafeMutablePointer<Float>
) {
  guard s.variant == .f2x2 else {
    return winogradLargeTileTransformOutput(
      s, images: images, products: m, bias: bias, activation: activation, output: output)
  }
  let tiles = images * s.tilesPerImage
  let plane = s.outHeight * s.outWidth
  Parallel.forEachChunk(images * s.outChannels, minimumChunk: 4) { units in
    for unit in units {
      let b = unit / s.outChannels
      let o = unit % s.outChannels
      let shift = Float8(repeating: bias?[o] ?? 0)
      let channel = m + o * tiles + b * s.tilesPerImage
      let out = output + unit * plane
      for ty in 0..<s.tilesHigh {
        let top = out + 2 * ty * s.outWidth
        let twoRows = 2 * ty + 1 < s.outHeight
        for tx in stride(from: 0, to: s.tilesWide, by: 8) {
          var y = winogradOutputTransform8(
            input: channel + ty * s.tilesWide + tx, stride: s.outChannels * tiles)
          y = (y.0 + shift, y.1 + shift, y.2 + shift, y.3 + shift)
          if activation == .relu {
            y = (relu8(y.0), relu8(y.1), relu8(y.2), relu8(y.3))
          }
          // Each output row of the eight blocks is their cells interleaved, cut at the edge.
          let (left, columns) = (2 * tx, Swift.min(16, s.outWidth - 2 * tx))
          storePrefix(interleave8(y.0, y.1), to: top + left, count: columns)
          if twoRows {
            storePrefix(interleave8(y.2, y.3), to: top + s.outWidth + left, count: columns)
          }
        }
      }
    }
  }
}

@inline(__always)
private func relu8(_ x: Float8) -> Float8 { select8(greater8(x, .zero), x, .zero) }

/// The first `count` lanes of `row` to `target`: one vector store when all fit.
@inline(__always)
private func storePrefix<Row: SIMD>(_ row: Row, to target: UnsafeMutablePointer<Float>, count: Int)
where Row.Scalar == Float {
  guard count < Row.scalarCount else {
    return UnsafeMutableRawPointer(target).storeBytes(of: row, as: Row.self)
  }
  withUnsafeBytes(of: row) {
    target.update(from: $0.bindMemory(to: Float.self).baseAddress!, count: count)
  }
}

/// Row i of eight m×m blocks (cell (i, k) of the eight lanes at `cells + 8k`) as the first
/// `count` floats of an output row: the cells interleaved, lane l's m values at m·l.
@inline(__always)
func storeBlockRow(
  _ cells: UnsafePointer<Float>, side: Int, to target: UnsafeMutablePointer<Float>, count: Int
) {
  if side == 2 {
    storePrefix(interleave8(cells.load8(0), cells.load8(8)), to: target, count: count)
  } else if side == 3 {
    let row = interleave8(cells.load8(0), cells.load8(8), cells.load8(16))
    guard count < 24 else {
      UnsafeMutableRawPointer(target).storeBytes(of: row.lowHalf, as: SIMD16<Float>.self)
      return UnsafeMutableRawPointer(target + 16).storeBytes(
        of: row.highHalf.lowHalf, as: SIMD8<Float>.self)
    }
    storePrefix(row, to: target, count: count)
  } else {
    let row = interleave8(cells.load8(0), cells.load8(8), cells.load8(16), cells.load8(24))
    storePrefix(row, to: target, count: count)
  }
}

/// The inverse of `storeBlockRow`: a row of 8m floats dealt into the m cells of its eight lanes.
@inline(__always)
func dealBlockRow(_ row: UnsafePointer<Float>, side: Int, into cells: UnsafeMutablePointer<Float>) {
  if side == 2 {
    let pair = UnsafeRawPointer(row).loadUnaligned(as: SIMD16<Float>.self)
    cells.store8(pair.evenHalf, 0)
    cells.store8(pair.oddHalf, 8)
  } else if side == 3 {
    // Reads 32 floats: the row's 24 and 8 more (scratch).
    let thirds = everyThirdLane(UnsafeRawPointer(row).loadUnaligned(as: SIMD32<Float>.self))
    cells.store8(thirds.0, 0)
    cells.store8(thirds.1, 8)
    cells.store8(thirds.2, 16)
  } else {
    let four = UnsafeRawPointer(row).loadUnaligned(as: SIMD32<Float>.self)
    let (even, odd) = (four.evenHalf, four.oddHalf)
    cells.store8(even.evenHalf, 0)
    cells.store8(odd.evenHalf, 8)
    cells.store8(even.oddHalf, 16)
    cells.store8(odd.oddHalf, 24)
  }
}

/// The output transform of 6×6 and 7×7 tiles (F(4×4, 3×3), F(2×2, 5×5), F(3×3, 5×5)): as
/// `winogradTransformOutput`, with m×m blocks (the last tile row or column may stick out by up to
/// m − 1).
func winogradLargeTileTransformOutput(
  _ s: WinogradShape, images: Int, products m: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  activation: Activation, output: UnsafeMutablePointer<Float>
) {
  let tiles = images * s.tilesPerImage
  let plane = s.outHeight * s.outWidth
  let side = s.variant.outputTile
  Parallel.forEachChunk(images * s.outChannels, minimumChunk: 4) { units in
    // 16 × 8 floats of blocks (output (i, k) of lane l at 8·(m·i + k) + l), 24 × 8 of sums.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 40 * 8) { scratch in
      let blocks = scratch.baseAddress!
      for unit in units {
        let b = unit / s.outChannels
        let o = unit % s.outChannels
        let shift = Float8(repeating: bias?[o] ?? 0)
        let channel = m + o * tiles + b * s.tilesPerImage
        let out = output + unit * plane
        for ty in 0..<s.tilesHigh {
          let rows = Swift.min(side, s.outHeight - side * ty)
          for tx in stride(from: 0, to: s.tilesWide, by: 8) {
            let input = channel + ty * s.tilesWide + tx
            let stride = s.outChannels * tiles
            switch s.variant {
            case .f4x4:
              winograd4x4OutputTransform8(
                input: input, stride: stride, scratch: blocks + 128, output: blocks)
            case .f3x3Kernel5:
              winograd3x3Kernel5OutputTransform8(
                input: input, stride: stride, scratch: blocks + 128, output: blocks)
            case .f2x2Kernel5:
              winograd5x5OutputTransform8(
                input: input, stride: stride, scratch: blocks + 128, output: blocks)
            case .f2x2:
              preconditionFailure("Winograd: F(2×2, 3×3) has its own output transform")
            }
            for cell in 0..<(side * side) {
              let y = blocks.load8(8 * cell) + shift
              blocks.store8(activation == .relu ? relu8(y) : y, 8 * cell)
            }
            let (left, columns) = (side * tx, Swift.min(8 * side, s.outWidth - side * tx))
            for i in 0..<rows {
              storeBlockRow(
                blocks + 8 * side * i, side: side,
                to: out + (side * ty + i) * s.outWidth + left, count: columns)
            }
          }
        }
      }
    }
  }
}
