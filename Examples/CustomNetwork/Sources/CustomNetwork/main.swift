import AlexNetKit
import Foundation

// A network of one's own: a strided stem, one residual block, global pooling and a classifier.
// Parameters are named like PyTorch's ("3.branch.0.weight"); the checkpoints record the network
// as "tiny-resnet", and this program rebuilds it from that name.
func tinyResNet(classes: Int) -> any Layer {
  var g = SeededGenerator(seed: 1)
  func conv(_ cin: Int, _ cout: Int, kernel: Int, stride: Int = 1) -> Conv2D {
    Conv2D(
      inChannels: cin, outChannels: cout, kernel: kernel, stride: stride,
      padding: .explicit(kernel / 2), initializer: .heNormal, generator: &g)
  }
  return Sequential([
    conv(3, 16, kernel: 5, stride: 2), ReLU(), MaxPool2D(window: 3, stride: 2),
    Residual(Sequential([conv(16, 16, kernel: 3), ReLU(), conv(16, 16, kernel: 3)])), ReLU(),
    AdaptiveAveragePool2D(height: 1, width: 1), Flatten(),
    Dense(inputs: 16, outputs: classes, initializer: .glorotUniform, generator: &g),
  ])
}

// The bundled photos (10 classes), or a folder given as the first argument.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../../../../Samples/imagenette-mini").standardizedFileURL
let data = CommandLine.arguments.dropFirst().first ?? root.path
let runURL = URL(fileURLWithPath: "runs/custom-network")

do {
  // Image folder → batches → trainer → run directory: one epoch, in a fresh run directory.
  var configuration = TrainingConfiguration(data: data)
  configuration.model = "tiny-resnet"
  configuration.imageSize = 32
  configuration.batchSize = 64
  configuration.epochs = 1
  let printEpoch: @Sendable (TrainingEvent) -> Void = { event in
    guard case .epoch(let r, _, _) = event else { return }
    print(String(format: "epoch %d: loss %.4f, accuracy %.4f", r.epoch, r.loss, r.accuracy))
  }
  let first = try TrainingRun(
    configuration, directory: RunDirectory(runURL, mode: .overwrite), network: tinyResNet,
    onEvent: printEpoch)
  try first.fit()
  first.directory.close()

  // Resume: the stored configuration, one more epoch, exactly as if the run had never stopped.
  let directory = try RunDirectory(runURL, mode: .resume)
  let stored = try directory.storedRecord().configuration
    .resuming(with: [.set("--epochs", \.epochs, to: 2, mayChangeOnResume: true)])
  let resumed = try TrainingRun(
    stored, directory: directory, network: tinyResNet, onEvent: printEpoch)
  let summary = try resumed.fit()
  let top1 = (summary.validation?.top1 ?? 0) * 100
  print(String(format: "validation top-1 after %d epochs: %.2f%%", summary.epochs, top1))
  directory.close()

  // Reload the best checkpoint into a new network and classify a photo.
  let best = try Checkpoint(contentsOf: runURL.appendingPathComponent("best.safetensors"))
  let model = tinyResNet(classes: best.classNames.count)
  try model.loadState(best.weights)
  let photo = URL(fileURLWithPath: data).appendingPathComponent("church")
  let file = try FileManager.default.contentsOfDirectory(atPath: photo.path).sorted()[0]
  let image = try ImageDecoder.decode(contentsOf: photo.appendingPathComponent(file))
  let probabilities = classProbabilities(
    model, image: image, preprocessing: try best.recordedPreprocessing(source: "best"))
  let top = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
  let percent = String(format: "%.1f%%", probabilities[top] * 100)
  print("church/\(file): \(best.classNames[top]) (\(percent))")
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
