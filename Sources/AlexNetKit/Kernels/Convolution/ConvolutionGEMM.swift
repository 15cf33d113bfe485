// The im2col + GEMM path over consecutive images on the calling thread: forward, backward and
// the loops they share.

/// Forward of consecutive images on the calling thread's BLAS setting. Per chunk of B images:
/// im2col of all channels into the columns (inChannels·k² rows × B·P), then per group one SGEMM,
/// W_g (outC/g × K) · cols_g (K × B·P), K = inChannels/groups·k²; the product is scattered into
/// NCHW with the bias added and the activation applied, while the chunk is still in cache.
func conv2dForwardImages(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, activation: Activation, output: UnsafeMutablePointer<Float>,
  workspace: Workspace
) {
  let plane = g.outputPlane
  let patch = g.columnRows
  let outPerGroup = g.outChannels / g.groups
  let inputImage = g.inChannels * g.height * g.width
  let outputImage = g.outChannels * plane
  forEachImageChunk(g) { first, images in
    let rowLength = images * plane
    let columns = workspace.floats(g.inChannels * g.kernel * g.kernel * rowLength, slot: 0)
    fillColumns(g, input: input + first * inputImage, images: images, columns: columns)
    if images == 1 {
      // One image: the product lands in NCHW order already, on top of the bias.
      let out = output + first * outputImage
      fillRows(out, rows: g.outChannels, length: plane, with: bias)
      for group in 0..<g.groups {
        BLAS.sgemm(
          weight + group * outPerGroup * patch, columns + group * patch * rowLength,
          into: out + group * outPerGroup * plane, m: outPerGroup, n: plane, k: patch, beta: 1)
      }
      if activation == .relu { reluForward(count: outputImage, input: out, output: out) }
    } else {
      let product = workspace.floats(g.outChannels * rowLength, slot: 1)
      for group in 0..<g.groups {
        BLAS.sgemm(
          weight + group * outPerGroup * patch, columns + group * patch * rowLength,
          into: product + group * outPerGroup * rowLength, m: outPerGroup, n: rowLength, k: patch)
      }
      // Product is [outC, B·P]; NCHW wants [B, outC, P].
      let out = output + first * outputImage
      Parallel.forEachChunk(images * g.outChannels, minimumChunk: 16) { units in
        for unit in units {
          let b = unit / g.outChannels
          let o = unit % g.outChannels
          let from = product + o * rowLength + b * plane
          let to = out + b * outputImage + o * plane
          let shift = bias?[o] ?? 0
          switch activation {
          case .identity: for p in 0..<plane { to[p] = from[p] + shift }
          case .relu: addShiftAndReLU(count: plane, from, shift: shift, into: to)
          }
        }
      }
    }
  }
}

/// Backward of consecutive images on the calling thread's BLAS setting.
func conv2dBackwardImages(
  _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  activatedOutput: UnsafePointer<Float>?, outputGradient: UnsafePointer<Float>,
  inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true, workspace: Workspace
) {
  let plane = g.outputPlane
  let patch = g.columnRows
  let outPerGroup = g.outChannels / g.groups
  let inputImage = g.inChannels * g.height * g.width
  let outputImage = g.outChannels * plane
  forEachImageChunk(g) { first, images in
    let rowLength = images * plane
    let gradient = gatherOutputGradient(
      g, images: images, outputGradient: outputGradient + first * outputImage,
      activatedOutput: activatedOutput.map { $0 + first * outputImage }, workspace: workspace)
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
      let groupColumns = columns + group * patch * rowLength
      let groupGradient = gradient + group * outPerGroup * rowLength
      BLAS.sgemm(
        groupGradient, groupColumns, transposeB: true,
        into: weightGradient + group * outPerGroup * patch,
        m: outPerGroup, n: patch, k: rowLength, beta: overwrite ? 0 : 1)
      if inputGradient != nil {
        // The group's columns are spent: its rows now receive dCols.
        BLAS.sgemm(
          weight + group * outPerGroup * patch, transposeA: true, groupGradient,
          into: groupColumns, m: patch, n: rowLength, k: outPerGroup)
      }
    }
    if let inputGradient {
      fillImages(g, columns: columns, images: images, output: inputGradient + first * inputImage)
    }
  }
}

/// dY of `images` consecutive images as the [outC, B·P] matrix the backward GEMMs take, masked
/// by a fused ReLU's output when given (in `workspace` slot 1); a single unmasked image is that
/// matrix already.
func gatherOutputGradient(
  _ g: ConvGeometry, images: Int, outputGradient dy: UnsafePointer<Float>,
  activatedOutput y: UnsafePointer<Float>?, workspace: Workspace
) -> UnsafePointer<Float> {
  if images == 1 && y == nil { return dy }
  let plane = g.outputPlane
  let rowLength = images * plane
  let outputImage = g.outChannels * plane
  let gathered = workspace.floats(g.outChannels * rowLength, slot: 1)
  Parallel.forEachChunk(images * g.outChannels, minimumChunk: 16) { units in
    for unit in units {
      let b = unit / g.outChannels
      let o = unit % g.outChannels
      let to = gathered + o * rowLength + b * plane
      let from = dy + b * outputImage + o * plane
      if let y {
        keepWherePositive(count: plane, from, where: y + b * outputImage + o * plane, into: to)
      } else {
        to.update(from: from, count: plane)
      }
    }
  }
  return UnsafePointer(gathered)
}

/// col2im of `images` consecutive images' columns into their NCHW gradients, in parallel over
/// (image, channel): overlapping windows sum.
func fillImages(
  _ g: ConvGeometry, columns: UnsafeMutablePointer<Float>, images: Int,
  output: UnsafeMutablePointer<Float>
) {
  let plane = g.outputPlane
  let rowLength = images * plane
  let inputImage = g.inChannels * g.height * g.width
  Parallel.forEachChunk(images * g.inChannels, minimumChunk: 4) { units in
    for unit in units {
      let b = unit / g.inChannels
      let c = unit % g.inChannels
      col2im(
        g, columns: columns, rowLength: rowLength, columnOffset: b * plane,
        image: output + b * inputImage, channels: c..<(c + 1))
    }
  }
}

/// im2col of `images` consecutive images side by side, in parallel over (image, channel, kernel
/// row), so that even a 3-channel input splits evenly across threads.
func fillColumns(
  _ g: ConvGeometry, input: UnsafePointer<Float>, images: Int, columns: UnsafeMutablePointer<Float>
) {
  let rowLength = images * g.outputPlane
  let inputImage = g.inChannels * g.height * g.width
  let rowsPerImage = g.inChannels * g.kernel
  Parallel.forEachChunk(images * rowsPerImage, minimumChunk: 8) { units in
    for unit in units {
      let b = unit / rowsPerImage
      let row = unit % rowsPerImage
      im2col(
        g, image: input + b * inputImage, channel: row / g.kernel,
        kernelRows: (row % g.kernel)..<(row % g.kernel + 1),
        columns: columns, rowLength: rowLength, columnOffset: b * g.outputPlane)
    }
  }
}

/// Sets each of `rows` rows of `length` to its bias value (zero without a bias).
func fillRows(
  _ matrix: UnsafeMutablePointer<Float>, rows: Int, length: Int, with bias: UnsafePointer<Float>?
) {
  for r in 0..<rows { (matrix + r * length).update(repeating: bias?[r] ?? 0, count: length) }
}
