import RealModule

/// Local response normalisation across channels (Krizhevsky et al. 2012, §3.3):
/// b_c = a_c / (k + α' · Σ_{j ∈ W(c)} a_j²)^β, where W(c) = [c − ⌊n/2⌋, c + ⌊(n−1)/2⌋] clipped to
/// the channels. The paper's values are n = 5, k = 2, α = 1e-4, β = 0.75.
///
/// Conventions differ in α': Caffe, PyTorch (`nn.LocalResponseNorm`) and the paper as Caffe reads
/// it divide α by n (`.averaged`, the default); TensorFlow's `tf.nn.lrn` uses α as given
/// (`.summed`), with depth_radius = (n − 1) / 2. Choose `.summed` to match TensorFlow weights.
public struct LRNParameters: Equatable, Hashable, Sendable, CustomStringConvertible {
  public enum AlphaConvention: String, Sendable, Hashable {
    /// α' = α / n (Caffe, PyTorch).
    case averaged
    /// α' = α (TensorFlow's tf.nn.lrn).
    case summed
  }

  public var size: Int
  public var alpha: Float
  public var beta: Float
  public var k: Float
  public var convention: AlphaConvention

  public init(
    size: Int = 5, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 2,
    convention: AlphaConvention = .averaged
  ) {
    precondition(size > 0, "LRN size must be positive, got \(size)")
    (self.size, self.alpha, self.beta, self.k, self.convention) = (size, alpha, beta, k, convention)
  }

  /// The paper's n = 5, k = 2, α = 1e-4, β = 0.75, with α divided by n.
  public static let alexNet = LRNParameters()

  /// The multiplier of the sum of squares.
  public var effectiveAlpha: Float { convention == .averaged ? alpha / Float(size) : alpha }
  /// Channels before and after c in its window.
  var before: Int { size / 2 }
  var after: Int { (size - 1) / 2 }

  public var description: String { "LRN n=\(size) α=\(alpha) β=\(beta) k=\(k) (\(convention))" }
}

// MARK: - Naive reference

/// Reference LRN: the formula, one element at a time. Input [N, C, H, W] (or [N, C]).
public func localResponseNormForwardNaive(_ p: LRNParameters, input: Tensor) -> Tensor {
  let (n, c, plane) = lrnDimensions(input)
  let x = input.scalars
  var y = x
  for image in 0..<n {
    for channel in 0..<c {
      for i in 0..<plane {
        var sum: Double = 0
        for j in Swift.max(0, channel - p.before)...Swift.min(c - 1, channel + p.after) {
          let a = Double(x[(image * c + j) * plane + i])
          sum += a * a
        }
        let index = (image * c + channel) * plane + i
        y[index] = Float(
          Double(x[index])
            / Double.pow(Double(p.k) + Double(p.effectiveAlpha) * sum, Double(p.beta)))
      }
    }
  }
  return Tensor(shape: input.shape, scalars: y)
}

/// Reference backward, from the partial derivatives:
/// ∂b_i/∂a_j = δ_ij·s_i^−β − 2α'β·a_i·a_j·s_i^(−β−1) for j in W(i).
public func localResponseNormBackwardNaive(
  _ p: LRNParameters, input: Tensor, outputGradient: Tensor
) -> Tensor {
  precondition(
    outputGradient.shape == input.shape,
    "LRN: output gradient \(outputGradient.shape), expected \(input.shape)")
  let (n, c, plane) = lrnDimensions(input)
  let x = input.scalars
  let dy = outputGradient.scalars
  var dx = [Double](repeating: 0, count: x.count)
  let alpha = Double(p.effectiveAlpha)
  let beta = Double(p.beta)
  for image in 0..<n {
    for i in 0..<plane {
      for channel in 0..<c {
        let window = Swift.max(0, channel - p.before)...Swift.min(c - 1, channel + p.after)
        var sum: Double = 0
        for j in window {
          sum += Double(x[(image * c + j) * plane + i]) * Double(x[(image * c + j) * plane + i])
        }
        let s = Double(p.k) + alpha * sum
        let out = (image * c + channel) * plane + i
        let g = Double(dy[out])
        let a = Double(x[out])
        dx[out] += g * Double.pow(s, -beta)
        for j in window {
          let index = (image * c + j) * plane + i
          dx[index] -= g * 2 * alpha * beta * a * Double(x[index]) * Double.pow(s, -beta - 1)
        }
      }
    }
  }
  return Tensor(shape: input.shape, scalars: dx.map { Float($0) })
}

