import Foundation

/// Decoded images kept in memory after the deterministic start of a pipeline (the resizes and
/// centre crops before the first random transform), so that later epochs skip the file, the
/// JPEG decoder and the resize. What follows (random crops, flips, colour noise, normalisation)
/// still runs every time, from the same generator draws, so a cached loader gives the same tensors
/// as an uncached one.
///
/// Memory: one 8-bit image per sample, e.g. 8,523 images at 146x146x3 (the resize before a
/// 128 crop) are 545 MB. Filled as the first epoch reads each file; thread-safe.
public final class DecodedImageCache: @unchecked Sendable {
  /// The transforms applied before storing (the deterministic prefix of the pipeline's).
  public let prefix: [ImageTransform]
  private let lock = NSLock()
  private var images: [RGBImage?]

  /// An empty cache for `count` samples, storing images after `prefix`.
  public init(count: Int, prefix: [ImageTransform]) {
    precondition(prefix.allSatisfy(\.isDeterministic), "a cache prefix must not be random")
    self.prefix = prefix
    images = Array(repeating: nil, count: count)
  }

  /// Images stored so far.
  public var count: Int { lock.withLock { images.reduce(0) { $0 + ($1 == nil ? 0 : 1) } } }

  /// Bytes of pixels stored so far.
  public var byteCount: Int { lock.withLock { images.reduce(0) { $0 + ($1?.pixels.count ?? 0) } } }

  /// Sample `index`'s image after the prefix: from memory, or decoded from `url` and stored.
  /// A file that cannot be decoded throws every time, as the uncached loader does.
  public func image(_ index: Int, url: URL) throws -> RGBImage {
    if let stored = lock.withLock({ images[index] }) { return stored }
    var generator = SeededGenerator(seed: 0)  // the prefix draws nothing
    let image = prefix.reduce(try ImageDecoder.decode(contentsOf: url)) {
      $1.apply($0, using: &generator)
    }
    lock.withLock { images[index] = image }
    return image
  }
}

extension ImageTransform {
  /// Whether the transform draws nothing from the generator (the same image every time).
  public var isDeterministic: Bool {
    switch self {
    case .resize, .resizeShorterSide, .centerCrop: return true
    case .randomCrop, .randomResizedCrop, .randomHorizontalFlip, .randomBrightness: return false
    }
  }
}

extension ImagePipeline {
  /// The pipeline split where its first random transform starts: the deterministic prefix (what a
  /// `DecodedImageCache` stores) and this pipeline without it (what runs on the stored image).
  public func splitAtFirstRandomTransform() -> (prefix: [ImageTransform], rest: ImagePipeline) {
    let cut = transforms.firstIndex { !$0.isDeterministic } ?? transforms.count
    var rest = self
    rest.transforms = Array(transforms[cut...])
    return (Array(transforms[..<cut]), rest)
  }
}
