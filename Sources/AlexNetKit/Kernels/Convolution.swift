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
      throw ShapeError("convolution of \(input) to \(outChannels) channels: extents must be positive")
    }
    guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
      throw ShapeError(
        "convolution of \(input) to \(outChannels) channels: \(groups) groups must divide both channel counts")
    }
    let rows: (output: Int, before: Int), columns: (output: Int, before: Int)
    do {
      rows = try padding.resolve(input: height, window: kernel, stride: stride)
      columns = try padding.resolve(input: width, window: kernel, stride: stride)
    } catch {
      throw ShapeError("convolution \(kernel)x\(kernel) stride \(stride) \(padding) of \(input): \(error.message)")
    }
    (self.batch, self.inChannels, self.height, self.width) = (batch, inChannels, height, width)
    (self.outChannels, self.kernel, self.stride, self.groups) = (outChannels, kernel, stride, groups)
    self.padding = padding
    (outHeight, padTop, outWidth, padLeft) = (rows.output, rows.before, columns.output, columns.before)
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
      batch: newBatch, inChannels: inChannels, height: height, width: width, outChannels: outChannels,
      kernel: kernel, stride: stride, padding: padding, groups: groups)
  }

  /// "2x4x9x10 * 6x2x3x3 s2 p1 g2": input, weights, stride, padding and groups.
  public var description: String {
    "\(batch)x\(inChannels)x\(height)x\(width) * \(outChannels)x\(inChannels / groups)x\(kernel)x\(kernel)"
      + " s\(stride) \(padding)\(groups > 1 ? " g\(groups)" : "")"
  }
}

// MARK: - Naive reference

/// Reference convolution: the textbook sum, one output element at a time (zero padding, groups).
/// Slow and plainly right; the im2col + GEMM path is tested and timed against it.
public func conv2dForwardNaive(_ g: ConvGeometry, input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  g.checkShapes(input: input, weight: weight, bias: bias)
  let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
  var y = Tensor(zeros: g.outputShape)
  let x = input.scalars, w = weight.scalars, b = bias?.scalars
  y.withUnsafeMutableBufferPointer { y in
    for n in 0..<g.batch {
      for o in 0..<g.outChannels {
        for oy in 0..<g.outHeight {
          for ox in 0..<g.outWidth {
            var sum = b?[o] ?? 0
            for c in 0..<inPerGroup {
              let channel = (o / outPerGroup) * inPerGroup + c
              for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                  let iy = oy * g.stride - g.padTop + ky, ix = ox * g.stride - g.padLeft + kx
                  guard 0 <= iy, iy < g.height, 0 <= ix, ix < g.width else { continue }  // zero padding
                  sum += x[((n * g.inChannels + channel) * g.height + iy) * g.width + ix]
                    * w[((o * inPerGroup + c) * g.kernel + ky) * g.kernel + kx]
                }
              }
            }
            y[((n * g.outChannels + o) * g.outHeight + oy) * g.outWidth + ox] = sum
          }
        }
      }
    }
  }
  return y
}

/// Reference backward: for every output gradient element, the weights it came through send it to
/// the input, and the input cells it saw send it to the weights.
public func conv2dBackwardNaive(
  _ g: ConvGeometry, input: Tensor, weight: Tensor, outputGradient: Tensor
) -> (input: Tensor, weight: Tensor, bias: Tensor) {
  g.checkShapes(input: input, weight: weight, bias: nil)
  precondition(outputGradient.shape == g.outputShape,
               "convolution \(g): output gradient \(outputGradient.shape), expected \(g.outputShape)")
  let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
  let x = input.scalars, w = weight.scalars, dy = outputGradient.scalars
  var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
  var db = [Float](repeating: 0, count: g.outChannels)
  for n in 0..<g.batch {
    for o in 0..<g.outChannels {
      for oy in 0..<g.outHeight {
        for ox in 0..<g.outWidth {
          let gradient = dy[((n * g.outChannels + o) * g.outHeight + oy) * g.outWidth + ox]
          db[o] += gradient
          for c in 0..<inPerGroup {
            let channel = (o / outPerGroup) * inPerGroup + c
            for ky in 0..<g.kernel {
              for kx in 0..<g.kernel {
                let iy = oy * g.stride - g.padTop + ky, ix = ox * g.stride - g.padLeft + kx
                guard 0 <= iy, iy < g.height, 0 <= ix, ix < g.width else { continue }
                let xi = ((n * g.inChannels + channel) * g.height + iy) * g.width + ix
                let wi = ((o * inPerGroup + c) * g.kernel + ky) * g.kernel + kx
                dw[wi] += gradient * x[xi]
                dx[xi] += gradient * w[wi]
              }
            }
          }
        }
      }
    }
  }
  return (Tensor(shape: g.inputShape, scalars: dx), Tensor(shape: g.weightShape, scalars: dw),
          Tensor(shape: [g.outChannels], scalars: db))
}

