/// A four-layer convolutional network for 32x32 CIFAR-10 images, like the one of the paper's
/// figure 1 (Krizhevsky et al. 2012, §3.1: ReLU reaches 25% training error six times sooner than
/// tanh), which follows cuda-convnet's `layers-18pct.cfg` without its response normalisation:
/// conv 32 5x5 pad 2, pool 3/2; conv 32 5x5 pad 2, pool 3/2; conv 64 5x5 pad 2, pool 3/2;
/// dense classes. 32 → 15 → 7 → 3 pixels, 85,098 parameters for 10 classes. No batch norm or
/// dropout, so the non-linearity alone sets the pace; PyTorch's default initialisation for both
/// non-linearities, so the only difference between the two runs is the activation.
func cifar4(
  classes: Int, activation: Nonlinearity = .relu, generator g: inout SeededGenerator
) -> Sequential {
  let torch = Initializer.pytorchDefault
  func convolution(_ input: Int, _ output: Int) -> [any Layer] {
    [
      Conv2D(
        inChannels: input, outChannels: output, kernel: 5, padding: .explicit(2),
        initializer: torch, generator: &g),
      activation.layer(), MaxPool2D(window: 3, stride: 2),
    ]
  }
  let features = Sequential(convolution(3, 32) + convolution(32, 32) + convolution(32, 64))
  let classifier = Sequential([
    Dense(inputs: 64 * 3 * 3, outputs: classes, initializer: torch, generator: &g)
  ])
  return Sequential(named: [
    ("features", features), ("flatten", Flatten()), ("classifier", classifier),
  ])
}
