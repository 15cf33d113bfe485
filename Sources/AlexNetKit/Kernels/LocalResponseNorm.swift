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

/// Fast LRN, parallel over blocks of (image, run of plane positions): channels in order, each
/// channel's squares into a ring of the last n rows, each channel normalised as soon as its window
/// is in the ring, eight lanes at a time (β = 0.75, the paper's, takes packed square roots instead
/// of `pow`). A block reads every channel's run once, as one long contiguous row (see
/// `lrnBlockWidth`), and the ring stays in L2. Overwrites `output`. The scale s = k + α'·Σa² is
/// not kept: the backward pass recomputes it from the input, which is cheaper than writing and
/// reading it back, and saves a tensor per layer.
public func localResponseNormForward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  forEachLRNBlock(p, batch: batch, channels: channels, plane: plane, rings: 1, workspace: workspace)
  { first, width, ring, window in
    let squares = LRNRing(rows: ring, size: p.size, width: width)
    // Step t squares channel t; channel t − after then has its whole window in the ring.
    for t in 0..<(channels + p.after) {
      if t < channels {
        storeSquares(of: input + first + t * plane, width: width, into: squares[t])
      }
      let c = t - p.after
      guard c >= 0 else { continue }
      let x = input + first + c * plane
      let y = output + first + c * plane
      let rows = squares.gather(p.window(of: c, channels: channels), into: window)
      forEachScaleLane(p, window: window, rows: rows, width: width) { i, _, power in
        y.store8(x.load8(i) * power, i)
      } scalar: { i, _, power in
        y[i] = x[i] * power
      }
    }
  }
}

/// Fast backward (Caffe's form): dx_c = dy_c·s_c^−β − 2α'β·a_c·Σ_{i: c ∈ W(i)} dy_i·a_i·s_i^(−β−1),
/// with the scales recomputed from the input. As the forward, channel by channel through rings of
/// squares, powers s^−β and ratios dy·a·s^(−β−1): channel c's gradient needs the ratios up to
/// c + before, so it comes `before` channels after its scale. Overwrites `inputGradient`.
public func localResponseNormBackward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
  inputGradient: UnsafeMutablePointer<Float>, workspace: Workspace
) {
  let factor = 2 * p.effectiveAlpha * p.beta
  let factor8 = Float8(repeating: factor)
  forEachLRNBlock(p, batch: batch, channels: channels, plane: plane, rings: 3, workspace: workspace)
  { first, width, ring, window in
    let squares = LRNRing(rows: ring, size: p.size, width: width)
    let powers = LRNRing(rows: ring + p.size * width, size: p.size, width: width)
    let ratios = LRNRing(rows: ring + 2 * p.size * width, size: p.size, width: width)
    for t in 0..<(channels + p.after + p.before) {
      if t < channels {
        storeSquares(of: input + first + t * plane, width: width, into: squares[t])
      }
      let i = t - p.after
      if 0 <= i, i < channels {
        let (x, dy) = (input + first + i * plane, outputGradient + first + i * plane)
        let (power, ratio) = (powers[i], ratios[i])
        let rows = squares.gather(p.window(of: i, channels: channels), into: window)
        forEachScaleLane(p, window: window, rows: rows, width: width) { j, s, pw in
          power.store8(pw, j)
          ratio.store8(dy.load8(j) * x.load8(j) * pw / s, j)
        } scalar: { j, s, pw in
          power[j] = pw
          ratio[j] = dy[j] * x[j] * pw / s
        }
      }
      let c = i - p.before
      guard c >= 0 else { continue }
      let offset = first + c * plane
      let (x, dy, dx) = (input + offset, outputGradient + offset, inputGradient + offset)
      let power = powers[c]
      let rows = ratios.gather(p.windows(containing: c, channels: channels), into: window)
      forEightAndRest(
        width,
        vector: { j in
          let sum = windowSum8(window, rows: rows, at: j)
          dx.store8(dy.load8(j) * power.load8(j) - factor8 * x.load8(j) * sum, j)
        },
        scalar: { j in
          dx[j] = dy[j] * power[j] - factor * x[j] * windowSum(window, rows: rows, at: j)
        })
    }
  }
}

extension LRNParameters {
  /// The channels in c's window, clipped to the layer's.
  func window(of c: Int, channels: Int) -> ClosedRange<Int> {
    Swift.max(0, c - before)...Swift.min(channels - 1, c + after)
  }

  /// The channels whose windows hold c: c − after ... c + before, clipped to the layer's.
  func windows(containing c: Int, channels: Int) -> ClosedRange<Int> {
    Swift.max(0, c - after)...Swift.min(channels - 1, c + before)
  }
}

/// The rows of the last `size` channels of a block: channel c's row is row c mod size.
struct LRNRing {
  let rows: UnsafeMutablePointer<Float>
  let size, width: Int