extension ConvGeometry {
  func checkShapes(input: Tensor, weight: Tensor, bias: Tensor?) {
    precondition(input.shape == inputShape, "convolution \(self): input \(input.shape), expected \(inputShape)")
    precondition(weight.shape == weightShape,
                 "convolution \(self): weight \(weight.shape), expected \(weightShape)")
    if let bias {
      precondition(bias.shape == [outChannels], "convolution \(self): bias \(bias.shape), expected [\(outChannels)]")
    }
  }

  /// Images per GEMM, as the fast path chunks the batch (the benchmark mirrors its SGEMMs).
  public var imagesPerChunkForBenchmark: Int { imagesPerChunk() }

  /// Images per GEMM: as many as keep the column matrix and the GEMM output within `budget`
  /// floats (8 MB), so one product covers a few images while the columns im2col writes are
  /// still in cache when the GEMM reads them; larger chunks spill to memory and im2col then costs
  /// as much as the GEMM (measured on conv3-5 at 13x13).
  /// Inside a batch shard the threads share the cache, so each gets its part of the budget.
  func imagesPerChunk(budget: Int = 1 << 21) -> Int {
    let context = ComputeContext.current
    let budget = context.isInsideShard ? budget / context.threadCount : budget
    // A plane this wide already makes a GEMM wide enough; batching would only add the scatter
    // into NCHW and push the columns out of cache (conv1: 3025 positions per image).
    if outputPlane >= 1024 { return 1 }
    let perImage = (inChannels * kernel * kernel + outChannels) * outputPlane
    return Swift.max(1, Swift.min(batch, budget / Swift.max(perImage, 1)))
  }
}

// MARK: - im2col + GEMM

/// Fast forward. The batch is split into one shard of images per thread (`Parallel.forEachShard`),
/// each convolved by `conv2dForwardImages` with single-threaded GEMMs; a single image gets
/// OpenBLAS's threads instead. Overwrites `output`. Scratch comes from `workspace` (slots 0 and 1)
/// and, for the other shards, the workspaces it keeps for them.
public func conv2dForward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, activation: Activation = .identity, output: UnsafeMutablePointer<Float>,
  workspace: Workspace
) {
  let shards = Parallel.shardCount(for: g.batch)
  guard shards > 1 else {
    return conv2dForwardImages(g, input: input, weight: weight, bias: bias, activation: activation, output: output,
                               workspace: workspace)
  }
  let inputImage = g.inChannels * g.height * g.width, outputImage = g.outChannels * g.outputPlane
  workspace.prepareShards(shards)
  Parallel.forEachShard(g.batch, shards: shards) { shard, images in
    conv2dForwardImages(g.withBatch(images.count), input: input + images.lowerBound * inputImage, weight: weight,
                        bias: bias, activation: activation, output: output + images.lowerBound * outputImage,
                        workspace: workspace.shard(shard))
  }
}

