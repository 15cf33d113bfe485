// The Winograd convolution path, F(2×2, 3×3), F(4×4, 3×3), F(2×2, 5×5) or F(3×3, 5×5)
// (transforms: WinogradTransforms.swift, WinogradTransforms4x4.swift, WinogradTransforms5x5.swift,
// WinogradTransforms3x3Kernel5.swift): for 3×3 (or 5×5) kernels at stride 1, 16 (36, 49) matrix
// products of the transformed filters and input tiles replace one product 2.25 (4, 2.8, 4.6)
// times as large. The input gradient of such a convolution is
// again one (a full correlation of the output gradient with the flipped, transposed filters), so
// it runs here too.

import Synchronization

/// An r×r (3×3 or 5×5), stride-1 correlation as the Winograd path sees it: input planes height × width, output
/// planes outHeight × outWidth, `padTop`/`padLeft` zero cells before the first row and column
/// (negative: that many input cells skipped), cut into blocks of `variant.outputTile` squared.
struct WinogradShape {
  let variant: WinogradVariant
  let inChannels, outChannels, groups: Int
  let height, width, outHeight, outWidth: Int
  let padTop, padLeft: Int
  /// For a strided forward convolution, the stride-1 view of its input that this shape describes
  /// (the input transform reads it from the input in place); nil at stride 1.
  let spaceToDepth: SpaceToDepth?

  /// The forward convolution `g` (through space to depth when strided).
  init(forward g: ConvGeometry, variant: WinogradVariant = .f2x2) {
    self.variant = variant
    (outChannels, groups, outHeight, outWidth) = (g.outChannels, g.groups, g.outHeight, g.outWidth)
    spaceToDepth = SpaceToDepth(g)
    if let view = spaceToDepth {
      // Output y reads view rows y..<y + taps: no padding left in the view.
      inChannels = g.inChannels * view.blockArea
      (height, width) = (g.outHeight + view.taps - 1, g.outWidth + view.taps - 1)
      (padTop, padLeft) = (0, 0)
    } else {
      inChannels = g.inChannels
      (height, width, padTop, padLeft) = (g.height, g.width, g.padTop, g.padLeft)
    }
  }

  /// The input gradient of `g`: dX[y] = Σₐ dY[y − (r − 1 − padTop) + a] · w[r − 1 − a], so the
  /// output gradient is the input, padded by r − 1 − padTop, and the filters are flipped and
  /// transposed.
  init(inputGradientOf g: ConvGeometry, variant: WinogradVariant = .f2x2) {
    self.variant = variant
    (inChannels, outChannels, groups) = (g.outChannels, g.inChannels, g.groups)
    (height, width, outHeight, outWidth) = (g.outHeight, g.outWidth, g.height, g.width)
    (padTop, padLeft) = (g.kernel - 1 - g.padTop, g.kernel - 1 - g.padLeft)
    spaceToDepth = nil
  }

  var inPerGroup: Int { inChannels / groups }
  var outPerGroup: Int { outChannels / groups }
  var positions: Int { variant.positions }
  var tilesHigh: Int { (outHeight + variant.outputTile - 1) / variant.outputTile }
  var tilesWide: Int { (outWidth + variant.outputTile - 1) / variant.outputTile }
  var tilesPerImage: Int { tilesHigh * tilesWide }
  /// Whether the eight tiles from (ty, tx) of one image's channel may be written in place. A
  /// short last group of a tile row then writes its spare lanes over the next tile rows' first
  /// tiles, which the same thread writes next; past the channel's last tile they would land on
  /// another thread's, so such a group goes through scratch (`copyShortGroup`).
  func eightTilesFit(ty: Int, tx: Int) -> Bool { ty * tilesWide + tx + 8 <= tilesPerImage }
  /// Floats of one input image (the original's, not the view's, for a strided convolution).
  var inputImage: Int {
    spaceToDepth.map { $0.channels * $0.height * $0.width } ?? inChannels * height * width
  }
  var outputImage: Int { outChannels * outHeight * outWidth }
  /// Floats of the transformed filters: U[ξ][outChannels][inPerGroup].
  var filterCount: Int { positions * outChannels * inPerGroup }
  /// Floats a padded row of the input transform needs: eight tiles read 8m + r − 1 floats from
  /// m·first (F(3×3, 5×5) loads 32 floats for its 28).
  var paddedRowLength: Int {
    let m = variant.outputTile
    let reach = variant == .f3x3Kernel5 ? 32 : 8 * m + variant.kernel - 1
    return 8 * m * ((tilesWide + 7) / 8 - 1) + reach
  }

