/// The activations of the last hidden layer: everything but the final dense layer, in inference
/// mode. For the AlexNets these are the 4096-dimensional vectors the paper compares by Euclidean
/// distance to retrieve similar images (Krizhevsky et al. 2012, §6.1, Figure 4).
///
/// The rule is the catalogue's: the model is a `Sequential` whose last layer is the classifier, or
/// a `Sequential` (`classifier`) ending in it. For other networks, name the layer
/// (`features(of:images:through:)`) or give an extractor (`features(of:images:extractor:)`).
public func penultimateFeatures(_ model: any Layer, images: Tensor) -> Tensor {
  guard let model = model as? Sequential else {
    preconditionFailure(
      "penultimateFeatures needs a Sequential; name the layer with features(of:images:through:)")
  }
  return model.inInferenceMode {
    withGradientsDisabled {
      var x = Variable(images)
      for (index, (_, layer)) in model.layers.enumerated() {
        if index == model.layers.count - 1, let last = layer as? Sequential {
          for (_, inner) in last.layers.dropLast() { x = inner(x) }
        } else if index == model.layers.count - 1 {
          break  // the last layer itself is the classifier
        } else {
          x = layer(x)
        }
      }
      return x.value
    }
  }
}

/// The output of the layer named `layerName` ("classifier.4", as in `namedLayers`), in inference
/// mode: the model runs up to and including that layer. The path must go through `Sequential`s
/// only (inside a `Residual` or a layer of one's own, the order of its children is its own code's;
/// use an extractor there). Throws a `ShapeError` naming the layer when it cannot be reached.
public func features(
  of model: any Layer, images: Tensor, through layerName: String
) throws(ShapeError) -> Tensor {
  let path = layerName.split(separator: ".").map(String.init)
  guard !path.isEmpty else { throw ShapeError("features: an empty layer name") }
  let result = model.inInferenceMode {
    withGradientsDisabled {
      Result { () throws(ShapeError) -> Tensor in
        try forward(model, until: path[...], name: layerName, input: Variable(images)).value
      }
    }
  }
  return try result.get()
}

/// Runs the `Sequential` `layer` up to the child at the head of `path`, then into that child.
func forward(
  _ layer: any Layer, until path: ArraySlice<String>, name: String,
  input: Variable
) throws(ShapeError) -> Variable {
  guard let head = path.first else { return layer(input) }
  guard let sequential = layer as? Sequential else {
    throw ShapeError(
      "features: cannot stop at \(name) inside a \(layer.kind) (only inside Sequential layers)")
  }
  guard let index = sequential.layers.firstIndex(where: { $0.name == head }) else {
    throw ShapeError("features: the model has no layer \(name)")
  }
  var x = input
  for (_, inner) in sequential.layers[..<index] { x = inner(x) }
  return try forward(sequential.layers[index].layer, until: path.dropFirst(), name: name, input: x)
}

/// The output of `extractor` applied to the images, in inference mode and without a graph: for a
/// network of one's own, the extractor calls the layers it wants (`{ model.body($0) }`).
public func features(
  of model: any Layer, images: Tensor, extractor: (Variable) -> Variable
) -> Tensor {
  model.inInferenceMode { withGradientsDisabled { extractor(Variable(images)).value } }
}

/// Indices and Euclidean distances of the `count` rows of `index` [N, D] nearest to `query` [D].
public func nearestNeighbours(of query: [Float], in index: Tensor, count: Int) -> [(
  row: Int, distance: Float
)] {
  precondition(
    index.rank == 2 && index.shape[1] == query.count,
    "features \(index.shape) and a query of \(query.count)")
  let d = query.count
  let distances = index.withUnsafeBufferPointer { rows in
    (0..<index.shape[0]).map { row -> (Int, Float) in
      var sum: Float = 0
      for j in 0..<d {
        let difference = rows[row * d + j] - query[j]
        sum += difference * difference
      }
      return (row, sum.squareRoot())
    }
  }
  // NaN (a row or query with NaN values) sorts after every number, never among the nearest.
  let ordered = distances.sorted { a, b in !a.1.isNaN && (b.1.isNaN || a.1 < b.1) }
  return Array(ordered.prefix(count)).map { (row: $0.0, distance: $0.1) }
}

/// A fingerprint of a model's state (FNV-1a, 64 bits, over each entry's name, shape and float
/// bits), as 16 hex digits. A feature index records it, so that a query is embedded by the very
/// weights the index was: other weights of the same width give distances that mean nothing.
public func weightsDigest(_ model: any Layer) -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  func mix(_ value: UInt64) { hash = (hash ^ value) &* 0x100_0000_01b3 }
  for (name, tensor) in model.stateDict {
    for byte in name.utf8 { mix(UInt64(byte)) }
    for size in tensor.shape { mix(UInt64(truncatingIfNeeded: size)) }
    tensor.withUnsafeBufferPointer { values in
      for value in values { mix(UInt64(value.bitPattern)) }
    }
  }
  return String(hash, radix: 16)
}