/// Forward of consecutive images on the calling thread's BLAS setting. Per chunk of B images:
/// im2col of all channels into the columns (inChannels·k² rows × B·P), then per group one SGEMM,
/// W_g (outC/g × K) · cols_g (K × B·P), K = inChannels/groups·k²; the product is scattered into
/// NCHW with the bias added and the activation applied, while the chunk is still in cache.
func conv2dForwardImages(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, activation: Activation, output: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  let P = g.outputPlane, K = g.columnRows
  let outPerGroup = g.outChannels / g.groups
  let inputImage = g.inChannels * g.height * g.width, outputImage = g.outChannels * P
  forEachImageChunk(g) { first, images in
    let rowLength = images * P
    let columns = workspace.floats(g.inChannels * g.kernel * g.kernel * rowLength, slot: 0)
    fillColumns(g, input: input + first * inputImage, images: images, columns: columns)
    if images == 1 {
      // One image: the product lands in NCHW order already, on top of the bias.
      let out = output + first * outputImage
      fillRows(out, rows: g.outChannels, length: P, with: bias)
      for group in 0..<g.groups {
        BLAS.sgemm(weight + group * outPerGroup * K, columns + group * K * rowLength,
                   into: out + group * outPerGroup * P, m: outPerGroup, n: P, k: K, beta: 1)
      }
      if activation == .relu { reluForward(count: outputImage, input: out, output: out) }
    } else {
      let product = workspace.floats(g.outChannels * rowLength, slot: 1)
      for group in 0..<g.groups {
        BLAS.sgemm(weight + group * outPerGroup * K, columns + group * K * rowLength,
                   into: product + group * outPerGroup * rowLength, m: outPerGroup, n: rowLength, k: K)
      }
      // Product is [outC, B·P]; NCHW wants [B, outC, P].
      let out = output + first * outputImage
      Parallel.forEachChunk(images * g.outChannels, minimumChunk: 16) { units in
        for unit in units {
          let b = unit / g.outChannels, o = unit % g.outChannels
          let from = product + o * rowLength + b * P, to = out + b * outputImage + o * P
          let shift = bias?[o] ?? 0
          switch activation {
          case .identity: for p in 0..<P { to[p] = from[p] + shift }
          case .relu: addShiftAndReLU(count: P, from, shift: shift, into: to)
          }
        }
      }
    }
  }
}

/// Fast backward. Adds into `weightGradient` (dW += dY·colsᵀ per group) and `biasGradient`
/// (db += sums of dY), or with `accumulate: false` writes them over whatever they held (no zero
/// fill needed); overwrites `inputGradient` when given
/// (dCols = Wᵀ·dY per group, then col2im sums overlapping windows). Columns are recomputed
/// from the input rather than kept from the forward pass, which would cost B·K·P floats per layer.
/// With `activatedOutput` (the forward's output after a fused ReLU), `outputGradient` is the
/// gradient of that output and is masked where the ReLU was off.
/// Sharded over the batch like the forward: the first shard writes the gradients, the others
/// their own partial sums (in their workspaces, slot 2), added in at the end.
public func conv2dBackward(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  activatedOutput: UnsafePointer<Float>? = nil,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true, workspace: Workspace
) {
  let shards = Parallel.shardCount(for: g.batch)
  guard shards > 1 else {
    return conv2dBackwardImages(g, input: input, weight: weight, activatedOutput: activatedOutput,
                                outputGradient: outputGradient, inputGradient: inputGradient,
                                weightGradient: weightGradient, biasGradient: biasGradient, accumulate: accumulate,
                                workspace: workspace)
  }
  let inputImage = g.inChannels * g.height * g.width, outputImage = g.outChannels * g.outputPlane
  let weightCount = g.outChannels * g.columnRows, partialCount = weightCount + g.outChannels
  workspace.prepareShards(shards)
  // Shards after the first leave their partial sums in their workspace (slot 2), which the caller
  // owns: a pool thread may take another caller's shard before this one sums the partials.
  func partial(_ shard: Int) -> UnsafeMutablePointer<Float> { workspace.shard(shard).floats(partialCount, slot: 2) }
  Parallel.forEachShard(g.batch, shards: shards) { shard, images in
    var (dw, db) = (weightGradient, biasGradient)
    if shard > 0 { (dw, db) = (partial(shard), biasGradient.map { _ in partial(shard) + weightCount }) }
    conv2dBackwardImages(g.withBatch(images.count), input: input + images.lowerBound * inputImage, weight: weight,
                         activatedOutput: activatedOutput.map { $0 + images.lowerBound * outputImage },
                         outputGradient: outputGradient + images.lowerBound * outputImage,
                         inputGradient: inputGradient.map { $0 + images.lowerBound * inputImage },
                         weightGradient: dw, biasGradient: db, accumulate: shard == 0 && accumulate,
                         workspace: workspace.shard(shard))
  }
  for shard in 1..<shards {
    let dw = partial(shard), db = dw + weightCount
    Parallel.forEachChunk(weightCount, minimumChunk: 1 << 14) { range in
      for i in range { weightGradient[i] += dw[i] }
    }
    if let biasGradient { for o in 0..<g.outChannels { biasGradient[o] += db[o] } }
  }
}

