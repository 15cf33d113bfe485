/// The 2012 AlexNet (Krizhevsky, Sutskever and Hinton), as Caffe's bvlc_alexnet lays it out:
/// conv1 96 11x11/4, ReLU, LRN, pool 3/2; conv2 256 5x5 pad 2 in 2 groups, ReLU, LRN, pool;
/// conv3 384 3x3 pad 1; conv4 384 3x3 pad 1 in 2 groups; conv5 256 3x3 pad 1 in 2 groups, pool;
/// fc6 4096, ReLU, dropout 0.5; fc7 4096, ReLU, dropout 0.5; fc8. 227x227 input;
/// 60,965,224 parameters for 1000 classes. Initialised as in §5 of the paper.
func alexNet2012(
  classes: Int, activation: Nonlinearity = .relu, generator g: inout SeededGenerator
) -> Sequential {
  let paper = Initializer.krizhevsky2012
  let features = Sequential([
    Conv2D(
      inChannels: 3, outChannels: 96, kernel: 11, stride: 4, initializer: paper, generator: &g),
    activation.layer(), LocalResponseNorm(.alexNet), MaxPool2D(window: 3, stride: 2),
    Conv2D(
      inChannels: 96, outChannels: 256, kernel: 5, padding: .explicit(2), groups: 2,
      initializer: paper,
      biasValue: 1, generator: &g),
    activation.layer(), LocalResponseNorm(.alexNet), MaxPool2D(window: 3, stride: 2),
    Conv2D(
      inChannels: 256, outChannels: 384, kernel: 3, padding: .explicit(1), initializer: paper,
      generator: &g),
    activation.layer(),
    Conv2D(
      inChannels: 384, outChannels: 384, kernel: 3, padding: .explicit(1), groups: 2,
      initializer: paper,
      biasValue: 1, generator: &g),
    activation.layer(),
    Conv2D(
      inChannels: 384, outChannels: 256, kernel: 3, padding: .explicit(1), groups: 2,
      initializer: paper,
      biasValue: 1, generator: &g),
    activation.layer(), MaxPool2D(window: 3, stride: 2),
  ])
  let classifier = Sequential([
    Dense(inputs: 256 * 6 * 6, outputs: 4096, initializer: paper, biasValue: 1, generator: &g),
    activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 4096, outputs: 4096, initializer: paper, biasValue: 1, generator: &g),
    activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 4096, outputs: classes, initializer: paper, generator: &g),
  ])
  return Sequential(named: [
    ("features", features), ("flatten", Flatten()), ("classifier", classifier),
  ])
}
