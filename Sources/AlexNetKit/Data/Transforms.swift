import COpenBLAS
import Foundation
import RealModule

/// One step of preprocessing or augmentation on an image. Random steps draw from the generator
/// they are given, so a pipeline is deterministic for a seed.
public enum ImageTransform: Sendable, Equatable {
  /// Exactly `width`x`height` (Keras's `image_size`: the aspect ratio is not kept).
  case resize(width: Int, height: Int)
  /// Shorter side to `side`, aspect ratio kept.
  case resizeShorterSide(Int)
  /// The centred square of `side` (scaled up first if smaller).
  case centerCrop(Int)
  /// A uniformly placed square of `side` (the paper's 224 out of 256; scaled up first if smaller).
  case randomCrop(Int)
  /// A random part of the image, `minScale` to all of its area, aspect ratio 3/4 to 4/3, resized
  /// to `side`x`side` (torchvision's RandomResizedCrop, the Inception crop of Szegedy et al. 2015).
  case randomResizedCrop(side: Int, minScale: Float)
  /// Mirror left to right with probability 1/2.
  case randomHorizontalFlip
  /// Add a uniform random value in [−delta, delta]·255 to every channel (tf.image.random_brightness).
  case randomBrightness(delta: Float)

  public func apply(_ image: RGBImage, using generator: inout SeededGenerator) -> RGBImage {
    switch self {
    case .resize(let width, let height): return image.resized(width: width, height: height)
    case .resizeShorterSide(let side): return image.resized(shorterSide: side)
    case .centerCrop(let side): return image.centerCropped(side: side)
    case .randomCrop(let side):
      let source =
        image.width < side || image.height < side ? image.resized(shorterSide: side) : image
      let x = generator.nextInt(below: source.width - side + 1)
      let y = generator.nextInt(below: source.height - side + 1)
      return source.cropped(x: x, y: y, width: side, height: side)
    case .randomResizedCrop(let side, let minScale):
      let (x, y, w, h) = Self.resizedCropBox(
        width: image.width, height: image.height, minScale: minScale, using: &generator)
      return image.cropped(x: x, y: y, width: w, height: h).resized(width: side, height: side)
    case .randomHorizontalFlip:
      return generator.nextUniform() < 0.5 ? image.flippedHorizontally() : image
    case .randomBrightness(let delta):
      let shift = (2 * generator.nextUniform() - 1) * delta * 255
      var out = image
      for i in out.pixels.indices {
        out.pixels[i] = UInt8(
          Swift.max(0, Swift.min(255, (Float(image.pixels[i]) + shift).rounded())))
      }
      return out
    }
  }
}

extension ImageTransform {
  /// torchvision's RandomResizedCrop box: up to ten draws of an area fraction in [minScale, 1]
  /// and a log-uniform aspect ratio in [3/4, 4/3], the first that fits placed uniformly; else the
  /// centred square of the shorter side.
  public static func resizedCropBox(
    width: Int, height: Int, minScale: Float, using generator: inout SeededGenerator
  ) -> (x: Int, y: Int, width: Int, height: Int) {
    let area = Float(width * height)
    let logRatios = (Float.log(3.0 / 4), Float.log(4.0 / 3))
    for _ in 0..<10 {
      let target = area * (minScale + (1 - minScale) * generator.nextUniform())
      let ratio = Float.exp(logRatios.0 + (logRatios.1 - logRatios.0) * generator.nextUniform())
      let w = Int((target * ratio).squareRoot().rounded())
      let h = Int((target / ratio).squareRoot().rounded())
      guard w > 0, h > 0, w <= width, h <= height else { continue }
      let x = generator.nextInt(below: width - w + 1)
      let y = generator.nextInt(below: height - h + 1)
      return (x, y, w, h)
    }
    let side = Swift.min(width, height)
    return ((width - side) / 2, (height - side) / 2, side, side)
  }
}

/// Per-channel normalisation applied when an image becomes a tensor: x ← (x/scale − mean)/std,
/// with `scale` 255 for torchvision's [0, 1] convention or 1 to work on raw pixel values as the
/// tutorial does.
public struct Normalization: Sendable, Equatable, Codable {
  public var mean: [Float]
  public var standardDeviation: [Float]
  public var scale: Float