/// Backward of consecutive images on the calling thread's BLAS setting.
func conv2dBackwardImages(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  activatedOutput: UnsafePointer<Float>?, outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true, workspace: Workspace
) {
  let P = g.outputPlane, K = g.columnRows
  let outPerGroup = g.outChannels / g.groups
  let inputImage = g.inChannels * g.height * g.width, outputImage = g.outChannels * P
  forEachImageChunk(g) { first, images in
    let rowLength = images * P
    let dy = outputGradient + first * outputImage
    // dY as [outC, B·P] (masked by a fused ReLU); a single unmasked image is that matrix already.
    let gradient: UnsafePointer<Float>
    if images == 1 && activatedOutput == nil {
      gradient = dy
    } else {
      let gathered = workspace.floats(g.outChannels * rowLength, slot: 1)
      let y = activatedOutput.map { $0 + first * outputImage }
      Parallel.forEachChunk(images * g.outChannels, minimumChunk: 16) { units in
        for unit in units {
          let b = unit / g.outChannels, o = unit % g.outChannels
          let to = gathered + o * rowLength + b * P, from = dy + b * outputImage + o * P
          if let y {
            let on = y + b * outputImage + o * P
            keepWherePositive(count: P, from, where: on, into: to)
          } else {
            to.update(from: from, count: P)
          }
        }
      }
      gradient = UnsafePointer(gathered)
    }
    // The first chunk overwrites the gradients unless accumulating; later chunks add.
    let overwrite = !accumulate && first == 0
    if let biasGradient {
      for o in 0..<g.outChannels {
        let sum = vectorSum(gradient + o * rowLength, count: rowLength)
        biasGradient[o] = overwrite ? sum : biasGradient[o] + sum
      }
    }
    let columns = workspace.floats(g.inChannels * g.kernel * g.kernel * rowLength, slot: 0)
    fillColumns(g, input: input + first * inputImage, images: images, columns: columns)
    for group in 0..<g.groups {
      let groupColumns = columns + group * K * rowLength
      let groupGradient = gradient + group * outPerGroup * rowLength
      BLAS.sgemm(groupGradient, groupColumns, transposeB: true, into: weightGradient + group * outPerGroup * K,
                 m: outPerGroup, n: K, k: rowLength, beta: overwrite ? 0 : 1)
      if inputGradient != nil {
        // The group's columns are spent: its rows now receive dCols.
        BLAS.sgemm(weight + group * outPerGroup * K, transposeA: true, groupGradient,
                   into: groupColumns, m: K, n: rowLength, k: outPerGroup)
      }
    }
    if let inputGradient {
      let dx = inputGradient + first * inputImage
      Parallel.forEachChunk(images * g.inChannels, minimumChunk: 4) { units in
        for unit in units {
          let b = unit / g.inChannels, c = unit % g.inChannels
          col2im(g, columns: columns, rowLength: rowLength, columnOffset: b * P,
                 image: dx + b * inputImage, channels: c..<(c + 1))
        }
      }
    }
  }
}

/// im2col of `images` consecutive images side by side, in parallel over (image, channel, kernel
/// row), so that even a 3-channel input splits evenly across threads.
func fillColumns(_ g: ConvGeometry, input: UnsafePointer<Float>, images: Int, columns: UnsafeMutablePointer<Float>) {
  let rowLength = images * g.outputPlane, inputImage = g.inChannels * g.height * g.width
  let rowsPerImage = g.inChannels * g.kernel
  Parallel.forEachChunk(images * rowsPerImage, minimumChunk: 8) { units in
    for unit in units {
      let b = unit / rowsPerImage, row = unit % rowsPerImage
      im2col(g, image: input + b * inputImage, channel: row / g.kernel, kernelRows: (row % g.kernel)..<(row % g.kernel + 1),
             columns: columns, rowLength: rowLength, columnOffset: b * g.outputPlane)
    }
  }
}