func lrnDimensions(_ input: Tensor) -> (batch: Int, channels: Int, plane: Int) {
  precondition(
    input.rank == 4 || input.rank == 2, "LRN needs [N, C, H, W] or [N, C] input, got \(input.shape)"
  )
  return (input.shape[0], input.shape[1], input.rank == 4 ? input.shape[2] * input.shape[3] : 1)
}

// MARK: - Fast version

/// Fast LRN over whole channel planes, parallel over blocks of (image, plane chunk): squares once
/// into a per-thread buffer, then one pass per channel adds its window's n rows and normalises,
/// eight lanes at a time (β = 0.75, the paper's, takes packed square roots instead of `pow`).
/// Overwrites `output`. The scale s = k + α'·Σa² is not kept: the backward pass recomputes it from
/// the input, which is cheaper than writing and reading it back, and saves a tensor per layer.
public func localResponseNormForward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  forEachLRNBlock(
    batch: batch, channels: channels, plane: plane, buffers: 1,
    workspace: workspace
  ) { base, range, squares in
    let width = range.count
    storeSquares(
      of: input + base + range.lowerBound, plane: plane, channels: channels, width: width,
      into: squares)
    for c in 0..<channels {
      let offset = base + c * plane + range.lowerBound
      let x = input + offset
      let y = output + offset
      forEachScaleLane(p, channel: c, channels: channels, width: width, squares: squares) {
        i, _, power in
        y.store8(x.load8(i) * power, i)
      } scalar: { i, _, power in
        y[i] = x[i] * power
      }
    }
  }
}

/// Fast backward (Caffe's form): dx_c = dy_c·s_c^−β − 2α'β·a_c·Σ_{i: c ∈ W(i)} dy_i·a_i·s_i^(−β−1),
/// with the scales recomputed from the input block by block. Overwrites `inputGradient`.
public func localResponseNormBackward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
  inputGradient: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  let factor = 2 * p.effectiveAlpha * p.beta
  let factor8 = Float8(repeating: factor)
  forEachLRNBlock(
    batch: batch, channels: channels, plane: plane, buffers: 3,
    workspace: workspace
  ) { base, range, buffer in
    let width = range.count
    let rows = channels * width
    let squares = buffer
    let powers = buffer + rows
    let ratios = buffer + 2 * rows
    storeSquares(
      of: input + base + range.lowerBound, plane: plane, channels: channels, width: width,
      into: squares)
    for c in 0..<channels {
      let offset = base + c * plane + range.lowerBound
      let x = input + offset
      let dy = outputGradient + offset
      let power = powers + c * width
      let ratio = ratios + c * width
      forEachScaleLane(p, channel: c, channels: channels, width: width, squares: squares) {
        i, s, pw in
        power.store8(pw, i)
        ratio.store8(dy.load8(i) * x.load8(i) * pw / s, i)
      } scalar: { i, s, pw in
        power[i] = pw
        ratio[i] = dy[i] * x[i] * pw / s
      }
    }
    for c in 0..<channels {
      let offset = base + c * plane + range.lowerBound
      let dx = inputGradient + offset
      let dy = outputGradient + offset
      let x = input + offset
      let power = powers + c * width
      // Channel c lies in the windows of channels c − after ... c + before.
      let window = Swift.max(0, c - p.after)...Swift.min(channels - 1, c + p.before)
      forEightAndRest(
        width,
        vector: { j in
          let sum = windowSum8(of: ratios, width: width, rows: window, at: j)
          dx.store8(dy.load8(j) * power.load8(j) - factor8 * x.load8(j) * sum, j)
        },
        scalar: { j in
          dx[j] =
            dy[j] * power[j] - factor * x[j]
            * windowSum(of: ratios, width: width, rows: window, at: j)
        })
    }
  }
}

/// Writes a² for `width` positions of every channel plane starting at `x` into rows of `squares`.
@inline(__always)
private func storeSquares(
  of x: UnsafePointer<Float>, plane: Int, channels: Int, width: Int,
  into squares: UnsafeMutablePointer<Float>
) {
  for c in 0..<channels {
    let row = x + c * plane
    let sq = squares + c * width
    forEightAndRest(
      width,
      vector: { i in
        let v = row.load8(i)
        sq.store8(v * v, i)
      },
      scalar: { i in sq[i] = row[i] * row[i] })
  }
}

