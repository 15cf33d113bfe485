import Foundation
import SwiftProtobuf

/// Reads back an ONNX file that `ONNXExport` wrote: the layers from the nodes (each node named
/// after its layer's path), the weights from the initialisers, the class names and preprocessing
/// from the metadata. Graphs from elsewhere are refused: their naming and operator choices
/// (Reshape, MatMul, Softmax...) are not this tool's.
public struct ONNXImport {
  public var network: Sequential
  public var info: ExportedModelInfo

  public init(contentsOf url: URL) throws {
    let data = try FileError.readRegularFile(url, expected: "an .onnx model")
    try self.init(data: data, source: url.path)
  }

  public init(data: Data, source: String) throws {
    let model: Onnx_ModelProto
    do { model = try Onnx_ModelProto(serializedBytes: data) } catch {
      throw ExportError("\(source): not an ONNX model (protobuf decoding failed)")
    }
    guard model.producerName == ONNXExport.producerName else {
      let producer = model.producerName.isEmpty ? "an unnamed producer" : model.producerName
      throw ExportError(
        "\(source): made by \(producer); only ONNX files exported by alexnet can be read")
    }
    let metadata = Dictionary(
      model.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    info = try ExportedModelInfo(metadata: metadata, source: source)
    let reader = ONNXGraphReader(graph: model.graph, source: source)
    let side = info.preprocessing.side
    let (leaves, residuals) = try reader.leaves(inputShape: [1, 3, side, side])
    let split = leaves.map {
      (path: $0.path.split(separator: ".").map(String.init), layer: $0.layer)
    }
    guard let root = try Self.tree(split, prefix: [], residuals: residuals, source) as? Sequential
    else {
      throw ExportError("\(source): the graph's top level is not a sequence of layers")
    }
    network = root
    // The layers must give back exactly the file's nodes: this checks the data flow (which
    // tensor each node reads) that the paths alone do not say.
    var again = ONNXGraphBuilder(keepsInitializers: false)
    do {
      let (output, shape) = try again.emit(
        network, path: "", input: "images", shape: [1, 3, side, side])
      again.rename(output, to: "logits")
      guard shape == [1, info.classNames.count] else {
        throw ExportError("gives \(shape) for one image but names \(info.classNames.count) classes")
      }
    } catch { throw ExportError("\(source): the graph's layers do not fit together: \(error)") }
    guard again.nodes == model.graph.node else {
      throw ExportError("\(source): the nodes are not connected as this tool exports these layers")
    }
  }

  /// Nested layers from dotted paths, in order: "features.0" and "features.1" become children
  /// "0" and "1" of a `Sequential` "features"; a path in `residuals` is a `Residual` of its
  /// "branch" and "shortcut" children.
  static func tree(
    _ leaves: [(path: [String], layer: any Layer)], prefix: [String], residuals: Set<String>,
    _ source: String
  ) throws -> any Layer {
    var children: [(String, any Layer)] = []
    var index = 0
    while index < leaves.count {
      guard let head = leaves[index].path.first else {
        throw ExportError("\(source): a node has no name")
      }
      var end = index + 1
      while end < leaves.count, leaves[end].path.first == head { end += 1 }
      if leaves[index].path.count == 1 {
        guard end == index + 1 else { throw ExportError("\(source): two nodes are named \(head)") }
        children.append((head, leaves[index].layer))
      } else {
        let group = leaves[index..<end].map { (path: Array($0.path.dropFirst()), layer: $0.layer) }
        guard group.allSatisfy({ !$0.path.isEmpty }) else {
          throw ExportError("\(source): node \(head) is also a group")
        }
        children.append(
          (head, try tree(group, prefix: prefix + [head], residuals: residuals, source)))
      }
      index = end
    }
    guard residuals.contains(prefix.joined(separator: ".")) else {
      return Sequential(named: children)
    }
    let names = children.map(\.0)
    guard names == ["branch"] || names == ["branch", "shortcut"] else {
      throw ExportError("\(source): residual \(prefix.joined(separator: ".")) has parts \(names)")
    }
    return Residual(children[0].1, shortcut: children.count > 1 ? children[1].1 : nil)
  }
}

/// Turns the nodes of an exported graph back into leaf layers, following the shapes from the
/// input so that pads can be matched to our padding conventions.
struct ONNXGraphReader {
  let graph: Onnx_GraphProto
  let source: String
  let weights: [String: Onnx_TensorProto]

