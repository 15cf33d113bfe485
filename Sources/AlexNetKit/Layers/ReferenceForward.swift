/// The slow path for a whole model: its layers applied one by one through the naive reference
/// kernels (textbook loops: no im2col, GEMM, batch shards, fusion or threads), as in inference
/// (dropout off, batch norm from its running statistics). The fast forward is checked against it,
/// by the tests and by the benchmark's whole-model check. A `Sequential` runs its children in
/// order, a `Residual` adds its branch to its shortcut. Throws for a layer it has no reference
/// for, or a shape the layers reject.
public func referenceForward(_ model: any Layer, input: Tensor) throws(ShapeError) -> Tensor {
  try referenceForward(model, name: "", input: input)
}

func referenceForward(
  _ layer: any Layer, name: String, input: Tensor
) throws(ShapeError) -> Tensor {
  let prefix = name.isEmpty ? "" : name + "."
  switch layer {
  case let sequential as Sequential:
    var x = input
    for (child, inner) in sequential.layers {
      x = try referenceForward(inner, name: prefix + child, input: x)
    }
    return x
  case let residual as Residual:
    let y = try referenceForward(residual.branch, name: prefix + "branch", input: input)
    var s = input
    if let shortcut = residual.shortcut {
      s = try referenceForward(shortcut, name: prefix + "shortcut", input: input)
    }
    guard y.shape == s.shape else {
      throw ShapeError("layer \(name): branch \(y.shape), shortcut \(s.shape)")
    }
    return Tensor(shape: y.shape, scalars: zip(y.scalars, s.scalars).map { $0 + $1 })
  default:
    return try referenceLeafForward(layer, name: name, input: input)
  }
}

/// One leaf layer through its naive kernel.
func referenceLeafForward(
  _ layer: any Layer, name: String, input x: Tensor
) throws(ShapeError) -> Tensor {
  switch layer {
  case let convolution as Conv2D:
    return conv2dForwardNaive(
      try convolution.geometry(x.shape), input: x, weight: convolution.weight.value,
      bias: convolution.bias?.value)
  case is ReLU:
    return reluForwardNaive(input: x)
  case is Tanh:
    return tanhForwardNaive(input: x)
  case let pool as MaxPool2D:
    guard x.rank == 4 else {
      throw ShapeError("layer \(name): max pooling needs [N, C, H, W], got \(x.shape)")
    }
    let g = try PoolGeometry(
      batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
      window: pool.window, stride: pool.stride, padding: pool.padding)
    return maxPool2dForwardNaive(g, input: x)
  case let lrn as LocalResponseNorm:
    return localResponseNormForwardNaive(lrn.configuration, input: x)
  case let dense as Dense:
    return denseForwardNaive(input: x, weight: dense.weight.value, bias: dense.bias?.value)
  case is Flatten:
    return x.reshaped([x.shape[0], x.count / Swift.max(x.shape[0], 1)])
  case is Dropout:
    return x
  case let norm as BatchNorm:
    return batchNormInferenceReference(
      x, gamma: norm.gamma.value, beta: norm.beta.value, mean: norm.runningMean.value,
      variance: norm.runningVariance.value, epsilon: norm.configuration.epsilon)
  case let pool as AdaptiveAveragePool2D:
    return adaptiveAveragePoolReference(x, height: pool.height, width: pool.width)
  default:
    throw ShapeError("layer \(name) (\(layer.kind)) has no reference kernel")
  }
}

/// (x − mean) / √(variance + ε) · γ + β per channel, element by element.
func batchNormInferenceReference(
  _ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
  epsilon: Float
) -> Tensor {
  let channels = x.shape[1]
  let plane = x.count / (x.shape[0] * channels)
  let values = x.scalars
  let g = gamma.scalars
  let b = beta.scalars
  let m = mean.scalars
  let v = variance.scalars
  let y = values.indices.map { i in
    let c = i / plane % channels
    return (values[i] - m[c]) / (v[c] + epsilon).squareRoot() * g[c] + b[c]
  }
  return Tensor(shape: x.shape, scalars: y)
}

/// PyTorch's adaptive average pooling by its definition: output cell i averages input rows
/// ⌊i·H/h⌋ ..< ⌈(i+1)·H/h⌉, and likewise for columns.
func adaptiveAveragePoolReference(_ x: Tensor, height: Int, width: Int) -> Tensor {
  let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let values = x.scalars
  var y = [Float](repeating: 0, count: n * c * height * width)
  for plane in 0..<(n * c) {
    for oy in 0..<height {
      for ox in 0..<width {
        let rows = (oy * h / height)..<((oy + 1) * h + height - 1) / height
        let columns = (ox * w / width)..<((ox + 1) * w + width - 1) / width
        var sum: Float = 0
        for iy in rows { for ix in columns { sum += values[(plane * h + iy) * w + ix] } }
        y[(plane * height + oy) * width + ox] = sum / Float(rows.count * columns.count)
      }
    }
  }
  return Tensor(shape: [n, c, height, width], scalars: y)
}
