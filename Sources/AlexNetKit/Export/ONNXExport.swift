import Foundation
import SwiftProtobuf

/// ONNX export: the layer tree becomes a graph of standard operators (opset 17) with input
/// `images` [N, 3, S, S] (N dynamic) and output `logits` [N, classes]. Initialisers keep the
/// state-dict names (`features.0.weight`), and each node is named after its layer's path
/// (`features.0`; a `Residual` at `3` is an Add named `3` of `3.branch...` and `3.shortcut...` or
/// its input), which is what lets `ONNXImport` rebuild the same layers from the file.
public enum ONNXExport {
  public static let opsetVersion: Int64 = 17
  /// IR version 8 is the one that came with opset 17 (onnx 1.12): the oldest runtimes that know
  /// the opset read the file.
  public static let irVersion: Int64 = 8
  public static let producerName = "alexnet-swift"

  /// The encoded model: `network` in inference form (dropout left out, batch norm on its running
  /// statistics) for inputs of `info.preprocessing.side` pixels, with `info` in `metadata_props`.
  public static func encode(_ network: any Layer, info: ExportedModelInfo) throws -> [UInt8] {
    let side = info.preprocessing.side
    var builder = ONNXGraphBuilder()
    let (output, shape) = try builder.emit(
      network, path: "", input: "images", shape: [1, 3, side, side])
    guard shape.count == 2, shape[1] == info.classNames.count else {
      throw ExportError(
        "the network gives \(shape) for one image, not [1, \(info.classNames.count)] logits")
    }
    builder.rename(output, to: "logits")
    var graph = Onnx_GraphProto()
    graph.name = info.model?.rawValue ?? "network"
    graph.node = builder.nodes
    graph.initializer = builder.initializers
    graph.input = [valueInfo("images", [nil, 3, side, side])]
    graph.output = [valueInfo("logits", [nil, shape[1]])]
    var model = Onnx_ModelProto()
    model.irVersion = irVersion
    model.producerName = producerName
    model.opsetImport = [
      Onnx_OperatorSetIdProto.with {
        $0.domain = ""
        $0.version = opsetVersion
      }
    ]
    model.graph = graph
    model.metadataProps = try info.metadata().sorted { $0.key < $1.key }.map { entry in
      Onnx_StringStringEntryProto.with {
        $0.key = entry.key
        $0.value = entry.value
      }
    }
    return [UInt8](try model.serializedData())
  }

  /// Writes the model atomically (see `AtomicFile`).
  public static func write(_ network: any Layer, info: ExportedModelInfo, to url: URL) throws {
    try AtomicFile.write(encode(network, info: info), to: url)
  }

  /// A float32 tensor's type and shape; nil dimensions are the dynamic batch "N".
  static func valueInfo(_ name: String, _ dims: [Int?]) -> Onnx_ValueInfoProto {
    var tensorType = Onnx_TypeProto.Tensor()
    tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    tensorType.shape.dim = dims.map { d in
      Onnx_TensorShapeProto.Dimension.with {
        if let d { $0.dimValue = Int64(d) } else { $0.dimParam = "N" }
      }
    }
    return Onnx_ValueInfoProto.with {
      $0.name = name
      $0.type.tensorType = tensorType
    }
  }
}

/// Pads before and after along one axis, in ONNX's explicit form, for our padding conventions.
func onnxPads(
  _ padding: Padding, input: Int, window: Int, stride: Int
) throws(ShapeError) -> (Int, Int) {
  let resolved = try padding.resolve(input: input, window: window, stride: stride)
  switch padding {
  case .valid: return (0, 0)
  case .explicit(let p): return (p, p)
  case .same:
    let total = max((resolved.output - 1) * stride + window - input, 0)
    return (resolved.before, total - resolved.before)
  }
}