  /// Images per round of transforms and products: as many as keep the transformed input and the
  /// products within `budget` floats (16 MB, shared by the threads of a batch shard). Twice the
  /// im2col path's budget: one image gives products only 49 columns wide at 13x13 (conv3-5), too
  /// narrow for OpenBLAS to reach speed, so a few images per product pay for leaving the cache.
  func imagesPerChunk(batch: Int, budget: Int = 1 << 22) -> Int {
    let context = ComputeContext.current
    let budget = context.isInsideShard ? budget / context.threadCount : budget
    let perImage = positions * (inChannels + outChannels) * tilesPerImage
    return Swift.max(1, Swift.min(batch, budget / Swift.max(perImage, 1)))
  }
}

public enum Winograd {
  /// Whether the Winograd path computes `g`: a 3×3 or 5×5 kernel at stride 1 (any padding and
  /// groups).
  public static func supports(_ g: ConvGeometry) -> Bool {
    WinogradVariant.allCases.contains { $0.supports(g) }
  }

  /// Whether the Winograd path computes `g`'s forward pass and weight gradient: as `supports`, or
  /// a strided kernel whose ⌈kernel / stride⌉ is 3 or 5, through space to depth
  /// (WinogradSpaceToDepth.swift).
  public static func supportsForwardAndWeightGradient(_ g: ConvGeometry) -> Bool {
    WinogradVariant.allCases.contains { $0.supportsForwardAndWeightGradient(g) }
  }
}

/// `g`'s filters in the Winograd domain, made once (inference keeps them while the weights stay).
public struct WinogradFilters: Sendable {
  public let geometry: ConvGeometry
  public let variant: WinogradVariant
  let scalars: [Float]

  /// Transforms `weight` ([outChannels, inChannels / groups, r, r]) for the forward pass of `g`.
  public init(_ g: ConvGeometry, weight: Tensor, variant: WinogradVariant = .f2x2) {
    precondition(
      variant.supportsForwardAndWeightGradient(g),
      "Winograd \(variant): \(g) is not its forward shape")
    precondition(
      weight.shape == g.weightShape,
      "Winograd \(g): weight \(weight.shape), expected \(g.weightShape)")
    let s = WinogradShape(forward: g, variant: variant)
    (geometry, self.variant) = (g, variant)
    scalars = [Float](unsafeUninitializedCapacity: s.filterCount) { buffer, count in
      weight.withUnsafeBufferPointer { w in
        winogradTransformFilters(
          s, weight: w.baseAddress!, transposed: false, into: buffer.baseAddress!)
      }
      count = s.filterCount
    }
  }
}

/// U[ξ][o][c] = G w[o][c] Gᵀ for the forward shape `s`; with `transposed` (the input gradient's
/// shape) U[ξ][c][o] from the forward weights w[o][c], flipped.
func winogradTransformFilters(
  _ s: WinogradShape, weight: UnsafePointer<Float>, transposed: Bool,
  into u: UnsafeMutablePointer<Float>
) {
  precondition(
    !transposed || s.spaceToDepth == nil, "Winograd: a strided shape has no input gradient here")
  let stride = s.outChannels * s.inPerGroup
  let area = s.variant.kernel * s.variant.kernel
  Parallel.forEachChunk(s.outChannels, minimumChunk: 16) { rows in
    // A strided shape's view kernels are gathered here first (25 floats at most).
    withUnsafeTemporaryAllocation(of: Float.self, capacity: area) { gathered in
      for row in rows {
        for column in 0..<s.inPerGroup {
          let source: UnsafePointer<Float>
          if let view = s.spaceToDepth {
            view.gatherKernel(
              row * s.inPerGroup + column, inPerGroup: s.inPerGroup, weight: weight,
              into: gathered.baseAddress!)
            source = UnsafePointer(gathered.baseAddress!)
          } else {
            // Forward: w[row][column]. Input gradient: the forward weight of output channel
            // (group's first + column) and input channel (row's index inside its group).
            let kernel =
              transposed
              ? ((row / s.outPerGroup) * s.inPerGroup + column) * s.outPerGroup + row
                % s.outPerGroup
              : row * s.inPerGroup + column
            source = weight + area * kernel
          }
          transformFilter(
            s.variant, source, flipped: transposed, output: u + row * s.inPerGroup + column,
            stride: stride)
        }
      }
    }
  }
}

