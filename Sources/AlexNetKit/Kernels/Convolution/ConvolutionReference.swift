// The naive reference convolution, forward and backward: the definition every fast path is
// tested and timed against.

/// Reference convolution: the textbook sum, one output element at a time (zero padding, groups).
/// Slow and plainly right; the im2col + GEMM path is tested and timed against it.
public func conv2dForwardNaive(_ g: ConvGeometry, input: Tensor, weight: Tensor, bias: Tensor?)
  -> Tensor
{
  g.checkShapes(input: input, weight: weight, bias: bias)
  let inPerGroup = g.inChannels / g.groups
  let outPerGroup = g.outChannels / g.groups
  var y = Tensor(zeros: g.outputShape)
  let x = input.scalars
  let w = weight.scalars
  let b = bias?.scalars
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
                  let iy = oy * g.stride - g.padTop + ky
                  let ix = ox * g.stride - g.padLeft + kx
                  // zero padding
                  guard 0 <= iy, iy < g.height, 0 <= ix, ix < g.width else { continue }
                  sum +=
                    x[((n * g.inChannels + channel) * g.height + iy) * g.width + ix]
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
  precondition(
    outputGradient.shape == g.outputShape,
    "convolution \(g): output gradient \(outputGradient.shape), expected \(g.outputShape)")
  let inPerGroup = g.inChannels / g.groups
  let outPerGroup = g.outChannels / g.groups
  let x = input.scalars
  let w = weight.scalars
  let dy = outputGradient.scalars
  var dx = [Float](repeating: 0, count: x.count)
  var dw = [Float](repeating: 0, count: w.count)
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
                let iy = oy * g.stride - g.padTop + ky
                let ix = ox * g.stride - g.padLeft + kx
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
  return (
    Tensor(shape: g.inputShape, scalars: dx), Tensor(shape: g.weightShape, scalars: dw),
    Tensor(shape: [g.outChannels], scalars: db)
  )
}