/// The path of a child: "features" and "0" give "features.0"; at the root, the name alone.
func childPath(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

/// Collects nodes and initialisers while walking the layer tree.
struct ONNXGraphBuilder {
  var nodes: [Onnx_NodeProto] = []
  var initializers: [Onnx_TensorProto] = []
  /// False when only the nodes are wanted (the import's check), to spare copying the weights.
  var keepsInitializers = true

  /// Emits `layer` (named `path`) applied to the tensor `input` of `shape` (batch 1); returns
  /// the output's name and shape.
  mutating func emit(
    _ layer: any Layer, path: String, input: String, shape: [Int]
  ) throws -> (String, [Int]) {
    let outputShape: [Int]
    do { outputShape = try layer.outputShape(for: shape) } catch {
      throw ExportError("layer \(path.isEmpty ? "(root)" : path) (\(layer.kind)): \(error.message)")
    }
    if let sequential = layer as? Sequential {
      var current = (input, shape)
      for (name, layer) in sequential.layers {
        current = try emit(layer, path: childPath(path, name), input: current.0, shape: current.1)
      }
      return current
    }
    if let residual = layer as? Residual {
      let branch = try emit(
        residual.branch, path: childPath(path, "branch"), input: input, shape: shape
      ).0
      let shortcut = try residual.shortcut.map {
        try emit($0, path: childPath(path, "shortcut"), input: input, shape: shape).0
      }
      add("Add", path, [branch, shortcut ?? input])
      return (path, outputShape)
    }
    if layer is Dropout { return (input, shape) }  // the identity in inference
    guard try emitLeaf(layer, path: path, input: input, shape: shape) else {
      throw ExportError(
        "layer \(path) (\(layer.kind)) has no ONNX form here; exportable: Sequential, Residual, "
          + "Conv2D, ReLU, LocalResponseNorm, MaxPool2D, BatchNorm, Dense, Flatten, Dropout, "
          + "AdaptiveAveragePool2D (to a size that divides its input)")
    }
    return (path, outputShape)
  }

  /// One node for a leaf layer, output named `path`; false for a layer type without an ONNX form.
  mutating func emitLeaf(
    _ layer: any Layer, path: String, input: String, shape: [Int]
  ) throws -> Bool {
    switch layer {
    case let conv as Conv2D: try emitConvolution(conv, path: path, input: input, shape: shape)
    case is ReLU: add("Relu", path, [input])
    case is Flatten: add("Flatten", path, [input], [.int("axis", 1)])
    case let pool as MaxPool2D: try emitMaxPool(pool, path: path, input: input, shape: shape)
    case let pool as AdaptiveAveragePool2D:
      try emitAveragePool(pool, path: path, input: input, shape: shape)
    case let lrn as LocalResponseNorm: try emitLRN(lrn.configuration, path: path, input: input)
    case let norm as BatchNorm:
      let names = norm.parameters.map(\.name) + norm.buffers.map(\.name)  // scale, B, mean, var
      for (name, variable) in norm.parameters + norm.buffers {
        addInitializer("\(path).\(name)", variable.value)
      }
      add(
        "BatchNormalization", path, [input] + names.map { "\(path).\($0)" },
        [.float("epsilon", norm.configuration.epsilon)])
    case let dense as Dense:
      addInitializer("\(path).weight", dense.weight.value)
      if let bias = dense.bias { addInitializer("\(path).bias", bias.value) }
      add(
        "Gemm", path, [input, "\(path).weight"] + (dense.bias == nil ? [] : ["\(path).bias"]),
        [.int("transB", 1)])
    default: return false
    }
    return true
  }

  mutating func emitConvolution(_ conv: Conv2D, path: String, input: String, shape: [Int]) throws {
    let k = conv.kernel
    let rows = try onnxPads(conv.padding, input: shape[2], window: k, stride: conv.stride)
    let columns = try onnxPads(conv.padding, input: shape[3], window: k, stride: conv.stride)
    addInitializer("\(path).weight", conv.weight.value)
    if let bias = conv.bias { addInitializer("\(path).bias", bias.value) }
    add(
      "Conv", path, [input, "\(path).weight"] + (conv.bias == nil ? [] : ["\(path).bias"]),
      [
        .ints("kernel_shape", [k, k]), .ints("strides", [conv.stride, conv.stride]),
        .ints("dilations", [1, 1]),
        .ints("pads", [rows.0, columns.0, rows.1, columns.1]), .int("group", conv.groups),
      ])
  }

  mutating func emitMaxPool(_ pool: MaxPool2D, path: String, input: String, shape: [Int]) throws {
    let rows = try onnxPads(pool.padding, input: shape[2], window: pool.window, stride: pool.stride)
    let columns = try onnxPads(
      pool.padding, input: shape[3], window: pool.window, stride: pool.stride)
    add(
      "MaxPool", path, [input],
      [
        .ints("kernel_shape", [pool.window, pool.window]),
        .ints("strides", [pool.stride, pool.stride]),
        .ints("pads", [rows.0, columns.0, rows.1, columns.1]),
      ])
  }

  /// Adaptive pooling is a plain AveragePool (window = stride = input / output) exactly when the
  /// output size divides the input size; other sizes have windows of varying extent.
  mutating func emitAveragePool(
    _ pool: AdaptiveAveragePool2D, path: String, input: String, shape: [Int]
  ) throws {
    let (h, w) = (shape[2], shape[3])
    guard h % pool.height == 0, w % pool.width == 0 else {
      throw ExportError(
        "layer \(path) (AdaptiveAveragePool2D): \(h)x\(w) to \(pool.height)x\(pool.width) is no "
          + "ONNX AveragePool (the output size must divide the input size); "
          + "export another input size"
      )
    }
    let window = [h / pool.height, w / pool.width]
    add("AveragePool", path, [input], [.ints("kernel_shape", window), .ints("strides", window)])
  }

  /// ONNX's LRN divides α by the size, as the `.averaged` convention does, and its window is
  /// centred only for odd sizes (ours and PyTorch's put the extra channel before c).
  mutating func emitLRN(_ lrn: LRNParameters, path: String, input: String) throws {
    guard lrn.size % 2 == 1 else {
      throw ExportError(
        "layer \(path) (LocalResponseNorm): size \(lrn.size) is even; ONNX's LRN window differs")
    }
    let alpha = lrn.convention == .averaged ? lrn.alpha : lrn.alpha * Float(lrn.size)
    add(
      "LRN", path, [input],
      [
        .int("size", lrn.size), .float("alpha", alpha), .float("beta", lrn.beta),
        .float("bias", lrn.k),
      ])
  }

  mutating func add(
    _ op: String, _ name: String, _ inputs: [String], _ attributes: [ONNXAttribute] = []
  ) {
    var node = Onnx_NodeProto()
    (node.opType, node.name, node.input, node.output) = (op, name, inputs, [name])
    node.attribute = attributes.map(\.proto)
    nodes.append(node)
  }

  mutating func addInitializer(_ name: String, _ tensor: Tensor) {
    guard keepsInitializers else { return }
    var proto = Onnx_TensorProto()
    proto.name = name
    proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    proto.dims = tensor.shape.map(Int64.init)
    proto.rawData = tensor.withUnsafeBufferPointer { values in
      #if _endian(little)
        Data(buffer: values)  // raw_data is little-endian, as the values are in memory
      #else
        Data(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
      #endif
    }
    initializers.append(proto)
  }

  /// Renames the tensor `old` (the last node's output) to `new`.
  mutating func rename(_ old: String, to new: String) {
    for i in nodes.indices { nodes[i].output = nodes[i].output.map { $0 == old ? new : $0 } }
  }
}

/// The attribute kinds the exporter writes.
enum ONNXAttribute {
  case int(String, Int)
  case ints(String, [Int])
  case float(String, Float)

  var proto: Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    switch self {
    case .int(let name, let value): (a.name, a.type, a.i) = (name, .int, Int64(value))
    case .ints(let name, let values):
      (a.name, a.type, a.ints) = (name, .ints, values.map(Int64.init))
    case .float(let name, let value): (a.name, a.type, a.f) = (name, .float, value)
    }
    return a
  }
}
