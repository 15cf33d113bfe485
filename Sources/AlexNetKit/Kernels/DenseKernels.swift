/// Fully connected layer: y = x·Wᵀ + b for x [N, in], W [out, in] (PyTorch's layout, so
/// torchvision weights load as they are), b [out].

func checkDenseShapes(input: Tensor, weight: Tensor, bias: Tensor?) {
  precondition(
    input.rank == 2 && weight.rank == 2 && input.shape[1] == weight.shape[1],
    "dense: input \(input.shape) and weight \(weight.shape) need [N, in] and [out, in]")
  if let bias {
    precondition(
      bias.shape == [weight.shape[0]], "dense: bias \(bias.shape), expected [\(weight.shape[0])]")
  }
}

/// Reference dense forward: the dot products one by one.
public func denseForwardNaive(input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  checkDenseShapes(input: input, weight: weight, bias: bias)
  let n = input.shape[0]
  let inputs = input.shape[1]
  let outputs = weight.shape[0]
  let x = input.scalars
  let w = weight.scalars
  let b = bias?.scalars
  var y = [Float](repeating: 0, count: n * outputs)
  for row in 0..<n {
    for o in 0..<outputs {
      var sum = b?[o] ?? 0
      for i in 0..<inputs { sum += x[row * inputs + i] * w[o * inputs + i] }
      y[row * outputs + o] = sum
    }
  }
  return Tensor(shape: [n, outputs], scalars: y)
}

/// Reference dense backward: dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
public func denseBackwardNaive(input: Tensor, weight: Tensor, outputGradient: Tensor)
  -> (input: Tensor, weight: Tensor, bias: Tensor)
{
  checkDenseShapes(input: input, weight: weight, bias: nil)
  let n = input.shape[0]
  let inputs = input.shape[1]
  let outputs = weight.shape[0]
  precondition(
    outputGradient.shape == [n, outputs],
    "dense: output gradient \(outputGradient.shape), expected \([n, outputs])")
  let x = input.scalars
  let w = weight.scalars
  let dy = outputGradient.scalars
  var dx = [Float](repeating: 0, count: x.count)
  var dw = [Float](repeating: 0, count: w.count)
  var db = [Float](repeating: 0, count: outputs)
  for row in 0..<n {
    for o in 0..<outputs {
      let g = dy[row * outputs + o]
      db[o] += g
      for i in 0..<inputs {
        dx[row * inputs + i] += g * w[o * inputs + i]
        dw[o * inputs + i] += g * x[row * inputs + i]
      }
    }
  }
  return (
    Tensor(shape: input.shape, scalars: dx), Tensor(shape: weight.shape, scalars: dw),
    Tensor(shape: [outputs], scalars: db)
  )
}

/// Up to this many rows, a dense layer runs one matrix-vector product per row instead of a GEMM:
/// measured faster for fc6 at 1 and 2 rows (7.5 and 13.8 ms against 21.8 and 26.1), slower from 4.
let denseRowsPerGEMV = 3

/// Dense forward as one SGEMM on top of the broadcast bias (SGEMVs for a batch of up to
/// `denseRowsPerGEMV`). Overwrites `output` [N, out].
public func denseForward(
  batch n: Int, inputs: Int, outputs: Int, input: UnsafePointer<Float>,
  weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  for row in 0..<n {
    let y = output + row * outputs
    if let bias {
      y.update(from: bias, count: outputs)
    } else {
      y.update(repeating: 0, count: outputs)
    }
  }
  if n <= denseRowsPerGEMV {
    for row in 0..<n {
      BLAS.sgemv(
        weight, m: outputs, n: inputs, input + row * inputs, into: output + row * outputs, beta: 1)
    }
  } else {
    BLAS.sgemm(input, weight, transposeB: true, into: output, m: n, n: outputs, k: inputs, beta: 1)
  }
}