/// One r×r kernel's filter transform by `variant`, into `output + ξ·stride`.
@inline(__always)
private func transformFilter(
  _ variant: WinogradVariant, _ kernel: UnsafePointer<Float>, flipped: Bool,
  output: UnsafeMutablePointer<Float>, stride: Int
) {
  switch variant {
  case .f2x2:
    winogradFilterTransform(kernel, flipped: flipped, output: output, stride: stride)
  case .f4x4:
    winograd4x4FilterTransform(kernel, flipped: flipped, output: output, stride: stride)
  case .f2x2Kernel5:
    winograd5x5FilterTransform(kernel, flipped: flipped, output: output, stride: stride)
  case .f3x3Kernel5:
    winograd3x3Kernel5FilterTransform(kernel, flipped: flipped, output: output, stride: stride)
  }
}

// MARK: - Entry points

/// Winograd forward of `g` (stride 1, or strided through space to depth) by `variant`: same
/// contract as `conv2dForward`.
/// Transforms the filters into `workspace` slot 3 on every call;
/// `winogradConv2dForward(_:input:filters:...)` takes them transformed.
public func winogradConv2dForward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?,
  activation: Activation = .identity, output: UnsafeMutablePointer<Float>, workspace: Workspace,
  variant: WinogradVariant = .f2x2
) {
  precondition(
    variant.supportsForwardAndWeightGradient(g),
    "Winograd \(variant): \(g) is not its forward shape")
  let s = WinogradShape(forward: g, variant: variant)
  let u = workspace.floats(s.filterCount, slot: 3)
  winogradTransformFilters(s, weight: weight, transposed: false, into: u)
  winogradCorrelate(
    s, batch: g.batch, input: input, mask: nil, filters: u, bias: bias, activation: activation,
    output: output, workspace: workspace)
}

/// Winograd forward with filters transformed beforehand (`filters.geometry` may have another batch).
public func winogradConv2dForward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, filters: WinogradFilters,
  bias: UnsafePointer<Float>?,
  activation: Activation = .identity, output: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  precondition(
    filters.geometry.withBatch(g.batch) == g,
    "Winograd: filters for \(filters.geometry), used for \(g)")
  filters.scalars.withUnsafeBufferPointer { u in
    winogradCorrelate(
      WinogradShape(forward: g, variant: filters.variant), batch: g.batch, input: input, mask: nil,
      filters: u.baseAddress!,
      bias: bias, activation: activation, output: output, workspace: workspace)
  }
}

/// Overwrites `inputGradient` with the input gradient of `g` (stride 1) for `outputGradient`;
/// with `activatedOutput` (the output of a fused ReLU) the gradient is masked where it was off.
/// Uses `workspace` slots 0, 1 and 3.
public func winogradConv2dInputGradient(
  _ g: ConvGeometry, weight: UnsafePointer<Float>, activatedOutput: UnsafePointer<Float>? = nil,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
  workspace: Workspace, variant: WinogradVariant = .f2x2
) {
  precondition(variant.supports(g), "Winograd \(variant): \(g) is not its kernel at stride 1")
  let s = WinogradShape(inputGradientOf: g, variant: variant)
  let u = workspace.floats(s.filterCount, slot: 3)
  winogradTransformFilters(s, weight: weight, transposed: true, into: u)
  winogradCorrelate(
    s, batch: g.batch, input: outputGradient, mask: activatedOutput, filters: u, bias: nil,
    activation: .identity, output: inputGradient, workspace: workspace)
}

