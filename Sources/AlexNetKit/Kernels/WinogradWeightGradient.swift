// The weight gradient of a Winograd convolution, in the Winograd domain. The forward computes
// M[ξ] = U[ξ]·V[ξ] and Y = Aᵀ M A per tile, so the gradient of M is dM = A dY Aᵀ (the adjoint of
// the output transform, on each output block), that of U is dU[ξ] = Σ_tiles dM[ξ]·V[ξ]ᵀ, and that
// of the kernel g, with U = G g Gᵀ, is Gᵀ dU G. The products are outPerGroup × inPerGroup with
// the tiles of a chunk of images as their inner dimension: long, where im2col's is one row of
// k²·inPerGroup columns per output pixel.

/// The variant's G (α × r), row-major and flat, for the filter adjoint.
private let flatFilterMatrices: [WinogradVariant: [Float]] = [
  .f2x2: WinogradMatrices.filter.flatMap { $0 },
  .f4x4: Winograd4x4Matrices.filter.flatMap { $0 },
  .f2x2Kernel5: Winograd5x5Matrices.filter.flatMap { $0 },
  .f3x3Kernel5: Winograd3x3Kernel5Matrices.filter.flatMap { $0 },
]

/// A ȳ for one column ȳ of m values (eight lanes, `y(i)`), written as α values by `x(j, value)`:
/// the adjoint of the output transform's Aᵀ.
@inline(__always)
func winogradOutputAdjoint(
  _ variant: WinogradVariant, _ y: (Int) -> Float8, _ x: (Int, Float8) -> Void
) {
  switch variant {
  case .f2x2:
    let (a, b) = (y(0), y(1))
    x(0, a)
    x(1, a + b)
    x(2, a - b)
    x(3, -b)
  case .f2x2Kernel5:
    let (a, b) = (y(0), y(1))
    x(0, a)
    x(1, a + b)
    x(2, a - b)
    x(3, a + 2 * b)
    x(4, a - 2 * b)
    x(5, b)
  case .f3x3Kernel5:
    let (a, b, c) = (y(0), y(1), y(2))
    let (even, odd) = (a + c, b)
    let (evenTwo, oddTwo) = (a + 4 * c, 2 * b)
    x(0, a)
    x(1, even + odd)
    x(2, even - odd)
    x(3, evenTwo + oddTwo)
    x(4, evenTwo - oddTwo)
    x(5, a + 0.5 * b + 0.25 * c)
    x(6, c)
  case .f4x4:
    let (a, b, c, d) = (y(0), y(1), y(2), y(3))
    let (even, odd) = (a + c, b + d)
    let (evenTwo, oddTwo) = (a + 4 * c, 2 * b + 8 * d)
    x(0, a)
    x(1, even + odd)
    x(2, even - odd)
    x(3, evenTwo + oddTwo)
    x(4, evenTwo - oddTwo)
    x(5, d)
  }
}

/// A dY Aᵀ for eight m×m output-gradient blocks (cell (i, k) of lane l at `blocks[8·(m·i + k) + l]`),
/// through `scratch` (α·m × 8 floats): writes position ξ = α·r + j to `output + ξ·stride` (eight
/// lanes each).
@inline(__always)
func winogradOutputGradientTransform8(
  _ variant: WinogradVariant, blocks: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, stride: Int
) {
  let (m, alpha) = (variant.outputTile, variant.inputTile)
  for k in 0..<m {
    winogradOutputAdjoint(
      variant, { i in blocks.load8(8 * (m * i + k)) },
      { r, value in scratch.store8(value, 8 * (r * m + k)) })
  }
  for r in 0..<alpha {
    winogradOutputAdjoint(
      variant, { k in scratch.load8(8 * (r * m + k)) },
      { j, value in (output + (alpha * r + j) * stride).store8(value, 0) })
  }
}

/// Reference A dY Aᵀ of one m×m block: the adjoint of `Aᵀ m A`.
public func winogradOutputGradientTileNaive(_ variant: WinogradVariant, _ dy: [[Float]])
  -> [[Float]]
{
  let outputTransposed: [[Float]]
  switch variant {
  case .f2x2: outputTransposed = WinogradMatrices.outputTransposed
  case .f4x4: outputTransposed = Winograd4x4Matrices.outputTransposed
  case .f2x2Kernel5: outputTransposed = Winograd5x5Matrices.outputTransposed
  case .f3x3Kernel5: outputTransposed = Winograd3x3Kernel5Matrices.outputTransposed
  }
  let a = (0..<variant.inputTile).map { r in
    (0..<variant.outputTile).map { outputTransposed[$0][r] }
  }
  return sandwich(a, dy, a)
}