/// Dense backward as two SGEMMs and a column sum. dW = dyᵀ·x and db = Σ dy are added to the
/// gradients (`accumulate`) or written over them (saving a zero fill and a read of a 150 MB
/// gradient for fc6); overwrites `inputGradient` (dx = dy·W) when given.
public func denseBackward(
  batch n: Int, inputs: Int, outputs: Int, input: UnsafePointer<Float>,
  weight: UnsafePointer<Float>,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
  weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
  accumulate: Bool = true
) {
  BLAS.sgemm(
    outputGradient, transposeA: true, input, into: weightGradient, m: outputs, n: inputs, k: n,
    beta: accumulate ? 1 : 0)
  if let inputGradient {
    if n <= denseRowsPerGEMV {
      for row in 0..<n {
        BLAS.sgemv(
          weight, transpose: true, m: outputs, n: inputs, outputGradient + row * outputs,
          into: inputGradient + row * inputs)
      }
    } else {
      BLAS.sgemm(outputGradient, weight, into: inputGradient, m: n, n: inputs, k: outputs)
    }
  }
  if let biasGradient {
    if !accumulate { biasGradient.update(repeating: 0, count: outputs) }
    for row in 0..<n {
      let dy = outputGradient + row * outputs
      for o in 0..<outputs { biasGradient[o] += dy[o] }
    }
  }
}

/// Dense forward of tensors.
public func denseForward(input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  checkDenseShapes(input: input, weight: weight, bias: bias)
  let n = input.shape[0]
  let inputs = input.shape[1]
  let outputs = weight.shape[0]
  var output = Tensor(uninitializedShape: [n, outputs])
  input.withUnsafeBufferPointer { x in
    weight.withUnsafeBufferPointer { w in
      output.withUnsafeMutableBufferPointer { y in
        if let bias {
          bias.withUnsafeBufferPointer { b in
            denseForward(
              batch: n, inputs: inputs, outputs: outputs, input: x.baseAddress!,
              weight: w.baseAddress!,
              bias: b.baseAddress!, output: y.baseAddress!)
          }
        } else {
          denseForward(
            batch: n, inputs: inputs, outputs: outputs, input: x.baseAddress!,
            weight: w.baseAddress!,
            bias: nil, output: y.baseAddress!)
        }
      }
    }
  }
  return output
}

/// Dense gradients of tensors: input (nil unless `needsInputGradient`), weight and bias.
public func denseBackward(
  input: Tensor, weight: Tensor, outputGradient: Tensor, needsInputGradient: Bool = true
)
  -> (input: Tensor?, weight: Tensor, bias: Tensor)
{
  checkDenseShapes(input: input, weight: weight, bias: nil)
  let n = input.shape[0]
  let inputs = input.shape[1]
  let outputs = weight.shape[0]
  precondition(
    outputGradient.shape == [n, outputs],
    "dense: output gradient \(outputGradient.shape), expected \([n, outputs])")
  var dx = needsInputGradient ? Tensor(uninitializedShape: input.shape) : nil
  var dw = Tensor(uninitializedShape: weight.shape)
  var db = Tensor(uninitializedShape: [outputs])
  input.withUnsafeBufferPointer { x in
    weight.withUnsafeBufferPointer { w in
      outputGradient.withUnsafeBufferPointer { dy in
        dw.withUnsafeMutableBufferPointer { dw in
          db.withUnsafeMutableBufferPointer { db in
            func run(_ dx: UnsafeMutablePointer<Float>?) {
              denseBackward(
                batch: n, inputs: inputs, outputs: outputs, input: x.baseAddress!,
                weight: w.baseAddress!,
                outputGradient: dy.baseAddress!, inputGradient: dx, weightGradient: dw.baseAddress!,
                biasGradient: db.baseAddress!, accumulate: false)
            }
            if dx != nil {
              dx!.withUnsafeMutableBufferPointer { run($0.baseAddress!) }
            } else {
              run(nil)
            }
          }
        }
      }
    }
  }
  return (dx, dw, db)
}