// MARK: - Schedule

/// The correlation of `batch` images on one thread per core, each with single-threaded products
/// on its own workspace. With `dynamicShards`, the threads take chunks of images from a shared
/// counter until none is left, instead of a fixed half of the batch each: when another process
/// slows one core, the other thread takes more chunks instead of waiting for the slow half
/// (conv3-5 at batch 32 on this loaded machine, static against dynamic alternately, 7 rounds
/// each, twice: medians 1-12% lower dynamic in both runs, the slowest round lower in 4 of 6).
func winogradCorrelate(
  _ s: WinogradShape, batch: Int, input: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
  filters: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
  output: UnsafeMutablePointer<Float>, workspace: Workspace, dynamicShards: Bool = true
) {
  let shards = Parallel.shardCount(for: batch)
  func images(_ first: Int, _ count: Int, _ workspace: Workspace) {
    winogradCorrelateImages(
      s, batch: count, input: input + first * s.inputImage,
      mask: mask.map { $0 + first * s.inputImage }, filters: filters, bias: bias,
      activation: activation, output: output + first * s.outputImage, workspace: workspace)
  }
  guard shards > 1 else { return images(0, batch, workspace) }
  workspace.prepareShards(shards)
  guard dynamicShards else {
    return Parallel.forEachShard(batch, shards: shards) { shard, range in
      images(range.lowerBound, range.count, workspace.shard(shard))
    }
  }
  let chunk = s.imagesPerChunk(batch: batch, budget: (1 << 22) / shards)
  let next = Atomic<Int>(0)
  Parallel.forEachShard(batch, shards: shards) { shard, _ in
    while true {
      let first = next.add(chunk, ordering: .relaxed).oldValue
      guard first < batch else { return }
      images(first, Swift.min(chunk, batch - first), workspace.shard(shard))
    }
  }
}

/// Consecutive images, a chunk at a time: transform the input tiles into V[ξ][inChannels][T]
/// (T tiles of the chunk), multiply M[ξ] = U[ξ]·V[ξ] per group, transform back into the output.
func winogradCorrelateImages(
  _ s: WinogradShape, batch: Int, input: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
  filters: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
  output: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  let chunk = s.imagesPerChunk(batch: batch)
  for first in stride(from: 0, to: batch, by: chunk) {
    let images = Swift.min(chunk, batch - first)
    let tiles = images * s.tilesPerImage
    let v = workspace.floats(s.positions * s.inChannels * tiles, slot: 0)
    // Eight spare floats: the output transform reads whole groups of eight tiles past the last.
    let m = workspace.floats(s.positions * s.outChannels * tiles + 8, slot: 1)
    winogradTransformInput(
      s, images: images, input: input + first * s.inputImage,
      mask: mask.map { $0 + first * s.inputImage }, into: v)
    winogradMultiply(s, tiles: tiles, filters: filters, transformed: v, into: m)
    winogradTransformOutput(
      s, images: images, products: m, bias: bias, activation: activation,
      output: output + first * s.outputImage)
  }
}

/// M[ξ] = U[ξ]·V[ξ] for the 16 (or 36) positions and each group: outPerGroup × tiles, inner
/// inPerGroup.
/// Outside a shard the products are shared among the threads, each single-threaded (one product
/// is too small to split well), in row blocks that OpenBLAS multiplies without copying them where
/// it can (`BLAS.rowsPerCall`: the narrow products of a batch-1 pass, and conv1's in training).
func winogradMultiply(
  _ s: WinogradShape, tiles: Int, filters u: UnsafePointer<Float>,
  transformed v: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>
) {
  let products = s.positions * s.groups
  func multiply(_ range: Range<Int>) {
    let rows = BLAS.rowsPerCall(m: s.outPerGroup, n: tiles, k: s.inPerGroup)
    for product in range {
      let xi = product / s.groups
      let group = product % s.groups
      BLAS.sgemm(
        u + xi * s.outChannels * s.inPerGroup + group * s.outPerGroup * s.inPerGroup,
        v + (xi * s.inChannels + group * s.inPerGroup) * tiles,
        into: m + (xi * s.outChannels + group * s.outPerGroup) * tiles,
        m: s.outPerGroup, n: tiles, k: s.inPerGroup, rowsPerCall: rows)
    }
  }
  let shards = Parallel.shardCount(for: products)
  guard shards > 1 else { return multiply(0..<products) }
  Parallel.forEachShard(products, shards: shards) { _, range in multiply(range) }
}