/// For each position of channel `c`, the scale s = k + α'·Σ_{j ∈ W(c)} a_j² from the rows of squares
/// and s^−β: `vector` gets eight positions at a time, `scalar` the rest.
@inline(__always)
private func forEachScaleLane(
  _ p: LRNParameters, channel c: Int, channels: Int, width: Int,
  squares: UnsafeMutablePointer<Float>,
  vector: (Int, Float8, Float8) -> Void, scalar: (Int, Float, Float) -> Void
) {
  let window = Swift.max(0, c - p.before)...Swift.min(channels - 1, c + p.after)
  let (k, alpha, beta) = (p.k, p.effectiveAlpha, p.beta)
  let k8 = Float8(repeating: k)
  let alpha8 = Float8(repeating: alpha)
  forEightAndRest(
    width,
    vector: { i in
      let s = k8 + alpha8 * windowSum8(of: squares, width: width, rows: window, at: i)
      if beta == 0.75 {
        let r = 1 / squareRoot8(s)
        vector(i, s, r * squareRoot8(r))
      } else {
        var power = Float8()
        for lane in 0..<8 { power[lane] = Float.pow(s[lane], -beta) }
        vector(i, s, power)
      }
    },
    scalar: { i in
      let s = k + alpha * windowSum(of: squares, width: width, rows: window, at: i)
      if beta == 0.75 {
        let r = 1 / s.squareRoot()
        scalar(i, s, r * r.squareRoot())
      } else {
        scalar(i, s, Float.pow(s, -beta))
      }
    })
}

/// Σ over the channel rows `rows` (each `width` long, from `matrix`) of column i, eight columns at a time.
@inline(__always)
private func windowSum8(
  of matrix: UnsafeMutablePointer<Float>, width: Int, rows: ClosedRange<Int>, at i: Int
) -> Float8 {
  var sum = (matrix + rows.lowerBound * width).load8(i)
  for row in rows.dropFirst() { sum += (matrix + row * width).load8(i) }
  return sum
}

/// Σ over the channel rows `rows` (each `width` long, from `matrix`) of column i.
@inline(__always)
private func windowSum(
  of matrix: UnsafeMutablePointer<Float>, width: Int, rows: ClosedRange<Int>, at i: Int
) -> Float {
  var sum = matrix[rows.lowerBound * width + i]
  for row in rows.dropFirst() { sum += matrix[row * width + i] }
  return sum
}

/// Splits the work into (image, plane-chunk) blocks whose rows for all channels fit 64 KB per
/// buffer (L2-resident) and runs them in parallel; `body` gets the image's base offset, the plane
/// range and a scratch of `buffers` × channels × range floats, its chunk's part of `workspace`.
func forEachLRNBlock(
  batch: Int, channels: Int, plane: Int, buffers: Int, workspace: Workspace,
  _ body: (Int, Range<Int>, UnsafeMutablePointer<Float>) -> Void
) {
  let chunkWidth = Swift.max(64, Swift.min(plane, (1 << 14) / Swift.max(channels, 1)))
  let chunksPerImage = (plane + chunkWidth - 1) / chunkWidth
  workspace.prepareShards(Parallel.chunkCount(batch * chunksPerImage, minimumChunk: 2))
  Parallel.forEachIndexedChunk(batch * chunksPerImage, minimumChunk: 2) { chunk, blocks in
    let buffer = workspace.shard(chunk).floats(buffers * channels * chunkWidth, slot: 0)
    for block in blocks {
      let image = block / chunksPerImage
      let chunk = block % chunksPerImage
      let range = (chunk * chunkWidth)..<Swift.min(plane, (chunk + 1) * chunkWidth)
      body(image * channels * plane, range, buffer)
    }
  }
}

/// LRN of a tensor. Scratch comes from `workspace`, or from the compute context's when nil.
public func localResponseNormForward(
  _ p: LRNParameters, input: Tensor, workspace: Workspace? = nil
) -> Tensor {
  let (n, c, plane) = lrnDimensions(input)
  var output = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      Workspace.using(workspace) { workspace in
        localResponseNormForward(
          p, batch: n, channels: c, plane: plane, input: x.baseAddress!,
          output: y.baseAddress!, workspace: workspace)
      }
    }
  }
  return output
}

/// The input gradient of an LRN from its forward input (the scales are recomputed). Scratch as in
/// the forward.
public func localResponseNormBackward(
  _ p: LRNParameters, input: Tensor, outputGradient: Tensor, workspace: Workspace? = nil
) -> Tensor {
  let (n, c, plane) = lrnDimensions(input)
  precondition(
    outputGradient.shape == input.shape,
    "LRN backward: output gradient \(outputGradient.shape), expected \(input.shape)")
  var dx = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    outputGradient.withUnsafeBufferPointer { dy in
      dx.withUnsafeMutableBufferPointer { dx in
        Workspace.using(workspace) { workspace in
          localResponseNormBackward(
            p, batch: n, channels: c, plane: plane, input: x.baseAddress!,
            outputGradient: dy.baseAddress!, inputGradient: dx.baseAddress!,
            workspace: workspace)
        }
      }
    }
  }
  return dx
}
