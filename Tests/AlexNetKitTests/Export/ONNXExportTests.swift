import Foundation
import SwiftProtobuf
import TestSupport
import Testing

@testable import AlexNetKit

/// ONNX export decoded with SwiftProtobuf: the graph's nodes, attributes, shapes, initialisers
/// and metadata; and the import that rebuilds the same layers from the file.
@Suite struct ONNXExportTests {
  static func info(classes: Int, side: Int, model: ModelName? = nil) -> ExportedModelInfo {
    ExportedModelInfo(
      model: model, classNames: (0..<classes).map { "class \($0)" },
      preprocessing: Preprocessing(
        resizeSide: side + side / 7, side: side, normalization: .imageNet))
  }

  static func decode(_ bytes: [UInt8]) throws -> Onnx_ModelProto {
    try Onnx_ModelProto(serializedBytes: bytes)
  }

  static func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
    node.attribute.first { $0.name == name }
  }

  static func floats(_ proto: Onnx_TensorProto) -> [Float] {
    proto.rawData.withUnsafeBytes { raw in
      (0..<(proto.rawData.count / 4)).map { raw.load(fromByteOffset: 4 * $0, as: Float.self) }
    }
  }

  /// A network with every exportable kind and the awkward cases: stride 2 with `.same` padding
  /// (asymmetric pads), groups, a summed-convention LRN, pooling with padding, batch norm with
  /// moved statistics, adaptive pooling that divides, dropout, a dense layer without bias.
  static func mixedNetwork(seed: UInt64) -> Sequential {
    var g = SeededGenerator(seed: seed)
    let norm = BatchNorm(channels: 6, configuration: .keras)
    norm.runningMean.value = Tensor(shape: [6], scalars: (0..<6).map { Float($0) * 0.1 - 0.2 })
    norm.runningVariance.value = Tensor(shape: [6], scalars: (0..<6).map { 0.5 + Float($0) * 0.2 })
    norm.gamma.value = Tensor(shape: [6], scalars: (0..<6).map { 1 + Float($0) * 0.05 })
    let features = Sequential([
      Conv2D(
        inChannels: 3, outChannels: 4, kernel: 4, stride: 2, padding: .same, initializer: .heNormal,
        generator: &g),
      ReLU(),
      LocalResponseNorm(LRNParameters(size: 3, alpha: 1e-3, beta: 0.75, k: 1, convention: .summed)),
      MaxPool2D(window: 3, stride: 2, padding: .explicit(1)),
      Conv2D(
        inChannels: 4, outChannels: 6, kernel: 3, padding: .explicit(1), groups: 2,
        initializer: .heNormal,
        generator: &g),
      norm, ReLU(), MaxPool2D(window: 2, stride: 1, padding: .same),
    ])
    let classifier = Sequential([
      Dropout(rate: 0.5, seed: 3),
      Dense(inputs: 6 * 2 * 2, outputs: 7, initializer: .heNormal, generator: &g), ReLU(),
      Dense(
        weight: Tensor(shape: [5, 7], scalars: (0..<35).map { Float($0 % 9) * 0.1 - 0.4 }),
        bias: nil),
    ])
    return Sequential(named: [
      ("features", features), ("avgpool", AdaptiveAveragePool2D(height: 2, width: 2)),
      ("flatten", Flatten()),
      ("classifier", classifier),
    ])
  }

  @Test func smallModelGraphHasTheLayersShapesAndInitialisers() throws {
    let network = ModelCatalog.make(.small, classes: 3, seed: 5)
    let model = try Self.decode(
      try ONNXExport.encode(network, info: Self.info(classes: 3, side: 64, model: .small)))
    #expect(model.irVersion == 8 && model.producerName == "alexnet-swift")
    #expect(model.opsetImport.map(\.version) == [17] && model.opsetImport[0].domain == "")
    let graph = model.graph
    let block = ["Conv", "Relu", "BatchNormalization"]
    #expect(
      graph.node.map(\.opType) == block + ["MaxPool"] + block + ["MaxPool"] + block + block
        + ["MaxPool", "AveragePool", "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"])
    #expect(
      graph.node.map(\.name).prefix(4) == ["features.0", "features.1", "features.2", "features.3"])
    #expect(graph.node.last?.output == ["logits"] && graph.node.first?.input.first == "images")
    let input = graph.input[0].type.tensorType
    let output = graph.output[0].type.tensorType
    #expect(graph.input.map(\.name) == ["images"] && graph.output.map(\.name) == ["logits"])
    #expect(input.elemType == 1 && input.shape.dim.map(\.dimParam) == ["N", "", "", ""])
    #expect(input.shape.dim.dropFirst().map(\.dimValue) == [3, 64, 64])
    #expect(output.shape.dim[0].dimParam == "N" && output.shape.dim[1].dimValue == 3)

    // Initialisers: exactly the state dict, same names, dims and values.
    let state = network.stateDict
    #expect(graph.initializer.map(\.name) == state.map(\.name))
    for (proto, entry) in zip(graph.initializer, state) {
      #expect(
        proto.dims == entry.tensor.shape.map(Int64.init) && proto.dataType == 1, "\(entry.name)")
      #expect(Self.floats(proto) == entry.tensor.scalars, "\(entry.name)")
    }
    // conv2: 3x3 pad 1 in 2 groups; the pool before the classifier: 64 → 32 → 15 → 7 → 3, so
    // 3x3 to 3x3.
    let conv2 = try #require(graph.node.first { $0.name == "features.4" })
    #expect(
      Self.attribute(conv2, "group")?.i == 2 && Self.attribute(conv2, "pads")?.ints == [1, 1, 1, 1])
    #expect(
      Self.attribute(conv2, "kernel_shape")?.ints == [3, 3]
        && Self.attribute(conv2, "strides")?.ints == [1, 1])
    let pool = try #require(graph.node.first { $0.opType == "AveragePool" })
    #expect(pool.name == "avgpool" && Self.attribute(pool, "kernel_shape")?.ints == [1, 1])
    let norm = try #require(graph.node.first { $0.name == "features.2" })
    #expect(
      norm.input == ["features.1"]
        + ["weight", "bias", "running_mean", "running_var"].map { "features.2.\($0)" })
    #expect(Self.attribute(norm, "epsilon")?.f == 1e-5)
    let fc = try #require(graph.node.first { $0.name == "classifier.0" })
    #expect(
      fc.input == ["flatten", "classifier.0.weight", "classifier.0.bias"]
        && Self.attribute(fc, "transB")?.i == 1)
  }

  @Test func metadataCarriesClassesAndPreprocessingAsJSON() throws {
    let network = ModelCatalog.make(.small, classes: 2, seed: 1)
    let info = ExportedModelInfo(
      model: .small, classNames: ["red \"one\"", "green"],
      preprocessing: Preprocessing(resizeSide: 73, side: 64, normalization: .imageNet))
    let model = try Self.decode(try ONNXExport.encode(network, info: info))
    let props = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
    #expect(props["model"] == "small" && props["class_names"] == #"["red \"one\"","green"]"#)
    let preprocessing = try #require(
      props["preprocessing"].flatMap {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      })
    #expect(preprocessing["input_size"] as? Int == 64 && preprocessing["resize_side"] as? Int == 73)
    #expect((preprocessing["mean"] as? [Double])?.map(Float.init) == [0.485, 0.456, 0.406])
    #expect((preprocessing["std"] as? [Double])?.map(Float.init) == [0.229, 0.224, 0.225])
    #expect(preprocessing["pixel_scale"] as? Double == 255)
    #expect(try ExportedModelInfo(metadata: props, source: "m") == info)
  }

  @Test func paddingGroupsLRNAndBiasFreeDenseBecomeONNXAttributes() throws {
    let network = Self.mixedNetwork(seed: 9)
    let graph = try Self.decode(
      try ONNXExport.encode(network, info: Self.info(classes: 5, side: 15))
    ).graph
    #expect(
      graph.node.map(\.opType) == [
        "Conv", "Relu", "LRN", "MaxPool", "Conv", "BatchNormalization", "Relu",
        "MaxPool", "AveragePool", "Flatten", "Gemm", "Relu", "Gemm",
      ])
    // A 4-wide window, stride 2, `same` on 15: 8 outputs need (8-1)*2+4-15 = 3 padding cells,
    // the odd one after (TensorFlow's rule); the pool 3/2 p1 gives 4; the `same` 2/1 pool on 4
    // pads 1 after.
    #expect(Self.attribute(graph.node[0], "pads")?.ints == [1, 1, 2, 2])
    #expect(Self.attribute(graph.node[3], "pads")?.ints == [1, 1, 1, 1])
    #expect(Self.attribute(graph.node[7], "pads")?.ints == [0, 0, 1, 1])
    #expect(Self.attribute(graph.node[4], "group")?.i == 2)
    let lrn = graph.node[2]
    // Summed convention α = 1e-3 is ONNX's α / size with α = 3e-3.
    #expect(Self.attribute(lrn, "alpha")?.f == 3e-3 && Self.attribute(lrn, "size")?.i == 3)
    #expect(Self.attribute(lrn, "bias")?.f == 1 && Self.attribute(lrn, "beta")?.f == 0.75)
    #expect(Self.attribute(graph.node[5], "epsilon")?.f == 1e-3)
    #expect(
      graph.node[8].name == "avgpool"
        && Self.attribute(graph.node[8], "kernel_shape")?.ints == [2, 2])
    // No bias; dropout left out.
    #expect(graph.node.last?.input == ["classifier.2", "classifier.3.weight"])
    #expect(graph.node[10].input.first == "flatten")
  }

  @Test func oddSamePaddingIsAsymmetric() throws {
    var g = SeededGenerator(seed: 2)
    let network = Sequential([
      Conv2D(
        inChannels: 3, outChannels: 2, kernel: 4, stride: 2, padding: .same, initializer: .heNormal,
        generator: &g),
      Flatten(),
    ])
    let graph = try Self.decode(
      try ONNXExport.encode(network, info: Self.info(classes: 2 * 5 * 5, side: 9))
    ).graph
    // 9 → ⌈9/2⌉ = 5 outputs need (5-1)*2+4-9 = 3 padding cells: 1 before, 2 after (TensorFlow's
    // rule).
    #expect(Self.attribute(graph.node[0], "pads")?.ints == [1, 1, 2, 2])
  }

  @Test func importRebuildsTheSameLayersAndOutputs() throws {
    let network = Self.mixedNetwork(seed: 4)
    network.eval()
    let info = Self.info(classes: 5, side: 15)
    let bytes = try ONNXExport.encode(network, info: info)
    let imported = try ONNXImport(data: Data(bytes), source: "mixed.onnx")
    #expect(imported.info == info)
    let back = imported.network
    back.eval()
    #expect(back.stateDict.map(\.name) == network.stateDict.map(\.name))
    #expect(
      back.namedLeaves.map(\.name)
        == network.namedLeaves.filter { !($0.layer is Dropout) }.map(\.name))
    for (a, b) in zip(back.stateDict, network.stateDict) {
      #expect(a.tensor == b.tensor, "\(a.name)")
    }
    var rng = SeededGenerator(seed: 11)
    let x = Tensor(
      shape: [2, 3, 15, 15],
      scalars: (0..<(2 * 3 * 15 * 15)).map { _ in Float.random(in: -1...1, using: &rng) })
    let expected = withGradientsDisabled { network(Variable(x)) }.value
    let actual = withGradientsDisabled { back(Variable(x)) }.value
    #expect(actual.shape == [2, 5] && actual.scalars == expected.scalars)
    // Asymmetric pads come back as `same` (symmetric ones as explicit padding, the same
    // arithmetic).
    let first = try #require(back.namedLeaves.first?.layer as? Conv2D)
    #expect(first.padding == .same && first.stride == 2)
  }

  /// The three large catalogue models: the operators in order (dropout left out), initialisers
  /// for every state-dict entry. (Reading them back is tested on `small` and by the command tests.)
  @Test(arguments: [ModelName.alexnet, .alexnetBN, .alexnetTV])
  func catalogueModelsExport(_ name: ModelName) throws {
    let network = ModelCatalog.make(name, classes: 3, seed: 1)
    let info = Self.info(classes: 3, side: name.defaultImageSize, model: name)
    let graph = try Self.decode(try ONNXExport.encode(network, info: info)).graph
    let conv = ["Conv", "Relu"]
    let pool = ["MaxPool"]
    let head = ["Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    let expected: [String]
    switch name {
    case .alexnet:
      expected = conv + ["LRN"] + pool + conv + ["LRN"] + pool + conv + conv + conv + pool + head
    case .alexnetBN:
      let block = conv + ["BatchNormalization"]
      expected = block + pool + block + pool + block + block + block + pool + head
    default:
      expected = conv + pool + conv + pool + conv + conv + conv + pool + ["AveragePool"] + head
    }
    #expect(graph.node.map(\.opType) == expected)
    #expect(graph.initializer.map(\.name) == network.stateDict.map(\.name))
    #expect(
      graph.initializer.map(\.dims) == network.stateDict.map { $0.tensor.shape.map(Int64.init) })
    if name == .alexnet {
      #expect(
        graph.node.filter { $0.opType == "Conv" }.map { Self.attribute($0, "group")?.i } == [
          1, 2, 1, 2, 2,
        ])
      let lrn = try #require(graph.node.first { $0.opType == "LRN" })
      #expect(Self.attribute(lrn, "alpha")?.f == 1e-4 && Self.attribute(lrn, "bias")?.f == 2)
    }
  }

  /// Two residual blocks, one with the identity shortcut, one with a strided 1x1 projection, as
  /// the CustomNetwork example builds them.
  static func residualNetwork(seed: UInt64) -> Sequential {
    var g = SeededGenerator(seed: seed)
    func conv(_ i: Int, _ o: Int, _ k: Int, stride: Int = 1) -> Conv2D {
      Conv2D(
        inChannels: i, outChannels: o, kernel: k, stride: stride, padding: .explicit(k / 2),
        initializer: .heNormal,
        generator: &g)
    }
    let identity = Residual(
      Sequential([conv(4, 4, 3), BatchNorm(channels: 4), ReLU(), conv(4, 4, 3)]))
    let projected = Residual(
      Sequential([conv(4, 6, 3, stride: 2), ReLU(), conv(6, 6, 3)]),
      shortcut: conv(4, 6, 1, stride: 2))
    return Sequential(named: [
      ("stem", Sequential([conv(3, 4, 3), ReLU()])),
      ("blocks", Sequential([identity, ReLU(), projected, ReLU()])),
      ("pool", AdaptiveAveragePool2D(height: 1, width: 1)), ("flatten", Flatten()),
      ("head", Dense(inputs: 6, outputs: 4, initializer: .heNormal, generator: &g)),
    ])
  }

  @Test func residualBlocksBecomeAddNodesAndComeBack() throws {
    let network = Self.residualNetwork(seed: 8)
    network.eval()
    let info = Self.info(classes: 4, side: 9)
    let bytes = try ONNXExport.encode(network, info: info)
    let graph = try Self.decode(bytes).graph
    let adds = graph.node.filter { $0.opType == "Add" }
    #expect(adds.map(\.name) == ["blocks.0", "blocks.2"])
    #expect(
      adds.map(\.input) == [
        ["blocks.0.branch.3", "stem.1"], ["blocks.2.branch.2", "blocks.2.shortcut"],
      ])
    let projection = try #require(graph.node.first { $0.name == "blocks.2.shortcut" })
    #expect(
      projection.input.first == "blocks.1" && Self.attribute(projection, "strides")?.ints == [2, 2])

    let back = try ONNXImport(data: Data(bytes), source: "residual.onnx").network
    back.eval()
    #expect(back.stateDict.map(\.name) == network.stateDict.map(\.name))
    var rng = SeededGenerator(seed: 3)
    let x = Tensor(
      shape: [2, 3, 9, 9],
      scalars: (0..<(2 * 3 * 81)).map { _ in Float.random(in: -1...1, using: &rng) })
    let expected = withGradientsDisabled { network(Variable(x)) }.value
    #expect(withGradientsDisabled { back(Variable(x)) }.value.scalars == expected.scalars)

    // The same nodes wired differently (the identity block adding its input twice) are refused.
    var rewired = try Self.decode(bytes)
    let index = try #require(rewired.graph.node.firstIndex { $0.name == "blocks.0" })
    rewired.graph.node[index].input = ["stem.1", "stem.1"]
    do {
      _ = try ONNXImport(data: try rewired.serializedData(), source: "rewired.onnx")
      Issue.record("accepted a rewired graph")
    } catch {
      #expect(
        "\(error)" == "rewired.onnx: the nodes are not connected as this tool exports these layers")
    }
  }

  final class Doubler: Layer {
    var isTraining = true
    func callAsFunction(_ input: Variable) -> Variable { input + input }
    func outputShape(for inputShape: [Int]) throws(ShapeError) -> [Int] { inputShape }
  }

  @Test func unexportableLayersAreRefusedByName() throws {
    let cases: [(any Layer, Int, String)] = [
      (Sequential([Doubler(), Flatten()]), 4, "layer 0 (Doubler) has no ONNX form"),
      (Sequential([LocalResponseNorm(LRNParameters(size: 4)), Flatten()]), 4, "size 4 is even"),
      (
        Sequential([AdaptiveAveragePool2D(height: 3, width: 3), Flatten()]), 5,
        "5x5 to 3x3 is no ONNX AveragePool"
      ),
    ]
    for (network, side, message) in cases {
      let info = Self.info(classes: 3 * 3 * 3, side: side)
      #expect(throws: ExportError.self) { try ONNXExport.encode(network, info: info) }
      do { _ = try ONNXExport.encode(network, info: info) } catch {
        #expect("\(error)".contains(message), "\(error)")
      }
    }
  }

  @Test func foreignOrBrokenFilesAreRefusedInOneLine() throws {
    var model = Onnx_ModelProto()
    model.producerName = "pytorch"
    let foreign = try model.serializedData()
    let cases: [(Data, String)] = [
      (foreign, "other.onnx: made by pytorch; only ONNX files exported by alexnet can be read"),
      (Data("not a protobuf at all".utf8), "other.onnx: not an ONNX model"),
    ]
    for (data, message) in cases {
      do {
        _ = try ONNXImport(data: data, source: "other.onnx")
        Issue.record("accepted \(message)")
      } catch { #expect("\(error)" == message || "\(error)".hasPrefix(message), "\(error)") }
    }
    // Our own file with an operator we never write.
    let network = ModelCatalog.make(.small, classes: 2, seed: 1)
    var ours = try Self.decode(
      try ONNXExport.encode(network, info: Self.info(classes: 2, side: 64)))
    ours.graph.node[1].opType = "Sigmoid"
    do {
      _ = try ONNXImport(data: try ours.serializedData(), source: "edited.onnx")
      Issue.record("accepted a Sigmoid")
    } catch {
      #expect(
        "\(error)".contains("operator Sigmoid (node features.1) is not one this tool exports"))
    }
  }
}
