/// How images are prepared for a trained model: shorter side to `resizeSide`, centre crop of
/// `side`, then normalisation. Checkpoints of this tool record it; torchvision's pretrained
/// weights expect `.torchvision`.
public struct Preprocessing: Codable, Sendable, Equatable {
  public var resizeSide: Int
  public var side: Int
  public var normalization: Normalization

  public init(resizeSide: Int, side: Int, normalization: Normalization) {
    (self.resizeSide, self.side, self.normalization) = (resizeSide, side, normalization)
  }

  /// The paper's proportions at any side: resize the shorter side to `resizeSide(for: side)`.
  public init(side: Int, normalization: Normalization) {
    self.init(resizeSide: Self.resizeSide(for: side), side: side, normalization: normalization)
  }

  /// The shorter side an image is resized to before a `side` crop: side·256/224 to the nearest
  /// pixel (the paper's 256 for 224, §2; 110 for 96). The one place this ratio is written.
  public static func resizeSide(for side: Int) -> Int {
    Int((Double(side) * 256 / 224).rounded())
  }

  /// torchvision's evaluation transform: resize 256, centre crop 224, ImageNet mean and std on [0, 1].
  public static let torchvision = Preprocessing(
    resizeSide: 256, side: 224, normalization: .imageNet)

  /// A loader pipeline producing the centre view, for evaluation and feature extraction.
  public var pipeline: ImagePipeline {
    ImagePipeline(
      transforms: [.resizeShorterSide(resizeSide), .centerCrop(side)], side: side,
      normalization: normalization)
  }

  /// The centre view as a [1, 3, side, side] tensor.
  public func tensor(_ image: RGBImage) -> Tensor {
    normalization.tensor(image.resized(shorterSide: resizeSide).centerCropped(side: side)).reshaped(
      [1, 3, side, side])
  }

  /// The ten views of the paper's test procedure as a [10, 3, side, side] tensor.
  public func tenCropTensor(_ image: RGBImage) -> Tensor {
    let crops = tenCrops(image.resized(shorterSide: resizeSide), side: side)
    var batch = Tensor(uninitializedShape: [10, 3, side, side])
    batch.withUnsafeMutableBufferPointer { buffer in
      for (i, crop) in crops.enumerated() {
        normalization.write(crop, into: buffer.baseAddress! + i * 3 * side * side)
      }
    }
    return batch
  }
}

/// Class probabilities of one image, in inference mode: the centre view, or the average of the
/// softmax over the ten crops (Krizhevsky et al. 2012, §4.1).
public func classProbabilities(
  _ model: any Layer, image: RGBImage, preprocessing: Preprocessing,
  tenCrop: Bool = false
) -> [Float] {
  let input = tenCrop ? preprocessing.tenCropTensor(image) : preprocessing.tensor(image)
  let logits = model.inInferenceMode { withGradientsDisabled { model(Variable(input)) }.value }
  let classes = logits.shape[1]
  let probabilities = softmaxCrossEntropy(logits: logits, targets: Tensor(zeros: logits.shape))
    .probabilities
  return (0..<classes).map { c in
    (0..<logits.shape[0]).reduce(Float(0)) { $0 + probabilities[$1, c] } / Float(logits.shape[0])
  }
}
