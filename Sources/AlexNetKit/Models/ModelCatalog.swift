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
  /// The paper's figure 1 network: three convolutions and a dense layer, for 32x32 CIFAR-10.
  case cifar4

  /// The input side the model was designed for.
  public var defaultImageSize: Int {
    switch self {
    case .alexnet: return 227
    case .alexnetBN, .alexnetTV: return 224
    case .small: return 96
    case .cifar4: return 32
    }
  }

  /// A sentence for --help and the README.
  public var summary: String {
    switch self {
    case .alexnet: return "2012 paper / Caffe bvlc_alexnet: LRN, groups, 227x227"
    case .alexnetBN: return "reference tutorial's Keras model: batch norm, 224x224"
    case .alexnetTV: return "torchvision alexnet layout and names, 224x224"
    case .small: return "reduced AlexNet-style network with batch norm, 64-128 px"
    case .cifar4: return "the paper's figure 1 four-layer network for CIFAR-10, 32x32"
    }
  }
}

/// Builds models by name.
public enum ModelCatalog {
  /// A freshly initialised model. `seed` fixes the weights and the dropout masks; `activation`
  /// is the non-linearity after every convolution and hidden dense layer (the same weights and
  /// parameter names for either).
  public static func make(
    _ name: ModelName, classes: Int, seed: UInt64 = 0, activation: Nonlinearity = .relu
  ) -> Sequential {
    precondition(classes > 0, "a model needs at least one class, got \(classes)")
    var generator = SeededGenerator(seed: seed)
    let a = activation
    switch name {
    case .alexnet: return alexNet2012(classes: classes, activation: a, generator: &generator)
    case .alexnetBN: return alexNetBatchNorm(classes: classes, activation: a, generator: &generator)
    case .alexnetTV:
      return alexNetTorchvision(classes: classes, activation: a, generator: &generator)
    case .small: return smallAlexNet(classes: classes, activation: a, generator: &generator)
    case .cifar4: return cifar4(classes: classes, activation: a, generator: &generator)
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
    try Checkpoint.checkHead(checkpoint, source: source)
    let configuration = try CatalogueConfiguration(checkpoint.modelConfiguration, source: source)
    let model = make(
      name, classes: checkpoint.classNames.count, activation: configuration.activation)
    do { try model.loadState(checkpoint.weights) } catch {
      throw FileError(source, error.description)
    }
    return (name, model)
  }
}

/// What a catalogue model's checkpoint records as its `model_configuration` beyond the name and
/// class count: `{"activation":"tanh"}`. Checkpoints without one are ReLU models (all of them
/// before the choice existed).
public struct CatalogueConfiguration: Codable, Equatable, Sendable {
  public var activation: Nonlinearity

  public init(activation: Nonlinearity = .relu) { self.activation = activation }

  /// Decodes a checkpoint's `model_configuration` (nil: the defaults); the error names `source`.
  public init(_ json: String?, source: String) throws {
    guard let json else {
      self.init()
      return
    }
    do { self = try JSONDecoder().decode(Self.self, from: Data(json.utf8)) } catch {
      let choices = Nonlinearity.allCases.map(\.rawValue).joined(separator: "|")
      throw FileError(
        source, "has model_configuration \(json), expected {\"activation\": \"\(choices)\"}")
    }
  }

  /// The JSON text a checkpoint records.
  public var json: String { #"{"activation":"\#(activation.rawValue)"}"# }
}
