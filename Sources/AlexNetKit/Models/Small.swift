/// A reduced AlexNet-style network for quick runs on two cores at 64 to 128 pixels: the same
/// pattern (a strided large-kernel first convolution, overlapping 3/2 pooling, grouped
/// convolutions, two hidden dense layers with dropout) at about a seventeenth of the arithmetic (0.085 GFLOP per 96x96 image), with
/// batch normalisation after each convolution so it learns in a few epochs from scratch.
/// conv 48 5x5/2 pad 2, pool; conv 96 3x3 pad 1 in 2 groups, pool; conv 128 3x3 pad 1;
/// conv 128 3x3 pad 1 in 2 groups, pool; adaptive average pooling to 3x3; dense 512, 512, classes.
func smallAlexNet(
  classes: Int, activation: Nonlinearity = .relu, generator g: inout SeededGenerator
) -> Sequential {
  let he = Initializer.heNormal
  func convolution(_ input: Int, _ output: Int, _ kernel: Int, stride: Int = 1, groups: Int = 1)
    -> [any Layer]
  {
    [
      Conv2D(
        inChannels: input, outChannels: output, kernel: kernel, stride: stride,
        padding: .explicit(kernel / 2),
        groups: groups, initializer: he, generator: &g),
      activation.layer(), BatchNorm(channels: output),
    ]
  }
  let features = Sequential(
    convolution(3, 48, 5, stride: 2) + [MaxPool2D(window: 3, stride: 2)]
      + convolution(48, 96, 3, groups: 2) + [MaxPool2D(window: 3, stride: 2)]
      + convolution(96, 128, 3) + convolution(128, 128, 3, groups: 2) + [
        MaxPool2D(window: 3, stride: 2)
      ])
  let classifier = Sequential([
    Dense(inputs: 128 * 3 * 3, outputs: 512, initializer: he, generator: &g), activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 512, outputs: 512, initializer: he, generator: &g), activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 512, outputs: classes, initializer: .glorotUniform, generator: &g),
  ])
  return Sequential(named: [
    ("features", features), ("avgpool", AdaptiveAveragePool2D(height: 3, width: 3)),
    ("flatten", Flatten()),
    ("classifier", classifier),
  ])
}
