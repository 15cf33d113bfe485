import Foundation
import RealModule

/// Metrics of a model over images with the paper's test procedure (Krizhevsky et al. 2012, §4.1):
/// each image's softmax averaged over its ten views (four corners, centre, and their mirrors);
/// the loss is −log of the averaged probability of the true class. An unreadable image is an error.
public func evaluateTenCrop(
  _ model: any Layer, samples: [ImageFolder.Sample], preprocessing: Preprocessing,
  classCount: Int
) throws -> ClassificationMetrics {
  var metrics = ClassificationMetrics(classCount: classCount)
  for sample in samples {
    let image = try ImageDecoder.decode(contentsOf: sample.url)
    let p = classProbabilities(model, image: image, preprocessing: preprocessing, tenCrop: true)
    let loss = -Float.log(max(p[sample.label], 1e-12))
    metrics.add(
      scores: Tensor(shape: [1, p.count], scalars: p), labels: [sample.label], meanLoss: loss)
  }
  return metrics
}
