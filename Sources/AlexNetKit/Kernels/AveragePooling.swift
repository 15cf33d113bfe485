/// Adaptive average pooling to a fixed output size (PyTorch's `AdaptiveAvgPool2d`, which
/// torchvision's AlexNet puts before its classifier): output cell (i, j) averages input rows
/// ⌊i·H/h⌋ ..< ⌈(i+1)·H/h⌉ and the matching columns. When the input already has the output size
/// it is the identity.

func adaptiveWindow(_ index: Int, _ output: Int, _ input: Int) -> Range<Int> {
  (index * input / output)..<(((index + 1) * input + output - 1) / output)
}

/// Reference and only version: the work is a few thousand additions per image, small beside
/// the convolutions, so one straightforward loop is both the definition and fast enough.
public func adaptiveAveragePool2dForward(input: Tensor, outputHeight: Int, outputWidth: Int)
  -> Tensor
{
  precondition(input.rank == 4, "adaptive average pooling needs [N, C, H, W], got \(input.shape)")
  let (planes, h, w) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
  var output = Tensor(zeros: [input.shape[0], input.shape[1], outputHeight, outputWidth])
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      for plane in 0..<planes {
        for i in 0..<outputHeight {
          let rows = adaptiveWindow(i, outputHeight, h)
          for j in 0..<outputWidth {
            let columns = adaptiveWindow(j, outputWidth, w)
            var sum: Float = 0
            for r in rows { for c in columns { sum += x[(plane * h + r) * w + c] } }
            y[(plane * outputHeight + i) * outputWidth + j] =
              sum / Float(rows.count * columns.count)
          }
        }
      }
    }
  }
  return output
}

/// Each output gradient spread evenly over its window.
public func adaptiveAveragePool2dBackward(outputGradient: Tensor, inputShape: [Int]) -> Tensor {
  let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
  let outputHeight = outputGradient.shape[2]
  let outputWidth = outputGradient.shape[3]
  var dx = Tensor(zeros: inputShape)
  outputGradient.withUnsafeBufferPointer { dy in
    dx.withUnsafeMutableBufferPointer { dx in
      for plane in 0..<planes {
        for i in 0..<outputHeight {
          let rows = adaptiveWindow(i, outputHeight, h)
          for j in 0..<outputWidth {
            let columns = adaptiveWindow(j, outputWidth, w)
            let share =
              dy[(plane * outputHeight + i) * outputWidth + j] / Float(rows.count * columns.count)
            for r in rows { for c in columns { dx[(plane * h + r) * w + c] += share } }
          }
        }
      }
    }
  }
  return dx
}
