import AlexNetKit
import Foundation

// Builds the small AlexNet-style model, trains it for a few steps on two synthetic classes
// (bright and dark images), and shows the loss falling and the predictions.
let model = ModelCatalog.make(.small, classes: 2, seed: 1)
let optimizer = SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 0.0005)
var generator = SeededGenerator(seed: 2)
let labels = (0..<16).map { $0 % 2 }
var images = Tensor.randomNormal([16, 3, 64, 64], standardDeviation: 0.3, using: &generator)
images.withUnsafeMutableBufferPointer { pixels in
  for (i, label) in labels.enumerated() {
    for j in 0..<(3 * 64 * 64) { pixels[i * 3 * 64 * 64 + j] += label == 0 ? -1 : 1 }
  }
}
let targets = oneHotTargets(labels: labels, classes: 2)
for step in 1...10 {
  model.zeroGradients()
  let (loss, _) = model(Variable(images)).softmaxCrossEntropy(targets: targets)
  loss.backward()
  optimizer.step(model.namedParameters)
  print("step \(step): loss \(String(format: "%.4f", loss.value.scalar))")
}
model.eval()
let predicted = withGradientsDisabled { model(Variable(images)) }.value.argmaxAlongLastAxis()
print("accuracy on the training images: \(zip(predicted, labels).filter { $0 == $1 }.count)/\(labels.count)")