/// dM[ξ][o][t] = (A dY Aᵀ)[ξ] for every output block t of every channel o of `images` images, the
/// output gradient masked where `mask` (a fused ReLU's output) is not positive; cells past the
/// plane's edge count as zero. `sums[b·outChannels + o]` receives the sum of the masked gradient
/// of image b's channel o (for the bias gradient).
func winogradTransformOutputGradient(
  _ s: WinogradShape, images: Int, outputGradient dy: UnsafePointer<Float>,
  mask: UnsafePointer<Float>?, into dm: UnsafeMutablePointer<Float>,
  sums: UnsafeMutablePointer<Float>
) {
  let tiles = images * s.tilesPerImage
  let plane = s.outHeight * s.outWidth
  let side = s.variant.outputTile
  Parallel.forEachChunk(images * s.outChannels, minimumChunk: 4) { units in
    // 16 × 8 floats of blocks, 24 × 8 of sums, ξ × 8 for a last group of fewer than eight
    // tiles, 4 × 8 for a row of the group.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: (44 + s.positions) * 8) { scratch in
      let blocks = scratch.baseAddress!
      let partial = blocks + 40 * 8
      let row = partial + s.positions * 8
      for unit in units {
        let (b, o) = unit.quotientAndRemainder(dividingBy: s.outChannels)
        let (from, keep) = (dy + unit * plane, mask.map { $0 + unit * plane })
        let channel = dm + o * tiles + b * s.tilesPerImage
        var total = Float8.zero
        for ty in 0..<s.tilesHigh {
          for tx in Swift.stride(from: 0, to: s.tilesWide, by: 8) {
            let count = Swift.min(8, s.tilesWide - tx)
            gatherBlocks(
              s, from: from, keep: keep, ty: ty, tx: tx, count: count, row: row, into: blocks)
            for cell in 0..<(side * side) { total += blocks.load8(8 * cell) }
            let direct = s.eightTilesFit(ty: ty, tx: tx)
            let (first, stride) = (channel + ty * s.tilesWide + tx, s.outChannels * tiles)
            winogradOutputGradientTransform8(
              s.variant, blocks: blocks, scratch: blocks + 128, output: direct ? first : partial,
              stride: direct ? stride : 8)
            if !direct {
              copyShortGroup(s, from: partial, to: first, stride: stride, count: count)
            }
          }
        }
        sums[unit] = total.sum()
      }
    }
  }
}

/// The m×m output-gradient blocks of tiles (ty, tx ..< tx + count), masked, zero past the plane's
/// edge and in lanes from `count`: cell (i, k) of lane l at `blocks[8·(m·i + k) + l]`. Each of
/// the m rows is copied (masked) into `row` (8m floats, zero past the edge), then dealt into the
/// m cells of its lanes: a ReLU-masked conv1 gradient went through this a float at a time.
@inline(__always)
private func gatherBlocks(
  _ s: WinogradShape, from: UnsafePointer<Float>, keep: UnsafePointer<Float>?, ty: Int, tx: Int,
  count: Int, row: UnsafeMutablePointer<Float>, into blocks: UnsafeMutablePointer<Float>
) {
  let side = s.variant.outputTile
  let left = side * tx
  let columns = Swift.min(side * count, s.outWidth - left)
  for i in 0..<side {
    let y = side * ty + i
    if y < s.outHeight {
      let at = y * s.outWidth + left
      if let keep {
        keepWherePositive(count: columns, from + at, where: keep + at, into: row)
      } else {
        row.update(from: from + at, count: columns)
      }
      (row + columns).update(repeating: 0, count: 8 * side - columns)
    } else {
      row.update(repeating: 0, count: 8 * side)
    }
    dealBlockRow(row, side: side, into: blocks + 8 * side * i)
  }
}