  init(graph: Onnx_GraphProto, source: String) {
    (self.graph, self.source) = (graph, source)
    weights = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
  }

  /// The layers in node order, each with its path, and the paths of the Add nodes (residual
  /// blocks). Shapes follow the tensors from `images`, so that pads can be matched.
  func leaves(
    inputShape: [Int]
  ) throws -> (leaves: [(path: String, layer: any Layer)], residuals: Set<String>) {
    var shapes = ["images": inputShape]
    var result: [(path: String, layer: any Layer)] = []
    var residuals: Set<String> = []
    for node in graph.node {
      guard let input = node.input.first, let shape = shapes[input], node.output.count == 1 else {
        throw ExportError(
          "\(source): node \(node.name) (\(node.opType)) does not follow from images")
      }
      if node.opType == "Add" {
        residuals.insert(node.name)
        shapes[node.output[0]] = shape
        continue
      }
      let layer = try self.layer(node, shape: shape)
      do { shapes[node.output[0]] = try layer.outputShape(for: shape) } catch {
        throw ExportError("\(source): node \(node.name) (\(node.opType)): \(error.message)")
      }
      result.append((node.name, layer))
    }
    guard graph.node.last?.output == ["logits"] else {
      throw ExportError("\(source): the graph does not end in logits")
    }
    return (result, residuals)
  }

  func layer(_ node: Onnx_NodeProto, shape: [Int]) throws -> any Layer {
    let a = ONNXAttributes(node, source: source)
    switch node.opType {
    case "Relu": return ReLU()
    case "Flatten":
      guard try a.int("axis", default: 1) == 1 else { throw a.unsupported("axis") }
      return Flatten()
    case "LRN":
      return LocalResponseNorm(
        LRNParameters(
          size: try a.int("size"), alpha: try a.float("alpha", default: 1e-4),
          beta: try a.float("beta", default: 0.75), k: try a.float("bias", default: 1)))
    case "BatchNormalization":
      let values = try (1...4).map { try tensor(node, $0) }
      let norm = BatchNorm(
        channels: values[0].count,
        configuration: BatchNormParameters(epsilon: try a.float("epsilon", default: 1e-5)))
      for (variable, value) in zip(
        [norm.gamma, norm.beta, norm.runningMean, norm.runningVariance], values)
      {
        variable.value = value
      }
      return norm
    case "Gemm":
      guard try a.int("transB", default: 0) == 1, try a.int("transA", default: 0) == 0,
        try a.float("alpha", default: 1) == 1, try a.float("beta", default: 1) == 1
      else { throw a.unsupported("transA, transB, alpha or beta") }
      return Dense(
        weight: try tensor(node, 1), bias: node.input.count > 2 ? try tensor(node, 2) : nil)
    case "Conv": return try convolution(node, a, shape: shape)
    case "MaxPool":
      let (window, stride, padding) = try a.window(shape: shape)
      return MaxPool2D(window: window, stride: stride, padding: padding)
    case "AveragePool":
      let (window, stride, padding) = try a.window(shape: shape)
      guard window == stride, padding == .valid, shape[2] % window == 0, shape[3] % window == 0
      else {
        throw a.unsupported("kernel_shape, strides or pads")
      }
      return AdaptiveAveragePool2D(height: shape[2] / window, width: shape[3] / window)
    default:
      throw ExportError(
        "\(source): operator \(node.opType) (node \(node.name)) is not one this tool exports")
    }
  }

