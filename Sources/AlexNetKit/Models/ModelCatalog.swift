import Foundation

/// The networks this library builds by name, each for a number of classes.
public enum ModelName: String, CaseIterable, Sendable, Codable {
  /// The 2012 paper and Caffe's bvlc_alexnet: 227x227 input, LRN, the two-GPU groups.
  case alexnet
  /// The reference tutorial's Keras model: batch norm after every convolution instead of LRN.
  case alexnetBN = "alexnet-bn"
  /// torchvision's single-tower `alexnet`, with its parameter names.
  case alexnetTV = "alexnet-tv"
  /// A reduced AlexNet-style network for quick runs at 64 to 128 pixels.
  case small
  /// A compact ResNet (half-width ResNet-18) with batch norm, for 96 to 160 pixels.
  case resnetSmall = "resnet-small"

  /// The input side the model was designed for.
  public var defaultImageSize: Int {
    switch self {
    case .alexnet: return 227
    case .alexnetBN, .alexnetTV: return 224
    case .small: return 96
    case .resnetSmall: return 128
    }
  }

  /// A sentence for --help and the README.
  public var summary: String {
    switch self {
    case .alexnet: return "2012 paper / Caffe bvlc_alexnet: LRN, groups, 227x227"
    case .alexnetBN: return "reference tutorial's Keras model: batch norm, 224x224"
    case .alexnetTV: return "torchvision alexnet layout and names, 224x224"
    case .small: return "reduced AlexNet-style network with batch norm, 64-128 px"
    case .resnetSmall: return "compact ResNet (ResNet-18 at half width), 96-160 px"
    }
  }
}

/// Builds models by name.
public enum ModelCatalog {
  /// A freshly initialised model. `seed` fixes the weights and the dropout masks.
  public static func make(_ name: ModelName, classes: Int, seed: UInt64 = 0) -> Sequential {
    precondition(classes > 0, "a model needs at least one class, got \(classes)")
    var generator = SeededGenerator(seed: seed)
    switch name {
    case .alexnet: return alexNet2012(classes: classes, generator: &generator)
    case .alexnetBN: return alexNetBatchNorm(classes: classes, generator: &generator)
    case .alexnetTV: return alexNetTorchvision(classes: classes, generator: &generator)
    case .small: return smallAlexNet(classes: classes, generator: &generator)
    case .resnetSmall: return smallResNet(classes: classes, generator: &generator)
    }
  }
}

extension ModelCatalog {
  /// The catalogue model a checkpoint was trained as, for its class count, with the checkpoint's
  /// weights loaded. Throws, naming `source`, for an identifier outside the catalogue (a network of
  /// one's own: its author's code builds it and calls `loadState`) or weights that do not fit.
  public static func make(
    for checkpoint: Checkpoint, source: String
  ) throws -> (name: ModelName, model: Sequential) {
    guard let name = ModelName(rawValue: checkpoint.model) else {
      let known = ModelName.allCases.map(\.rawValue).joined(separator: ", ")
      throw FileError(
        source, "holds model \(checkpoint.model), which is not in the catalogue (\(known))")
    }
    guard !checkpoint.classNames.isEmpty else {
      throw FileError(
        source, "records no class names, so the model's class count is unknown")
    }
    let model = make(name, classes: checkpoint.classNames.count)
    do { try model.loadState(checkpoint.weights) } catch {
      throw FileError(source, error.description)
    }
    return (name, model)
  }
}