/// Sets each of `rows` rows of `length` to its bias value (zero without a bias).
func fillRows(_ matrix: UnsafeMutablePointer<Float>, rows: Int, length: Int, with bias: UnsafePointer<Float>?) {
  for r in 0..<rows { (matrix + r * length).update(repeating: bias?[r] ?? 0, count: length) }
}

// MARK: - Tensor-level entry points

/// im2col + GEMM convolution of tensors; `bias` may be nil; `activation` is applied to the output.
/// Scratch comes from `workspace`, or from the compute context's when nil.
public func conv2dForward(
  _ g: ConvGeometry, input: Tensor, weight: Tensor, bias: Tensor?, activation: Activation = .identity,
  workspace: Workspace? = nil
) -> Tensor {
  g.checkShapes(input: input, weight: weight, bias: bias)
  // An empty tensor's pointer stands in for "no bias".
  let biasValues = bias ?? Tensor(zeros: [0])
  var output = Tensor(uninitializedShape: g.outputShape)
  Workspace.using(workspace) { workspace in
    output.withUnsafeMutableBufferPointer { y in
      input.withUnsafeBufferPointer { x in
        weight.withUnsafeBufferPointer { w in
          biasValues.withUnsafeBufferPointer { b in
            conv2dForward(g, input: x.baseAddress!, weight: w.baseAddress!, bias: bias == nil ? nil : b.baseAddress!,
                          activation: activation, output: y.baseAddress!, workspace: workspace)
          }
        }
      }
    }
  }
  return output
}

/// Gradients of an im2col + GEMM convolution: input (nil unless `needsInputGradient`), weight
/// and bias, each freshly made. With `reluOutput` (the output of a forward with `.relu`),
/// `outputGradient` is that output's gradient. Scratch as in the forward.
public func conv2dBackward(
  _ g: ConvGeometry, input: Tensor, weight: Tensor, reluOutput: Tensor? = nil, outputGradient: Tensor,
  needsInputGradient: Bool = true, workspace: Workspace? = nil
) -> (input: Tensor?, weight: Tensor, bias: Tensor) {
  g.checkShapes(input: input, weight: weight, bias: nil)
  precondition(outputGradient.shape == g.outputShape,
               "convolution \(g): output gradient \(outputGradient.shape), expected \(g.outputShape)")
  precondition(reluOutput == nil || reluOutput!.shape == g.outputShape,
               "convolution \(g): ReLU output \(reluOutput!.shape), expected \(g.outputShape)")
  // Empty tensors' pointers stand in for "no fused ReLU" and "no input gradient".
  let mask = reluOutput ?? Tensor(zeros: [0])
  var dx = Tensor(uninitializedShape: needsInputGradient ? g.inputShape : [0])
  var dw = Tensor(uninitializedShape: g.weightShape), db = Tensor(uninitializedShape: [g.outChannels])
  Workspace.using(workspace) { workspace in
    input.withUnsafeBufferPointer { x in
      weight.withUnsafeBufferPointer { w in
        outputGradient.withUnsafeBufferPointer { dy in
          dw.withUnsafeMutableBufferPointer { dw in
            db.withUnsafeMutableBufferPointer { db in
              mask.withUnsafeBufferPointer { mask in
                dx.withUnsafeMutableBufferPointer { dx in
                  conv2dBackward(g, input: x.baseAddress!, weight: w.baseAddress!,
                                 activatedOutput: reluOutput == nil ? nil : mask.baseAddress!,
                                 outputGradient: dy.baseAddress!,
                                 inputGradient: needsInputGradient ? dx.baseAddress! : nil,
                                 weightGradient: dw.baseAddress!, biasGradient: db.baseAddress!,
                                 accumulate: false, workspace: workspace)
                }
              }
            }
          }
        }
      }
    }
  }
  return (needsInputGradient ? dx : nil, dw, db)
}

/// Calls `body(first, count)` for consecutive chunks of `g.imagesPerChunk()` images covering the
/// batch: the unit of one im2col and one GEMM per group.
@inline(__always)
private func forEachImageChunk(_ g: ConvGeometry, _ body: (_ first: Int, _ count: Int) -> Void) {
  let chunk = g.imagesPerChunk()
  for first in stride(from: 0, to: g.batch, by: chunk) { body(first, Swift.min(chunk, g.batch - first)) }
}
