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

  /// s^−β, with β = 0.75 as two square roots (far cheaper than pow, and as exact).
  @inlinable
  func inversePower(_ s: Float) -> Float {
    if beta == 0.75 {
      let r = 1 / s.squareRoot()
      return r * r.squareRoot()
    }
    return Float.pow(s, -beta)
  }
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

/// Fast LRN over whole channel planes, parallel over images and plane chunks: squares once, then
/// each channel's window sum adds at most n planes, in a loop the compiler vectorises. Overwrites
/// `output`, and `scale` with s = k + α'·Σa² (kept for the backward pass).
public func localResponseNormForward(
  _ p: LRNParameters, batch: Int, channels: Int, plane: Int,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>
) {
  forEachLRNBlock(batch: batch, channels: channels, plane: plane) { base, range in
    let alpha = p.effectiveAlpha
    let width = range.count
    withUnsafeTemporaryAllocation(of: Float.self, capacity: channels * width) { squares in
      let sq = squares.baseAddress!
      for c in 0..<channels {
        let x = input + base + c * plane + range.lowerBound
        for i in 0..<width { sq[c * width + i] = x[i] * x[i] }
      }
      for c in 0..<channels {
        let s = scale + base + c * plane + range.lowerBound
        s.update(repeating: 0, count: width)
        for j in Swift.max(0, c - p.before)...Swift.min(channels - 1, c + p.after) {
          let row = sq + j * width
          for i in 0..<width { s[i] += row[i] }
        }
        let x = input + base + c * plane + range.lowerBound
        let y = output + base + c * plane + range.lowerBound
        for i in 0..<width {
          s[i] = p.k + alpha * s[i]
          y[i] = x[i] * p.inversePower(s[i])
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
  forEachLRNBlock(batch: batch, channels: channels, plane: plane) { base, range in
    let width = range.count
    let factor = 2 * p.effectiveAlpha * p.beta
    withUnsafeTemporaryAllocation(of: Float.self, capacity: channels * width) { ratios in
      let r = ratios.baseAddress!
      for c in 0..<channels {
        let offset = base + c * plane + range.lowerBound
        for i in 0..<width { r[c * width + i] = outputGradient[offset + i] * output[offset + i] / scale[offset + i] }
      }
      for c in 0..<channels {
        let offset = base + c * plane + range.lowerBound
        let dx = inputGradient + offset
        dx.update(repeating: 0, count: width)
        // Channel c lies in the windows of channels c − after ... c + before.
        for i in Swift.max(0, c - p.after)...Swift.min(channels - 1, c + p.before) {
          let row = r + i * width
          for j in 0..<width { dx[j] += row[j] }
        }
        for j in 0..<width {
          let index = offset + j
          dx[j] = outputGradient[index] * p.inversePower(scale[index]) - factor * input[index] * dx[j]
        }
      }
    }
  }
}

/// Splits the work into (image, plane-chunk) blocks small enough for a stack buffer and
/// runs them in parallel; `body` gets the image's base offset and the plane range.
func forEachLRNBlock(batch: Int, channels: Int, plane: Int, _ body: (Int, Range<Int>) -> Void) {
  let chunkWidth = Swift.max(16, Swift.min(plane, 4096 / Swift.max(channels, 1)))
  let chunksPerImage = (plane + chunkWidth - 1) / chunkWidth
  Parallel.forEachChunk(batch * chunksPerImage, minimumChunk: 2) { blocks in
    for block in blocks {
      let image = block / chunksPerImage, chunk = block % chunksPerImage
      let range = (chunk * chunkWidth)..<Swift.min(plane, (chunk + 1) * chunkWidth)
      body(image * channels * plane, range)
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
