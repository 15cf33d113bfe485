import AlexNetKit
import Foundation

struct DataRow: Codable {
  var dataset: String
  var images: Int
  var workers: Int
  var imagesPerSecond: Double
}

struct ConsumptionRow: Codable {
  var model: String
  var imageSize: Int
  var batch: Int
  var trainingImagesPerSecond: Double
}

/// The paper's training preprocessing (shorter side 256, random 224 crop, random mirror, then
/// normalisation into the batch tensor) through the batch loader, with 1 and 2 workers.
func runDataBenchmarks(dataRoot: URL, repetitions: Int) throws -> [DataRow] {
  var rows: [DataRow] = []
  let imagenette = try ImageFolder(root: dataRoot.appendingPathComponent("imagenette/train"))
  var generator = SeededGenerator(seed: 1)
  let sets: [(String, [ImageFolder.Sample])] = [
    (
      "imagenette (224x224 JPEG)", Array(imagenette.samples.shuffled(using: &generator).prefix(256))
    ),
    (
      "imagenet-samples (full size)",
      try samplesOf(dataRoot.appendingPathComponent("imagenet-samples"))
    ),
  ]
  let pipeline = ImagePipeline(
    transforms: [.resizeShorterSide(256), .randomCrop(224), .randomHorizontalFlip], side: 224,
    normalization: .imageNet)
  for (name, samples) in sets {
    for workers in [1, 2] {
      let loader = BatchLoader(
        samples: samples, pipeline: pipeline, batchSize: 16, seed: 3, workers: workers, prefetch: 4)
      var epoch = 0
      let ms = medianMilliseconds(repetitions: repetitions) {
        for batch in loader.epoch(epoch) { sink += batch.images[flat: 0] }
        epoch += 1
      }
      rows.append(
        DataRow(
          dataset: name, images: samples.count, workers: workers,
          imagesPerSecond: Double(samples.count) / (ms / 1e3)))
    }
  }
  return rows
}

/// Files of a flat folder of images, one class.
func samplesOf(_ folder: URL) throws -> [ImageFolder.Sample] {
  try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    .filter {
      ImageFolder.imageExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased())
    }
    .map { ImageFolder.Sample(url: folder.appendingPathComponent($0), label: 0) }
}

/// How fast a training step consumes images, for comparison with the loader.
func runConsumptionBenchmarks(repetitions: Int) -> [ConsumptionRow] {
  var rows: [ConsumptionRow] = []
  for (name, side, batch) in [(ModelName.small, 112, 64), (.alexnetTV, 224, 32)] {
    let model = ModelCatalog.make(name, classes: 10, seed: 1)
    let trainer = Trainer(
      model: model, modelIdentifier: name.rawValue, classNames: (0..<10).map(String.init),
      optimizer: SGD(), outputDirectory: nil)
    var generator = SeededGenerator(seed: 2)
    let images = Tensor.randomUniform(
      [batch, 3, side, side], lower: -1, upper: 1, using: &generator)
    let labels = (0..<batch).map { $0 % 10 }
    let ms = medianMilliseconds(repetitions: repetitions) {
      _ = trainer.computeGradients(images: images, labels: labels)
      trainer.applyUpdate()
    }
    rows.append(
      ConsumptionRow(
        model: name.rawValue, imageSize: side, batch: batch,
        trainingImagesPerSecond: Double(batch) / (ms / 1e3)))
  }
  return rows
}

/// ../shared/data from the working directory or above it.
func findDataRoot(_ given: String?) -> URL? {
  if let given { return URL(fileURLWithPath: given) }
  var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
  for _ in 0..<4 {
    let candidate = directory.appendingPathComponent("../shared/data").standardizedFileURL
    if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("imagenette").path) {
      return candidate
    }
    directory = directory.deletingLastPathComponent()
  }
  return nil
}
