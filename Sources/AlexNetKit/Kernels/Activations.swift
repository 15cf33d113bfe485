import Foundation

/// ReLU, max(0, x) (Krizhevsky et al. 2012, §3.1). Its backward needs only the output:
/// dx = dy where y > 0, else 0 (the subgradient at 0 is taken as 0, as in PyTorch).

/// An activation fused into the kernel before it (convolution): applied to the output while it
/// is still in cache, and its backward folded into the kernel's backward.
public enum Activation: String, Sendable, Codable {
  case identity
  case relu
}

/// Reference ReLU, elementwise by definition.
public func reluForwardNaive(input: Tensor) -> Tensor { input.map { $0 > 0 ? $0 : 0 } }

/// Reference ReLU backward.
public func reluBackwardNaive(output: Tensor, outputGradient: Tensor) -> Tensor {
  Tensor(
    shape: output.shape,
    scalars: zip(output.scalars, outputGradient.scalars).map { $0 > 0 ? $1 : 0 })
}

/// Fast ReLU: parallel, eight lanes at a time with packed compares (Swift's `max` and `? :` on
/// floats compile to a branch per element here), out of place or in place (`output` may equal
/// `input`).
public func reluForward(
  count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
    addShiftAndReLU(
      count: range.count, input + range.lowerBound, shift: 0, into: output + range.lowerBound)
  }
}

/// Fast ReLU backward from the output. Overwrites `inputGradient` (which may equal `outputGradient`).
public func reluBackward(
  count: Int, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
  inputGradient: UnsafeMutablePointer<Float>
) {
  Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
    keepWherePositive(
      count: range.count, outputGradient + range.lowerBound, where: output + range.lowerBound,
      into: inputGradient + range.lowerBound)
  }
}

/// to[i] = max(from[i] + shift, 0) (0 for NaN, as the reference), serially; `to` may equal `from`.
@inline(__always)
func addShiftAndReLU(
  count: Int, _ from: UnsafePointer<Float>, shift: Float, into to: UnsafeMutablePointer<Float>
) {
  let shift8 = Float8(repeating: shift)
  forEightAndRest(
    count,
    vector: { i in
      let v = from.load8(i) + shift8
      to.store8(select8(greater8(v, .zero), v, .zero), i)
    },
    scalar: { i in
      let v = from[i] + shift
      to[i] = v > 0 ? v : 0
    })
}

/// to[i] = on[i] > 0 ? from[i] : 0, serially: a gradient through a ReLU from its output.
@inline(__always)
func keepWherePositive(
  count: Int, _ from: UnsafePointer<Float>, where on: UnsafePointer<Float>,
  into to: UnsafeMutablePointer<Float>
) {
  forEightAndRest(
    count,
    vector: { i in
      to.store8(select8(greater8(on.load8(i), .zero), from.load8(i), .zero), i)
    },
    scalar: { i in
      to[i] = on[i] > 0 ? from[i] : 0
    })
}

public func reluForward(input: Tensor) -> Tensor {
  elementwise(input, reluForward(count:input:output:))
}

public func reluBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
  elementwiseBackward(
    "ReLU", output, outputGradient, reluBackward(count:output:outputGradient:inputGradient:))
}

/// A new tensor of `input`'s shape filled by a pointer kernel.
func elementwise(
  _ input: Tensor,
  _ kernel: (Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) -> Tensor {
  var output = Tensor(uninitializedShape: input.shape)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in kernel(x.count, x.baseAddress!, y.baseAddress!) }
  }
  return output
}

/// The input gradient of an activation whose derivative is a function of its output.
func elementwiseBackward(
  _ name: String, _ output: Tensor, _ outputGradient: Tensor,
  _ kernel: (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) -> Tensor {
  precondition(
    output.shape == outputGradient.shape,
    "\(name): output \(output.shape), gradient \(outputGradient.shape)")
  var dx = Tensor(uninitializedShape: output.shape)
  output.withUnsafeBufferPointer { y in
    outputGradient.withUnsafeBufferPointer { dy in
      dx.withUnsafeMutableBufferPointer { dx in
        kernel(y.count, y.baseAddress!, dy.baseAddress!, dx.baseAddress!)
      }
    }
  }
  return dx
}

// MARK: - tanh

/// Reference tanh, elementwise by definition (the saturating non-linearity the paper compares
/// ReLU against, Krizhevsky et al. 2012, §3.1 and figure 1).
public func tanhForwardNaive(input: Tensor) -> Tensor { input.map { Foundation.tanh($0) } }

/// Reference tanh backward from the output: dx = dy · (1 − y²).
public func tanhBackwardNaive(output: Tensor, outputGradient: Tensor) -> Tensor {
  Tensor(
    shape: output.shape,
    scalars: zip(output.scalars, outputGradient.scalars).map { $1 * (1 - $0 * $0) })
}

/// Fast tanh: parallel chunks of libm's tanhf, out of place or in place (`output` may equal
/// `input`). Same libm call as the reference, so the two agree exactly.
public func tanhForward(
  count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  // tanhf costs tens of cycles, so smaller chunks than ReLU's are worth a thread.
  Parallel.forEachChunk(count, minimumChunk: 1 << 14) { range in
    for i in range { output[i] = Foundation.tanh(input[i]) }
  }
}

/// Fast tanh backward from the output, eight lanes at a time: dx = dy · (1 − y²). Overwrites
/// `inputGradient` (which may equal `outputGradient`).
public func tanhBackward(
  count: Int, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
  inputGradient: UnsafeMutablePointer<Float>
) {
  Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
    let y = output + range.lowerBound
    let dy = outputGradient + range.lowerBound
    let dx = inputGradient + range.lowerBound
    forEightAndRest(
      range.count,
      vector: { i in
        let v = y.load8(i)
        dx.store8(dy.load8(i) * (1 - v * v), i)
      },
      scalar: { i in dx[i] = dy[i] * (1 - y[i] * y[i]) })
  }
}

public func tanhForward(input: Tensor) -> Tensor {
  elementwise(input, tanhForward(count:input:output:))
}

public func tanhBackward(output: Tensor, outputGradient: Tensor) -> Tensor {
  elementwiseBackward(
    "tanh", output, outputGradient, tanhBackward(count:output:outputGradient:inputGradient:))
}
