/// The reference tutorial's Keras model ("The Annotated AlexNet", part 3): each convolution is
/// followed by ReLU and batch normalisation instead of LRN, no groups, 224x224 input
/// (conv1 valid gives 54x54), pools 3/2, flatten 5x5x256, dense 4096-4096 with dropout 0.5.
/// 46,818,064 parameters (46,815,312 trainable, 2,752 non-trainable) for 16 classes, as its
/// `model.summary()` prints. Keras's defaults: Glorot uniform weights, zero biases, batch-norm
/// momentum 0.99 and ε 1e-3.
func alexNetBatchNorm(
  classes: Int, activation: Nonlinearity = .relu, generator g: inout SeededGenerator
) -> Sequential {
  let keras = Initializer.glorotUniform
  func convolution(_ input: Int, _ output: Int, _ kernel: Int, stride: Int = 1, padding: Padding)
    -> [any Layer]
  {
    [
      Conv2D(
        inChannels: input, outChannels: output, kernel: kernel, stride: stride, padding: padding,
        initializer: keras,
        generator: &g),
      activation.layer(), BatchNorm(channels: output, configuration: .keras),
    ]
  }
  let features = Sequential(
    convolution(3, 96, 11, stride: 4, padding: .valid) + [MaxPool2D(window: 3, stride: 2)]
      + convolution(96, 256, 5, padding: .same) + [MaxPool2D(window: 3, stride: 2)]
      + convolution(256, 384, 3, padding: .same) + convolution(384, 384, 3, padding: .same)
      + convolution(384, 256, 3, padding: .same) + [MaxPool2D(window: 3, stride: 2)])
  let classifier = Sequential([
    Dense(inputs: 256 * 5 * 5, outputs: 4096, initializer: keras, generator: &g),
    activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 4096, outputs: 4096, initializer: keras, generator: &g), activation.layer(),
    Dropout(rate: 0.5, seed: g.next()),
    Dense(inputs: 4096, outputs: classes, initializer: keras, generator: &g),
  ])
  return Sequential(named: [
    ("features", features), ("flatten", Flatten()), ("classifier", classifier),
  ])
}
