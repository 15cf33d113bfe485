import Foundation
import Testing

@testable import AlexNetKit

/// Before the first step a classifier knows nothing, so its loss on real photos should be that of
/// a uniform guess, ln(classes): every catalogue model within 15%, on two bundled photos of each
/// of the ten Imagenette classes, in training mode (as the first step sees them).
@Suite struct StartingLossTests {
  static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Samples/imagenette-mini")

  /// Two photos per class, resized to `side`, ImageNet-normalised, as one batch.
  static func photos(side: Int) throws -> (batch: Batch, classes: Int) {
    let folder = try ImageFolder(root: sample)
    var perClass: [Int: Int] = [:]
    let chosen = folder.samples.filter { sample in
      perClass[sample.label, default: 0] += 1
      return perClass[sample.label]! <= 2
    }
    let loader = BatchLoader(
      samples: chosen,
      pipeline: ImagePipeline(
        transforms: [.resize(width: side, height: side)], side: side, normalization: .imageNet),
      batchSize: chosen.count, shuffle: false, seed: 1)
    var batches: [Batch] = []
    try loader.forEachBatch(epoch: 0) { _, batch in batches.append(batch) }
    return (batches[0], folder.classNames.count)
  }

  @Test(arguments: ModelName.allCases)
  func startingLossIsNearLnClasses(_ name: ModelName) throws {
    let side = name == .small ? 64 : name.defaultImageSize
    let (batch, classes) = try Self.photos(side: side)
    #expect(classes == 10 && batch.labels.count == 20)
    for seed: UInt64 in [1, 2] {
      let model = ModelCatalog.make(name, classes: classes, seed: seed)
      model.train()
      let logits = withGradientsDisabled { model(Variable(batch.images)) }.value
      let loss = softmaxCrossEntropy(
        logits: logits, targets: oneHotTargets(labels: batch.labels, classes: classes)
      ).loss
      let expected = Float.log(Float(classes))
      #expect(
        abs(loss - expected) <= 0.15 * expected,
        "\(name.rawValue) seed \(seed): starting loss \(loss), ln(\(classes)) = \(expected)")
    }
  }
}
