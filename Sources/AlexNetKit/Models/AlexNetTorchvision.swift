/// torchvision's `alexnet` (the "one weird trick" single-tower variant): conv1 64 11x11/4 pad 2,
/// pool; conv2 192 5x5 pad 2, pool; conv3 384, conv4 256, conv5 256 (3x3 pad 1), pool; adaptive
/// average pooling to 6x6; classifier dropout, 4096, dropout, 4096, classes. 61,100,840 parameters
/// for 1000 classes. Layer positions and names follow torchvision's state dict
/// (`features.0.weight` ... `classifier.6.bias`), so its weights load as they are.
func alexNetTorchvision(
  classes: Int, activation: Nonlinearity = .relu, generator g: inout SeededGenerator
) -> Sequential {
  let torch = Initializer.pytorchDefault
  let features = Sequential([
    Conv2D(
      inChannels: 3, outChannels: 64, kernel: 11, stride: 4, padding: .explicit(2),
      initializer: torch, generator: &g),
    activation.layer(), MaxPool2D(window: 3, stride: 2),
    Conv2D(
      inChannels: 64, outChannels: 192, kernel: 5, padding: .explicit(2), initializer: torch,
      generator: &g),
    activation.layer(), MaxPool2D(window: 3, stride: 2),
    Conv2D(
      inChannels: 192, outChannels: 384, kernel: 3, padding: .explicit(1), initializer: torch,
      generator: &g), activation.layer(),
    Conv2D(
      inChannels: 384, outChannels: 256, kernel: 3, padding: .explicit(1), initializer: torch,
      generator: &g), activation.layer(),
    Conv2D(
      inChannels: 256, outChannels: 256, kernel: 3, padding: .explicit(1), initializer: torch,
      generator: &g), activation.layer(),
    MaxPool2D(window: 3, stride: 2),
  ])
  let classifier = Sequential([
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 256 * 6 * 6, outputs: 4096, initializer: torch, generator: &g),
    activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 4096, outputs: 4096, initializer: torch, generator: &g), activation.layer(),
    Dense(inputs: 4096, outputs: classes, initializer: torch, generator: &g),
  ])
  return Sequential(named: [
    ("features", features), ("avgpool", AdaptiveAveragePool2D(height: 6, width: 6)),
    ("flatten", Flatten()),
    ("classifier", classifier),
  ])
}