  public init(mean: [Float], standardDeviation: [Float], scale: Float = 255) {
    precondition(
      mean.count == 3 && standardDeviation.count == 3 && standardDeviation.allSatisfy { $0 > 0 },
      "normalisation needs three means and three positive standard deviations")
    (self.mean, self.standardDeviation, self.scale) = (mean, standardDeviation, scale)
  }

  /// ImageNet's statistics on pixels scaled to [0, 1], as torchvision's pretrained models expect.
  public static let imageNet = Normalization(
    mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225])

  /// Means and standard deviations of every pixel of `images`, per channel, on [0, 1]
  /// (the tutorial's `calculate_mean_std`, per channel rather than pooled).
  public static func measured(over images: [RGBImage]) -> Normalization {
    var sum = [Double](repeating: 0, count: 3)
    var squares = sum
    var count = 0.0
    for image in images {
      for i in stride(from: 0, to: image.pixels.count, by: 3) {
        for c in 0..<3 {
          let v = Double(image.pixels[i + c]) / 255
          sum[c] += v
          squares[c] += v * v
        }
      }
      count += Double(image.width * image.height)
    }
    let mean = sum.map { $0 / Swift.max(count, 1) }
    let std = (0..<3).map { c in
      Swift.max(1e-6, (squares[c] / Swift.max(count, 1) - mean[c] * mean[c]).squareRoot())
    }
    return Normalization(mean: mean.map(Float.init), standardDeviation: std.map(Float.init))
  }

  /// Writes the image into `destination` as CHW floats, normalised, with an optional colour
  /// shift (PCA noise, in [0, 1] units) added before normalising.
  public func write(
    _ image: RGBImage, into destination: UnsafeMutablePointer<Float>,
    colorShift: [Float] = [0, 0, 0]
  ) {
    let plane = image.width * image.height
    for c in 0..<3 {
      let multiplier = 1 / (scale * standardDeviation[c])
      let offset = (colorShift[c] * 255 / scale - mean[c]) / standardDeviation[c]
      let out = destination + c * plane
      image.pixels.withUnsafeBufferPointer { p in
        for i in 0..<plane { out[i] = Float(p[3 * i + c]) * multiplier + offset }
      }
    }
  }

  /// The image as a [3, H, W] tensor.
  public func tensor(_ image: RGBImage, colorShift: [Float] = [0, 0, 0]) -> Tensor {
    var t = Tensor(uninitializedShape: [3, image.height, image.width])
    t.withUnsafeMutableBufferPointer { write(image, into: $0.baseAddress!, colorShift: colorShift) }
    return t
  }
}

/// The paper's colour augmentation (Krizhevsky et al. 2012, §4.1): principal components of the
/// RGB values over the training set; each time an image is used, add Σ_i α_i·λ_i·p_i to every
/// pixel, with α_i ~ N(0, σ²), σ = 0.1.
public struct ColorPCA: Sendable, Equatable, Codable {
  /// Eigenvalues λ (ascending) of the 3x3 covariance of pixels in [0, 1].
  public var eigenvalues: [Float]
  /// Eigenvectors p_i as columns: eigenvectors[3 * row + i].
  public var eigenvectors: [Float]
  public var standardDeviation: Float

  public init(eigenvalues: [Float], eigenvectors: [Float], standardDeviation: Float = 0.1) {
    (self.eigenvalues, self.eigenvectors, self.standardDeviation) = (
      eigenvalues, eigenvectors, standardDeviation
    )
  }

