import AlexNetKit
import Foundation
import Testing

@Suite struct DecodedImageCacheTests {
  /// Seven images of odd sizes in two classes, and `extra` files.
  func samples(extra: [String: [UInt8]] = [:]) throws -> [ImageFolder.Sample] {
    var files = extra
    for i in 0..<7 {
      files["c\(i % 2)/img\(i).png"] = try ImageEncoder.png(
        DataFixtures.gradient(width: 21 + 2 * i, height: 17 + i))
    }
    return try ImageFolder(root: try DataFixtures.folder(files)).samples
  }

  func loader(
    _ samples: [ImageFolder.Sample], transforms: [ImageTransform], workers: Int,
    cached: Bool
  ) -> BatchLoader {
    let pipeline = ImagePipeline(
      transforms: transforms, side: 12, normalization: .imageNet,
      colorPCA: ColorPCA(
        eigenvalues: [0.01, 0.02, 0.2], eigenvectors: [1, 0, 0, 0, 1, 0, 0, 0, 1]))
    let loader = BatchLoader(
      samples: samples, pipeline: pipeline, batchSize: 3, seed: 9, workers: workers)
    if cached { loader.cacheDecodedImages() }
    return loader
  }

  /// The training view (resize, random crop, flip, colour noise) and the centre view give the
  /// same tensors cached and uncached, in the epoch that fills the cache and in later ones.
  @Test(arguments: [
    [ImageTransform.resizeShorterSide(14), .randomCrop(12), .randomHorizontalFlip],
    [.resizeShorterSide(13), .centerCrop(12)],
    [.randomBrightness(delta: 0.2), .resize(width: 12, height: 12)],
  ])
  func cachedBatchesEqualUncachedOnes(_ transforms: [ImageTransform]) throws {
    let samples = try samples()
    let plain = loader(samples, transforms: transforms, workers: 1, cached: false)
    let cached = loader(samples, transforms: transforms, workers: 2, cached: true)
    for epoch in 0..<3 {
      let expected = Array(plain.epoch(epoch))
      let got = Array(cached.epoch(epoch))
      #expect(got.map(\.images) == expected.map(\.images))
      #expect(got.map(\.labels) == expected.map(\.labels))
      #expect(got.map(\.paths) == expected.map(\.paths))
    }
    #expect(cached.cache?.count == samples.count)
    #expect(plain.cache == nil)
  }

  /// The cache holds the images after the deterministic prefix only (14 px shorter side here).
  @Test func storesTheImageBeforeTheFirstRandomTransform() throws {
    let samples = try samples()
    let loader = loader(
      samples, transforms: [.resizeShorterSide(14), .randomCrop(12)], workers: 1, cached: true)
    _ = Array(loader.epoch(0))
    let cache = try #require(loader.cache)
    #expect(cache.prefix == [.resizeShorterSide(14)])
    let first = try cache.image(0, url: samples[0].url)
    #expect(min(first.width, first.height) == 14)
    let expected = try ImageDecoder.decode(contentsOf: samples[0].url).resized(shorterSide: 14)
    #expect(first == expected)
  }

  /// A file that cannot be decoded is skipped and named in every epoch, as without the cache.
  @Test func badFilesStaySkipped() throws {
    let samples = try samples(extra: ["c0/broken.jpg": Array("nope".utf8)])
    let loader = loader(
      samples, transforms: [.resizeShorterSide(14), .randomCrop(12)], workers: 2, cached: true)
    for epoch in 0..<2 {
      #expect(Array(loader.epoch(epoch)).reduce(0) { $0 + $1.labels.count } == 7)
    }
    #expect(
      loader.badFiles.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["broken.jpg"])
    #expect(loader.cache?.count == 7)
  }

  @Test func splitsAtTheFirstRandomTransform() {
    let pipeline = ImagePipeline(
      transforms: [
        .resizeShorterSide(20), .centerCrop(18), .randomCrop(16), .resize(width: 16, height: 16),
      ],
      side: 16, normalization: .imageNet)
    let (prefix, rest) = pipeline.splitAtFirstRandomTransform()
    #expect(prefix == [.resizeShorterSide(20), .centerCrop(18)])
    #expect(rest.transforms == [.randomCrop(16), .resize(width: 16, height: 16)])
    #expect(rest.side == 16 && rest.normalization == .imageNet)
  }
}
