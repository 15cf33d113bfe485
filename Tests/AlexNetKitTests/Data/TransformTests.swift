import AlexNetKit
import Foundation
import TestSupport
import Testing

@Suite struct TransformTests {
  /// A 4x3 image whose red channel numbers the pixels, so geometry is easy to read.
  func numbered(width: Int = 4, height: Int = 3) -> RGBImage {
    RGBImage(
      width: width, height: height, pixels: (0..<(width * height)).flatMap { [UInt8($0), 0, 7] })
  }

  @Test func cropAndFlipGeometry() {
    let image = numbered()
    #expect(
      image.cropped(x: 1, y: 1, width: 2, height: 2).pixels.enumerated().filter {
        $0.offset % 3 == 0
      }.map(\.element)
        == [5, 6, 9, 10])
    #expect(
      image.flippedHorizontally().pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
        == [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8])
    let crops = tenCrops(numbered(width: 5, height: 5), side: 3)
    #expect(crops.count == 10)
    // corners, centre, then mirrored
    #expect(crops.map { $0[0, 0, 0] } == [0, 2, 10, 12, 6, 2, 4, 12, 14, 8])
  }

  @Test func resizeKeepsAspectAndAntialiases() {
    let photo = RGBImage(width: 2400, height: 1600, red: 10, green: 20, blue: 30)
    let small = photo.resized(shorterSide: 256)
    #expect(small.width == 384 && small.height == 256 && small[100, 100, 1] == 20)
    // A one-pixel checkerboard shrunk 8x must average to grey, not alias to black or white.
    var pixels: [UInt8] = []
    for y in 0..<64 {
      for x in 0..<64 {
        let v: UInt8 = (x + y) % 2 == 0 ? 0 : 255
        pixels += [v, v, v]
      }
    }
    let shrunk = RGBImage(width: 64, height: 64, pixels: pixels).resized(width: 8, height: 8)
    #expect(shrunk.pixels.allSatisfy { abs(Int($0) - 128) <= 3 })
    // Smaller than the crop: scaled up first.
    #expect(
      RGBImage(width: 10, height: 20, red: 1, green: 1, blue: 1).centerCropped(side: 16).width == 16
    )
  }

  @Test func randomTransformsAreSeeded() {
    let image = DataFixtures.gradient(width: 40, height: 30)
    let pipeline: [ImageTransform] = [
      .randomCrop(24), .randomHorizontalFlip, .randomBrightness(delta: 0.2),
    ]
    func run(_ seed: UInt64) -> RGBImage {
      var g = SeededGenerator(seed: seed)
      return pipeline.reduce(image) { $1.apply($0, using: &g) }
    }
    #expect(run(1) == run(1))
    #expect(Set((0..<8).map { run(UInt64($0)).pixels }).count > 1)
    #expect(run(1).width == 24 && run(1).height == 24)
  }

  /// After normalising with statistics measured on the same images, mean ≈ 0 and std ≈ 1 per channel.
  @Test func normalisationStatistics() {
    let images = [
      DataFixtures.gradient(width: 32, height: 16), DataFixtures.gradient(width: 8, height: 30),
    ]
    let normalization = Normalization.measured(over: images)
    var values: [[Float]] = [[], [], []]
    for image in images {
      let t = normalization.tensor(image).scalars
      let plane = image.width * image.height
      for c in 0..<3 { values[c] += t[(c * plane)..<((c + 1) * plane)] }
    }
    for channel in values {
      let mean = channel.reduce(0, +) / Float(channel.count)
      let variance = channel.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(channel.count)
      #expect(abs(mean) < 1e-4 && abs(variance - 1) < 1e-3)
    }
    let imageNet = Normalization.imageNet.tensor(
      RGBImage(width: 1, height: 1, red: 255, green: 0, blue: 0)
    ).scalars
    #expect(
      abs(imageNet[0] - (1 - 0.485) / 0.229) < 1e-5 && abs(imageNet[1] - (-0.456 / 0.224)) < 1e-5)
  }

  /// After subtracting the mean image, every pixel position averages zero over the set.
  @Test func meanImageSubtraction() {
    let images = (0..<4).map { i in
      RGBImage(width: 6, height: 6, pixels: (0..<108).map { UInt8(($0 * (i + 3)) % 256) })
    }
    let mean = ImagePipeline.meanImage(of: images, normalization: .imageNet)
    let pipeline = ImagePipeline(transforms: [], side: 6, normalization: .imageNet, meanImage: mean)
    var total = Tensor(zeros: [3, 6, 6])
    for image in images {
      var g = SeededGenerator(seed: 1)
      var t = Tensor(uninitializedShape: [3, 6, 6])
      t.withUnsafeMutableBufferPointer { pipeline.write(image, into: $0.baseAddress!, using: &g) }
      total += t
    }
    #expect(total.scalars.allSatisfy { abs($0) < 1e-4 })
    #expect(mean.scalars.contains { abs($0) > 0.1 })
  }

  /// PCA on pixels spread along one colour direction finds it, and the noise has the magnitude
  /// α·λ with α ~ N(0, 0.1²).
  @Test func colorPCAFindsTheDirectionAndScalesTheNoise() throws {
    var pixels: [UInt8] = []
    var g = SeededGenerator(seed: 3)
    for _ in 0..<4000 {
      let t = Float(g.nextUniform())
      pixels += [UInt8(50 + 150 * t), UInt8(50 + 150 * t), UInt8(100)]  // varies along (1, 1, 0)
    }
    let pca = try ColorPCA.fitted(to: [RGBImage(width: 4000, height: 1, pixels: pixels)])
    let top = pca.eigenvalues.last!
    #expect(top > 0.05 && pca.eigenvalues[0] < 1e-4)
    let direction = (0..<3).map { abs(pca.eigenvectors[3 * $0 + 2]) }
    #expect(
      abs(direction[0] - 0.7071) < 0.01 && abs(direction[1] - 0.7071) < 0.01 && direction[2] < 0.01)
    let shifts = (0..<2000).map { _ in pca.sampleShift(using: &g) }
    let rms = (shifts.reduce(0) { $0 + $1[0] * $1[0] + $1[1] * $1[1] } / Float(shifts.count))
      .squareRoot()
    #expect(abs(rms - 0.1 * top) < 0.01 * top)
  }
  /// RandomResizedCrop boxes lie inside the image, cover 35% to 100% of it with an aspect ratio in
  /// [3/4, 4/3] (up to rounding), vary with the seed, and the transform is that box resized.
  @Test func randomResizedCropBoxes() {
    let (width, height) = (61, 43)
    var boxes = Set<[Int]>()
    for seed in 0..<300 {
      var generator = SeededGenerator(seed: UInt64(seed))
      let box = ImageTransform.resizedCropBox(
        width: width, height: height, minScale: 0.35, using: &generator)
      #expect(box.x >= 0 && box.y >= 0 && box.x + box.width <= width)
      #expect(box.y + box.height <= height)
      let area = Double(box.width * box.height) / Double(width * height)
      #expect(area >= 0.3 && area <= 1)
      let ratio = Double(box.width) / Double(box.height)
      #expect(ratio >= 0.7 && ratio <= 1.43, "\(box)")
      boxes.insert([box.x, box.y, box.width, box.height])
    }
    #expect(boxes.count > 100)
    let image = DataFixtures.gradient(width: width, height: height)
    var a = SeededGenerator(seed: 7)
    var b = SeededGenerator(seed: 7)
    let box = ImageTransform.resizedCropBox(
      width: width, height: height, minScale: 0.35, using: &a)
    let expected = image.cropped(x: box.x, y: box.y, width: box.width, height: box.height)
      .resized(width: 16, height: 16)
    let transform = ImageTransform.randomResizedCrop(side: 16, minScale: 0.35)
    #expect(transform.apply(image, using: &b) == expected)
  }

  /// When no draw fits (a wide strip, 90% of its area asked for), the centred square is taken.
  @Test func randomResizedCropFallsBackToTheCentre() {
    var generator = SeededGenerator(seed: 1)
    let box = ImageTransform.resizedCropBox(
      width: 40, height: 10, minScale: 0.9, using: &generator)
    #expect(box.x == 15 && box.y == 0 && box.width == 10 && box.height == 10)
  }
}