/// dU[ξ] (+)= dM[ξ]·V[ξ]ᵀ for the positions and groups: outPerGroup × inPerGroup, inner `tiles`;
/// `beta` 0 overwrites, 1 adds. Outside a shard the products are shared among the threads.
func winogradMultiplyGradients(
  _ s: WinogradShape, tiles: Int, outputGradients dm: UnsafePointer<Float>,
  transformed v: UnsafePointer<Float>, into du: UnsafeMutablePointer<Float>, beta: Float
) {
  let products = s.positions * s.groups
  func multiply(_ range: Range<Int>) {
    for product in range {
      let (xi, group) = product.quotientAndRemainder(dividingBy: s.groups)
      BLAS.sgemm(
        dm + (xi * s.outChannels + group * s.outPerGroup) * tiles,
        v + (xi * s.inChannels + group * s.inPerGroup) * tiles, transposeB: true,
        into: du + xi * s.outChannels * s.inPerGroup + group * s.outPerGroup * s.inPerGroup,
        m: s.outPerGroup, n: s.inPerGroup, k: tiles, beta: beta)
    }
  }
  let shards = Parallel.shardCount(for: products)
  guard shards > 1 else { return multiply(0..<products) }
  Parallel.forEachShard(products, shards: shards) { _, range in multiply(range) }
}

/// Gᵀ dU G for every kernel: the gradient of the filters from that of their transforms (dU laid
/// out as U, [ξ][outChannels][inPerGroup]), written over `weightGradient` or added to it.
func winogradFilterAdjoint(
  _ s: WinogradShape, _ du: UnsafePointer<Float>, into weightGradient: UnsafeMutablePointer<Float>,
  accumulate: Bool
) {
  let (r, alpha) = (s.variant.kernel, s.variant.inputTile)
  let stride = s.outChannels * s.inPerGroup
  flatFilterMatrices[s.variant]!.withUnsafeBufferPointer { gBuffer in
    let g = gBuffer.baseAddress!
    Parallel.forEachChunk(stride, minimumChunk: 64) { kernels in
      // (Gᵀ dU)[a][j], r × α.
      withUnsafeTemporaryAllocation(of: Float.self, capacity: r * alpha) { half in
        let left = half.baseAddress!
        for kernel in kernels {
          let cell = du + kernel
          for a in 0..<r {
            for j in 0..<alpha {
              var sum: Float = 0
              for i in 0..<alpha { sum += g[i * r + a] * cell[(alpha * i + j) * stride] }
              left[a * alpha + j] = sum
            }
          }
          // A strided shape's view kernel cell (a, c) is kernel cell (s·a + dy, s·c + dx), or
          // past the kernel's edge (dropped).
          let cells =
            s.spaceToDepth?.kernelCells(kernel, inPerGroup: s.inPerGroup)
            ?? (first: kernel * r * r, rowStride: r, cellStride: 1, rows: r, columns: r)
          for a in 0..<cells.rows {
            for c in 0..<cells.columns {
              var sum: Float = 0
              for j in 0..<alpha { sum += left[a * alpha + j] * g[j * r + c] }
              let cell = weightGradient + cells.first + a * cells.rowStride + c * cells.cellStride
              cell.pointee = accumulate ? cell.pointee + sum : sum
            }
          }
        }
      }
    }
  }
}

/// dU and db (`partial`: the filter count, then outChannels floats) of `batch` consecutive
/// images on the calling thread's BLAS setting, a chunk at a time: the input tiles V (as the
/// forward's), the output gradient's dM, then dU += dM·Vᵀ. Overwrites `partial`.
func winogradWeightGradientImages(
  _ s: WinogradShape, batch: Int, input: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
  outputGradient dy: UnsafePointer<Float>, into partial: UnsafeMutablePointer<Float>,
  workspace: Workspace
) {
  let chunk = s.imagesPerChunk(batch: batch)
  let db = partial + s.filterCount
  db.update(repeating: 0, count: s.outChannels)
  for first in Swift.stride(from: 0, to: batch, by: chunk) {
    let images = Swift.min(chunk, batch - first)
    let tiles = images * s.tilesPerImage
    let v = workspace.floats(s.positions * s.inChannels * tiles, slot: 0)
    let dmCount = s.positions * s.outChannels * tiles
    let dm = workspace.floats(dmCount + images * s.outChannels, slot: 1)
    let sums = dm + dmCount
    winogradTransformInput(
      s, images: images, input: input + first * s.inputImage, mask: nil, into: v)
    winogradTransformOutputGradient(
      s, images: images, outputGradient: dy + first * s.outputImage,
      mask: mask.map { $0 + first * s.outputImage }, into: dm, sums: sums)
    winogradMultiplyGradients(
      s, tiles: tiles, outputGradients: dm, transformed: v, into: partial,
      beta: first == 0 ? 0 : 1)
    for b in 0..<images {
      for o in 0..<s.outChannels { db[o] += sums[b * s.outChannels + o] }
    }
  }
}