  /// Fits the components to the pixels of `images` (every `stride`-th pixel), through LAPACK's
  /// symmetric eigensolver (ssyev).
  public static func fitted(
    to images: [RGBImage], pixelStride: Int = 1, standardDeviation: Float = 0.1
  ) throws -> ColorPCA {
    var sum = [Double](repeating: 0, count: 3)
    var products = [Double](repeating: 0, count: 9)
    var count = 0.0
    for image in images {
      for p in stride(from: 0, to: image.width * image.height, by: pixelStride) {
        let v = (0..<3).map { Double(image.pixels[3 * p + $0]) / 255 }
        for a in 0..<3 {
          sum[a] += v[a]
          for b in 0..<3 { products[3 * a + b] += v[a] * v[b] }
        }
        count += 1
      }
    }
    guard count > 1 else { throw FileError("PCA", "needs at least two pixels") }
    var covariance = [Float](repeating: 0, count: 9)
    for a in 0..<3 {
      for b in 0..<3 {
        covariance[3 * a + b] = Float(
          products[3 * a + b] / count - sum[a] * sum[b] / (count * count))
      }
    }
    var eigenvalues = [Float](repeating: 0, count: 3)
    BLASRuntime.ensureConfigured()
    let status = LAPACKE_ssyev(
      LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), 3, &covariance, 3,
      &eigenvalues)
    guard status == 0 else { throw FileError("PCA", "LAPACK ssyev failed with status \(status)") }
    return ColorPCA(
      eigenvalues: eigenvalues, eigenvectors: covariance, standardDeviation: standardDeviation)
  }

  /// One draw of the colour shift, per channel in [0, 1] units.
  public func sampleShift(using generator: inout SeededGenerator) -> [Float] {
    var alphas: [Float] = []
    for _ in 0..<3 { alphas.append(standardDeviation * generator.nextNormal()) }
    var shift: [Float] = [0, 0, 0]
    for row in 0..<3 {
      for i in 0..<3 { shift[row] += eigenvectors[3 * row + i] * alphas[i] * eigenvalues[i] }
    }
    return shift
  }
}

/// The ten crops of the paper's test procedure (§4.1): four corners and the centre, and their
/// mirror images; predictions are averaged over them.
public func tenCrops(_ image: RGBImage, side: Int) -> [RGBImage] {
  let source = image.width < side || image.height < side ? image.resized(shorterSide: side) : image
  let (w, h) = (source.width, source.height)
  let corners = [
    (0, 0), (w - side, 0), (0, h - side), (w - side, h - side), ((w - side) / 2, (h - side) / 2),
  ]
  let crops = corners.map { source.cropped(x: $0.0, y: $0.1, width: side, height: side) }
  return crops + crops.map { $0.flippedHorizontally() }
}

/// The training-time augmentations a run can choose, by the names the command line takes.
public enum Augmentation: String, Codable, Sendable, CaseIterable, Comparable {
  /// A random crop of the input side out of the resized image (the paper's 224 out of 256, §4.1).
  case crop
  /// Mirror left to right with probability 1/2 (§4.1).
  case flip
  /// A uniform brightness shift of up to ±20% (the tutorial's `random_brightness(0.2)`).
  case brightness
  /// The paper's PCA colour noise (§4.1), applied as the image becomes a tensor.
  case pca
  /// Instead of `crop`: a random part of 35% to all of the resized image, aspect ratio 3/4 to
  /// 4/3, scaled to the input side (torchvision's RandomResizedCrop with fast.ai's Imagenette
  /// scale, 0.35).
  case scale

  public static func < (a: Augmentation, b: Augmentation) -> Bool {
    allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
  }

  /// Parses "crop,flip" ("none" or "" for no augmentation), sorted and without repeats.
  public static func list(_ text: String) throws -> [Augmentation] {
    let names = text.split(separator: ",")
      .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
      .filter { !$0.isEmpty && $0 != "none" }
    let unknown = names.filter { Augmentation(rawValue: $0) == nil }
    guard unknown.isEmpty else {
      throw ConfigurationError(
        "--augment",
        "has unknown \(unknown.joined(separator: ", ")); "
          + "expected crop, flip, brightness, pca, scale or none")
    }
    return Set(names.compactMap(Augmentation.init(rawValue:))).sorted()
  }

  /// The image transforms of a training view at `side` (the colour noise is the pipeline's
  /// `colorPCA`): shorter side to `Preprocessing.resizeSide(for: side)`, then a random or centre
  /// crop, then the chosen flips and brightness shifts. Training, preview and any caller build
  /// it here.
  public static func transforms(_ chosen: [Augmentation], side: Int) -> [ImageTransform] {
    let crop: ImageTransform =
      chosen.contains(.scale)
      ? .randomResizedCrop(side: side, minScale: 0.35)
      : chosen.contains(.crop) ? .randomCrop(side) : .centerCrop(side)
    var transforms: [ImageTransform] = [
      .resizeShorterSide(Preprocessing.resizeSide(for: side)), crop,
    ]
    if chosen.contains(.flip) { transforms.append(.randomHorizontalFlip) }
    if chosen.contains(.brightness) { transforms.append(.randomBrightness(delta: 0.2)) }
    return transforms
  }
}
