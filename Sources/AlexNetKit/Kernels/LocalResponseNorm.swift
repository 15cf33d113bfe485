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

  public init(size: Int = 5, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 2,
              convention: AlphaConvention = .averaged) {
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
        y[index] = Float(Double(x[index]) / Double.pow(Double(p.k) + Double(p.effectiveAlpha) * sum, Double(p.beta)))
      }
    }
  }
  return Tensor(shape: input.shape, scalars: y)
}

/// Reference backward, from the partial derivatives:
/// ∂b_i/∂a_j = δ_ij·s_i^−β − 2α'β·a_i·a_j·s_i^(−β−1) for j in W(i).
public func localResponseNormBackwardNaive(_ p: LRNParameters, input: Tensor, outputGradient: Tensor) -> Tensor {
  precondition(outputGradient.shape == input.shape,
               "LRN: output gradient \(outputGradient.shape), expected \(input.shape)")
  let (n, c, plane) = lrnDimensions(input)
  let x = input.scalars, dy = outputGradient.scalars
  var dx = [Double](repeating: 0, count: x.count)
  let alpha = Double(p.effectiveAlpha), beta = Double(p.beta)
  for image in 0..<n {
    for i in 0..<plane {
      for channel in 0..<c {
        let window = Swift.max(0, channel - p.before)...Swift.min(c - 1, channel + p.after)
        var sum: Double = 0
        for j in window { sum += Double(x[(image * c + j) * plane + i]) * Double(x[(image * c + j) * plane + i]) }
        let s = Double(p.k) + alpha * sum
        let out = (image * c + channel) * plane + i
        let g = Double(dy[out]), a = Double(x[out])
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
  precondition(input.rank == 4 || input.rank == 2, "LRN needs [N, C, H, W] or [N, C] input, got \(input.shape)")
  return (input.shape[0], input.shape[1], input.rank == 4 ? input.shape[2] * input.shape[3] : 1)
}

// MARK: - Fast version

/// Fast LRN over whole channel planes, parallel over blocks of (image, plane chunk): squares once
/// into a per-thread buffer, then each channel's window sum adds at most n rows, in loops the
/// compiler vectorises (β = 0.75, the paper's, takes square roots instead of `pow`). Overwrites
/// `output`, and `scale` with s = k + α'·Σa² (kept for the backward pass).
public func localResponseNormForward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>
) {
  let (alpha, k) = (p.effectiveAlpha, p.k)
  forEachLRNBlock(batch: batch, channels: channels, plane: plane) { base, range, squares in
    let width = range.count
    for c in 0..<channels {
      let x = input + base + c * plane + range.lowerBound, sq = squares + c * width
      for i in 0..<width { sq[i] = x[i] * x[i] }
    }
    for c in 0..<channels {
      let offset = base + c * plane + range.lowerBound
      let s = scale + offset, x = input + offset, y = output + offset
      let window = Swift.max(0, c - p.before)...Swift.min(channels - 1, c + p.after)
      s.update(from: squares + window.lowerBound * width, count: width)
      for j in window.dropFirst() {
        let row = squares + j * width
        for i in 0..<width { s[i] += row[i] }
      }
      if p.beta == 0.75 {
        let k8 = Float8(repeating: k), alpha8 = Float8(repeating: alpha)
        forEightAndRest(width, vector: { i in
          let si = k8 + alpha8 * s.load8(i), r = 1 / si.squareRoot()
          s.store8(si, i)
          y.store8(x.load8(i) * (r * r.squareRoot()), i)
        }, scalar: { i in
          let si = k + alpha * s[i], r = 1 / si.squareRoot()
          s[i] = si
          y[i] = x[i] * (r * r.squareRoot())
        })
      } else {
        for i in 0..<width {
          s[i] = k + alpha * s[i]
          y[i] = x[i] * Float.pow(s[i], -p.beta)
        }
      }
    }
  }
}

/// Fast backward (Caffe's form): dx_c = dy_c·s_c^−β − 2α'β·a_c·Σ_{i: c ∈ W(i)} dy_i·b_i / s_i.
/// Overwrites `inputGradient`.
public func localResponseNormBackward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, output: UnsafePointer<Float>, scale: UnsafePointer<Float>,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>
) {
  let factor = 2 * p.effectiveAlpha * p.beta
  forEachLRNBlock(batch: batch, channels: channels, plane: plane) { base, range, ratios in
    let width = range.count
    for c in 0..<channels {
      let offset = base + c * plane + range.lowerBound
      let r = ratios + c * width, dy = outputGradient + offset, y = output + offset, s = scale + offset
      forEightAndRest(width, vector: { i in r.store8(dy.load8(i) * y.load8(i) / s.load8(i), i) },
                      scalar: { i in r[i] = dy[i] * y[i] / s[i] })
    }
    for c in 0..<channels {
      let offset = base + c * plane + range.lowerBound
      let dx = inputGradient + offset, dy = outputGradient + offset, x = input + offset, s = scale + offset
      // Channel c lies in the windows of channels c − after ... c + before.
      let window = Swift.max(0, c - p.after)...Swift.min(channels - 1, c + p.before)
      dx.update(from: ratios + window.lowerBound * width, count: width)
      for i in window.dropFirst() {
        let row = ratios + i * width
        for j in 0..<width { dx[j] += row[j] }
      }
      if p.beta == 0.75 {
        let factor8 = Float8(repeating: factor)
        forEightAndRest(width, vector: { j in
          let r = 1 / s.load8(j).squareRoot()
          dx.store8(dy.load8(j) * (r * r.squareRoot()) - factor8 * x.load8(j) * dx.load8(j), j)
        }, scalar: { j in
          let r = 1 / s[j].squareRoot()
          dx[j] = dy[j] * (r * r.squareRoot()) - factor * x[j] * dx[j]
        })
      } else {
        for j in 0..<width { dx[j] = dy[j] * Float.pow(s[j], -p.beta) - factor * x[j] * dx[j] }
      }
    }
  }
}

/// Splits the work into (image, plane-chunk) blocks whose rows for all channels fit a 64 KB
/// per-thread buffer (L2-resident) and runs them in parallel; `body` gets the image's base
/// offset, the plane range and the buffer (channels × range floats).
func forEachLRNBlock(batch: Int, channels: Int, plane: Int,
                     _ body: (Int, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
  let chunkWidth = Swift.max(64, Swift.min(plane, (1 << 14) / Swift.max(channels, 1)))
  let chunksPerImage = (plane + chunkWidth - 1) / chunkWidth
  Parallel.forEachChunk(batch * chunksPerImage, minimumChunk: 2) { blocks in
    let buffer = Workspace.current.floats(channels * chunkWidth, slot: 0)
    for block in blocks {
      let image = block / chunksPerImage, chunk = block % chunksPerImage
      let range = (chunk * chunkWidth)..<Swift.min(plane, (chunk + 1) * chunkWidth)
      body(image * channels * plane, range, buffer)
    }
  }
}

/// LRN of a tensor: the output and the scale its backward needs.
public func localResponseNormForward(_ p: LRNParameters, input: Tensor) -> (output: Tensor, scale: Tensor) {
  let (n, c, plane) = lrnDimensions(input)
  var output = Tensor(uninitializedShape: input.shape), scale = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      scale.withUnsafeMutableBufferPointer { s in
        localResponseNormForward(p, batch: n, channels: c, plane: plane, input: x.baseAddress!,
                                 output: y.baseAddress!, scale: s.baseAddress!)
      }
    }
  }
  return (output, scale)
}

/// The input gradient of an LRN from its forward input, output and scale.
public func localResponseNormBackward(
  _ p: LRNParameters, input: Tensor, output: Tensor, scale: Tensor, outputGradient: Tensor
) -> Tensor {
  let (n, c, plane) = lrnDimensions(input)
  precondition(outputGradient.shape == input.shape && output.shape == input.shape && scale.shape == input.shape,
               "LRN backward: input \(input.shape), output \(output.shape), scale \(scale.shape), "
                 + "output gradient \(outputGradient.shape) must agree")
  var dx = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeBufferPointer { y in
      scale.withUnsafeBufferPointer { s in
        outputGradient.withUnsafeBufferPointer { dy in
          dx.withUnsafeMutableBufferPointer { dx in
            localResponseNormBackward(p, batch: n, channels: c, plane: plane, input: x.baseAddress!,
                                      output: y.baseAddress!, scale: s.baseAddress!,
                                      outputGradient: dy.baseAddress!, inputGradient: dx.baseAddress!)
          }
        }
      }
    }
  }
  return dx
}