// MARK: - Tensor-level entry points

/// Winograd forward of tensors (as the pointer version); `bias` may be nil. Scratch comes from
/// `workspace`, or from the compute context's when nil.
public func winogradConv2dForward(
  _ g: ConvGeometry, input: Tensor, weight: Tensor, bias: Tensor?,
  activation: Activation = .identity,
  workspace: Workspace? = nil, variant: WinogradVariant = .f2x2
) -> Tensor {
  winogradConv2dForward(
    g, input: input, filters: WinogradFilters(g, weight: weight, variant: variant), bias: bias,
    activation: activation, workspace: workspace)
}

/// Winograd forward of tensors with filters transformed beforehand.
public func winogradConv2dForward(
  _ g: ConvGeometry, input: Tensor, filters: WinogradFilters, bias: Tensor?,
  activation: Activation = .identity,
  workspace: Workspace? = nil
) -> Tensor {
  precondition(
    input.shape == g.inputShape, "Winograd \(g): input \(input.shape), expected \(g.inputShape)")
  precondition(
    bias == nil || bias!.shape == [g.outChannels],
    "Winograd \(g): bias \(bias!.shape), expected [\(g.outChannels)]")
  var output = Tensor(uninitializedShape: g.outputShape)
  let noBias = Tensor(zeros: [0])
  Workspace.using(workspace) { workspace in
    output.withUnsafeMutableBufferPointer { y in
      input.withUnsafeBufferPointer { x in
        (bias ?? noBias).withUnsafeBufferPointer { b in
          winogradConv2dForward(
            g, input: x.baseAddress!, filters: filters, bias: bias == nil ? nil : b.baseAddress!,
            activation: activation, output: y.baseAddress!, workspace: workspace)
        }
      }
    }
  }
  return output
}

/// The input gradient of a stride-1 convolution by Winograd, as a new tensor; with
/// `reluOutput` (the output of a forward with `.relu`), `outputGradient` is that output's gradient.
public func winogradConv2dInputGradient(
  _ g: ConvGeometry, weight: Tensor, reluOutput: Tensor? = nil, outputGradient: Tensor,
  workspace: Workspace? = nil, variant: WinogradVariant = .f2x2
) -> Tensor {
  precondition(
    weight.shape == g.weightShape,
    "Winograd \(g): weight \(weight.shape), expected \(g.weightShape)")
  checkGradientShapes(g, outputGradient: outputGradient, reluOutput: reluOutput)
  var dx = Tensor(uninitializedShape: g.inputShape)
  let mask = reluOutput ?? Tensor(zeros: [0])
  Workspace.using(workspace) { workspace in
    dx.withUnsafeMutableBufferPointer { dx in
      weight.withUnsafeBufferPointer { w in
        outputGradient.withUnsafeBufferPointer { dy in
          mask.withUnsafeBufferPointer { mask in
            winogradConv2dInputGradient(
              g, weight: w.baseAddress!,
              activatedOutput: reluOutput == nil ? nil : mask.baseAddress!,
              outputGradient: dy.baseAddress!, inputGradient: dx.baseAddress!,
              workspace: workspace, variant: variant)
          }
        }
      }
    }
  }
  return dx
}

/// The tensor-level gradient entry points' shape checks: the output gradient and a fused ReLU's
/// output (when given) have the output's shape.
func checkGradientShapes(_ g: ConvGeometry, outputGradient: Tensor, reluOutput: Tensor?) {
  precondition(
    outputGradient.shape == g.outputShape,
    "Winograd \(g): output gradient \(outputGradient.shape), expected \(g.outputShape)")
  precondition(
    reluOutput == nil || reluOutput!.shape == g.outputShape,
    "Winograd \(g): ReLU output \(reluOutput!.shape), expected \(g.outputShape)")
}
