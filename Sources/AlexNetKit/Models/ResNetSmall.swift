/// A compact residual network for training from scratch on two cores at 96 to 160 pixels: the
/// ResNet-18 layout (He et al. 2016: a strided stem and pooling, four stages of two basic blocks,
/// global average pooling, one dense layer) at half its width, 32-64-128-256 channels.
/// 0.30 GFLOP per 128x128 image, twice `small`, with 2.8 M parameters instead of 14.
///
/// Convolutions have no bias (the batch norm after each has one) and He-normal weights; the last
/// batch norm of every residual branch starts at γ = 0, so each block starts as the identity and
/// the untrained net is a shallow one that learns from the first steps (Goyal et al. 2017, §5.1).
/// The classifier starts at zero, so the loss before the first step is ln(classes).
func smallResNet(
  classes: Int, activation: Nonlinearity = .relu, generator g: inout SeededGenerator
) -> Sequential {
  let widths = [32, 64, 128, 256]
  var layers: [(String, any Layer)] = [
    (
      "stem",
      Sequential(convBN(3, widths[0], kernel: 3, stride: 2, generator: &g) + [activation.layer()])
    ),
    ("pool", MaxPool2D(window: 3, stride: 2, padding: .explicit(1))),
  ]
  var channels = widths[0]
  for (stage, width) in widths.enumerated() {
    for block in 0..<2 {
      let stride = stage > 0 && block == 0 ? 2 : 1
      layers.append(
        (
          "layer\(stage + 1).\(block)",
          basicBlock(channels, width, stride: stride, activation: activation, generator: &g)
        ))
      channels = width
    }
  }
  let classifier = Dense(
    weight: Tensor(zeros: [classes, channels]), bias: Tensor(zeros: [classes]))
  return Sequential(
    named: layers + [
      ("avgpool", AdaptiveAveragePool2D(height: 1, width: 1)), ("flatten", Flatten()),
      ("fc", classifier),
    ])
}

/// A bias-free convolution (padding kernel/2) and its batch norm.
private func convBN(
  _ input: Int, _ output: Int, kernel: Int, stride: Int = 1, zeroGamma: Bool = false,
  generator g: inout SeededGenerator
) -> [any Layer] {
  let weight = Tensor.heNormal(
    [output, input, kernel, kernel], fanIn: input * kernel * kernel, using: &g)
  let norm = BatchNorm(channels: output)
  if zeroGamma { norm.gamma.value = Tensor(zeros: [output]) }
  return [Conv2D(weight: weight, bias: nil, stride: stride, padding: .explicit(kernel / 2)), norm]
}

/// ReLU(branch(x) + shortcut(x)): two 3x3 convolutions with batch norm, and a 1x1 strided
/// projection with batch norm when the size or the channels change (torchvision's BasicBlock).
private func basicBlock(
  _ input: Int, _ output: Int, stride: Int, activation: Nonlinearity,
  generator g: inout SeededGenerator
) -> Sequential {
  let branch = Sequential(
    convBN(input, output, kernel: 3, stride: stride, generator: &g) + [activation.layer()]
      + convBN(output, output, kernel: 3, zeroGamma: true, generator: &g))
  let shortcut =
    stride == 1 && input == output
    ? nil : Sequential(convBN(input, output, kernel: 1, stride: stride, generator: &g))
  return Sequential([Residual(branch, shortcut: shortcut), activation.layer()])
}