  subscript(channel: Int) -> UnsafeMutablePointer<Float> { rows + (channel % size) * width }

  /// The rows of `channels` (at most `size`, all in the ring), in channel order, into `pointers`;
  /// returns how many.
  func gather(
    _ channels: ClosedRange<Int>, into pointers: UnsafeMutablePointer<UnsafePointer<Float>>
  ) -> Int {
    for (index, channel) in channels.enumerated() { pointers[index] = UnsafePointer(self[channel]) }
    return channels.count
  }
}

/// Writes a² for `width` positions from `x` into `squares`.
@inline(__always)
private func storeSquares(
  of x: UnsafePointer<Float>, width: Int, into squares: UnsafeMutablePointer<Float>
) {
  forEightAndRest(
    width,
    vector: { i in
      let v = x.load8(i)
      squares.store8(v * v, i)
    },
    scalar: { i in squares[i] = x[i] * x[i] })
}

/// For each of `width` positions, the scale s = k + α'·Σ a² over the `rows` rows of squares at
/// `window` and s^−β: `vector` gets eight positions at a time, `scalar` the rest.
@inline(__always)
private func forEachScaleLane(
  _ p: LRNParameters, window: UnsafePointer<UnsafePointer<Float>>, rows: Int, width: Int,
  vector: (Int, Float8, Float8) -> Void, scalar: (Int, Float, Float) -> Void
) {
  let (k, alpha, beta) = (p.k, p.effectiveAlpha, p.beta)
  let k8 = Float8(repeating: k)
  let alpha8 = Float8(repeating: alpha)
  forEightAndRest(
    width,
    vector: { i in
      let s = k8 + alpha8 * windowSum8(window, rows: rows, at: i)
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
      let s = k + alpha * windowSum(window, rows: rows, at: i)
      if beta == 0.75 {
        let r = 1 / s.squareRoot()
        scalar(i, s, r * r.squareRoot())
      } else {
        scalar(i, s, Float.pow(s, -beta))
      }
    })
}

/// Σ of position i over the first `rows` rows at `window` (in their order), eight positions at a
/// time.
@inline(__always)
private func windowSum8(
  _ window: UnsafePointer<UnsafePointer<Float>>, rows: Int, at i: Int
) -> Float8 {
  var sum = window[0].load8(i)
  for row in 1..<rows { sum += window[row].load8(i) }
  return sum
}

/// Σ of position i over the first `rows` rows at `window`, in their order.
@inline(__always)
private func windowSum(_ window: UnsafePointer<UnsafePointer<Float>>, rows: Int, at i: Int) -> Float
{
  var sum = window[0][i]
  for row in 1..<rows { sum += window[row][i] }
  return sum
}

/// Positions per LRN block: whole planes up to 4,096 positions, longer planes in nearly equal
/// runs. A block reads each channel's run as one contiguous row, and long rows are what the
/// hardware prefetcher follows: runs of 170 positions (a 64 KB block of all 96 channels of
/// conv1's output) left the forward waiting on memory at 3 GB/s. The rings of the backward stay
/// at 3 × n × 4,096 floats, 240 KB at n = 5. Small batches split planes further, for at least two
/// blocks per thread.
func lrnBlockWidth(batch: Int, plane: Int, threads: Int) -> Int {
  let longest = 4096
  let perImage = Swift.max(
    (plane + longest - 1) / longest, (2 * threads + batch - 1) / Swift.max(batch, 1))
  let width = (plane + perImage - 1) / perImage
  // Whole cache lines (16 floats), so that two threads' blocks do not write one line.
  return Swift.min(plane, Swift.max(16, (width + 15) / 16 * 16))
}

/// Runs `body` on every (image, run of `lrnBlockWidth` positions) block, in parallel. `body` gets
/// the block's offset in the input, its width, scratch for `rings` rings of n rows (the chunk's
/// part of `workspace`), and room for n row pointers.
func forEachLRNBlock(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int, rings: Int, workspace: Workspace,
  _ body: (Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<UnsafePointer<Float>>) ->
    Void
) {
  guard batch > 0, channels > 0, plane > 0 else { return }
  let width = lrnBlockWidth(
    batch: batch, plane: plane, threads: ComputeContext.current.threadCount)
  let blocksPerImage = (plane + width - 1) / width
  let blocks = batch * blocksPerImage
  workspace.prepareShards(Parallel.chunkCount(blocks, minimumChunk: 2))
  Parallel.forEachIndexedChunk(blocks, minimumChunk: 2) { chunk, range in
    let ring = workspace.shard(chunk).floats(rings * p.size * width, slot: 0)
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: p.size) { window in
      for block in range {
        let image = block / blocksPerImage
        let start = (block % blocksPerImage) * width
        body(
          image * channels * plane + start, Swift.min(width, plane - start), ring,
          window.baseAddress!)
      }
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