/// The weight and bias gradients of `g` by Winograd `variant` (same contract as the weight part of
/// `conv2dBackward`: added to `weightGradient` and `biasGradient`, or written over them with
/// `accumulate: false`; `activatedOutput` masks the output gradient as a fused ReLU's). Sharded
/// over the batch, each shard summing dU in its own workspace (slot 2); the shards' sums are added
/// and transformed back once. Uses `workspace` slots 0-2 and its shards'.
public func winogradConv2dWeightGradient(
  _ g: ConvGeometry, input: UnsafePointer<Float>, activatedOutput: UnsafePointer<Float>? = nil,
  outputGradient: UnsafePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
  biasGradient: UnsafeMutablePointer<Float>?, accumulate: Bool = true, workspace: Workspace,
  variant: WinogradVariant = .f2x2
) {
  precondition(
    variant.supportsForwardAndWeightGradient(g),
    "Winograd \(variant): \(g) is not its forward shape")
  let s = WinogradShape(forward: g, variant: variant)
  let count = s.filterCount + s.outChannels
  let shards = Parallel.shardCount(for: g.batch)
  let total: UnsafeMutablePointer<Float>
  if shards > 1 {
    workspace.prepareShards(shards)
    func partial(_ shard: Int) -> UnsafeMutablePointer<Float> {
      workspace.shard(shard).floats(count, slot: 2)
    }
    Parallel.forEachShard(g.batch, shards: shards) { shard, images in
      winogradWeightGradientImages(
        s, batch: images.count,
        input: input + images.lowerBound * s.inputImage,
        mask: activatedOutput.map { $0 + images.lowerBound * s.outputImage },
        outputGradient: outputGradient + images.lowerBound * s.outputImage,
        into: partial(shard), workspace: workspace.shard(shard))
    }
    total = partial(0)
    for shard in 1..<shards {
      let other = partial(shard)
      for i in 0..<count { total[i] += other[i] }
    }
  } else {
    total = workspace.floats(count, slot: 2)
    winogradWeightGradientImages(
      s, batch: g.batch, input: input, mask: activatedOutput, outputGradient: outputGradient,
      into: total, workspace: workspace)
  }
  winogradFilterAdjoint(s, total, into: weightGradient, accumulate: accumulate)
  if let biasGradient {
    for o in 0..<s.outChannels {
      biasGradient[o] = (accumulate ? biasGradient[o] : 0) + total[s.filterCount + o]
    }
  }
}

/// The weight and bias gradients of a stride-1 convolution (or a strided one through space to
/// depth) by Winograd, as new tensors; with
/// `reluOutput` (the output of a forward with `.relu`), `outputGradient` is that output's gradient.
public func winogradConv2dWeightGradient(
  _ g: ConvGeometry, input: Tensor, reluOutput: Tensor? = nil, outputGradient: Tensor,
  workspace: Workspace? = nil, variant: WinogradVariant = .f2x2
) -> (weight: Tensor, bias: Tensor) {
  precondition(
    input.shape == g.inputShape, "Winograd \(g): input \(input.shape), expected \(g.inputShape)")
  checkGradientShapes(g, outputGradient: outputGradient, reluOutput: reluOutput)
  var dw = Tensor(uninitializedShape: g.weightShape)
  var db = Tensor(uninitializedShape: [g.outChannels])
  let mask = reluOutput ?? Tensor(zeros: [0])
  Workspace.using(workspace) { workspace in
    input.withUnsafeBufferPointer { x in
      outputGradient.withUnsafeBufferPointer { dy in
        mask.withUnsafeBufferPointer { mask in
          dw.withUnsafeMutableBufferPointer { dw in
            db.withUnsafeMutableBufferPointer { db in
              winogradConv2dWeightGradient(
                g, input: x.baseAddress!,
                activatedOutput: reluOutput == nil ? nil : mask.baseAddress!,
                outputGradient: dy.baseAddress!, weightGradient: dw.baseAddress!,
                biasGradient: db.baseAddress!, accumulate: false, workspace: workspace,
                variant: variant)
            }
          }
        }
      }
    }
  }
  return (dw, db)
}