  func convolution(_ node: Onnx_NodeProto, _ a: ONNXAttributes, shape: [Int]) throws -> Conv2D {
    guard try a.ints("dilations", default: [1, 1]) == [1, 1] else {
      throw a.unsupported("dilations")
    }
    let (_, stride, padding) = try a.window(shape: shape)
    let weight = try tensor(node, 1)
    let groups = try a.int("group", default: 1)
    guard weight.rank == 4, weight.shape[2] == weight.shape[3], groups > 0,
      weight.shape[0] % groups == 0,
      shape.count == 4, shape[1] == weight.shape[1] * groups
    else {
      throw ExportError(
        "\(source): node \(node.name) (Conv): weight \(weight.shape) does not fit input \(shape)")
    }
    let bias = node.input.count > 2 ? try tensor(node, 2) : nil
    if let bias, bias.shape != [weight.shape[0]] {
      throw ExportError(
        "\(source): node \(node.name) (Conv): bias \(bias.shape) for weight \(weight.shape)")
    }
    return Conv2D(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
  }

  /// The node's input `index` as a tensor, from the float32 initialiser of that name.
  func tensor(_ node: Onnx_NodeProto, _ index: Int) throws -> Tensor {
    guard index < node.input.count, let proto = weights[node.input[index]] else {
      throw ExportError(
        "\(source): node \(node.name) (\(node.opType)) lacks input \(index) among the initialisers")
    }
    let shape = proto.dims.map(Int.init)
    let count = shape.reduce(1, *)
    guard proto.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue),
      shape.allSatisfy({ $0 >= 0 })
    else {
      throw ExportError("\(source): initialiser \(proto.name) is not a float32 tensor")
    }
    if !proto.floatData.isEmpty, proto.floatData.count == count {
      return Tensor(shape: shape, scalars: proto.floatData)
    }
    guard proto.rawData.count == count * 4 else {
      throw ExportError(
        "\(source): initialiser \(proto.name) has \(proto.rawData.count) bytes for shape \(shape)")
    }
    var tensor = Tensor(uninitializedShape: shape)
    tensor.withUnsafeMutableBufferPointer { values in
      proto.rawData.withUnsafeBytes { raw in
        #if _endian(little)
          UnsafeMutableRawBufferPointer(values).copyMemory(from: raw)  // raw_data is little-endian
        #else
          for i in 0..<count {
            values[i] = Float(
              bitPattern: UInt32(
                littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
          }
        #endif
      }
    }
    return tensor
  }
}

/// A node's attributes, read with the defaults ONNX gives them and checked against what our
/// layers can express.
struct ONNXAttributes {
  let node: Onnx_NodeProto
  let source: String

  init(_ node: Onnx_NodeProto, source: String) { (self.node, self.source) = (node, source) }

  func attribute(_ name: String) -> Onnx_AttributeProto? {
    node.attribute.first { $0.name == name }
  }

  func int(_ name: String, default value: Int? = nil) throws -> Int {
    if let a = attribute(name), a.type == .int { return Int(a.i) }
    guard attribute(name) == nil, let value else { throw unsupported(name) }
    return value
  }

  func ints(_ name: String, default value: [Int]? = nil) throws -> [Int] {
    if let a = attribute(name), a.type == .ints { return a.ints.map(Int.init) }
    guard attribute(name) == nil, let value else { throw unsupported(name) }
    return value
  }

  func float(_ name: String, default value: Float) throws -> Float {
    if let a = attribute(name), a.type == .float { return a.f }
    guard attribute(name) == nil else { throw unsupported(name) }
    return value
  }

  func unsupported(_ what: String) -> ExportError {
    ExportError(
      "\(source): node \(node.name) (\(node.opType)) has \(what) this tool does not export")
  }

  /// A square window, equal strides, and pads that one of our paddings gives at this input size.
  func window(shape: [Int]) throws -> (window: Int, stride: Int, padding: Padding) {
    let kernel = try ints("kernel_shape")
    let strides = try ints("strides", default: [1, 1])
    let pads = try ints("pads", default: [0, 0, 0, 0])
    guard shape.count == 4, kernel.count == 2, kernel[0] == kernel[1], strides.count == 2,
      strides[0] == strides[1],
      pads.count == 4, try int("ceil_mode", default: 0) == 0, attribute("auto_pad") == nil
    else { throw unsupported("a window") }
    let (k, s) = (kernel[0], strides[0])
    let candidates: [Padding] = [pads[0] == 0 ? .valid : .explicit(pads[0]), .same]
    for padding in candidates {
      let rows = try? onnxPads(padding, input: shape[2], window: k, stride: s)
      let columns = try? onnxPads(padding, input: shape[3], window: k, stride: s)
      if let rows, let columns, [rows.0, columns.0, rows.1, columns.1] == pads {
        return (k, s, padding)
      }
    }
    throw unsupported("pads \(pads)")
  }
}
