/// The activations of the last hidden layer: everything but the final dense layer, in inference
/// mode. For the AlexNets these are the 4096-dimensional vectors the paper compares by Euclidean
/// distance to retrieve similar images (Krizhevsky et al. 2012, §6.1, Figure 4).
public func penultimateFeatures(_ model: Sequential, images: Tensor) -> Tensor {
  model.inInferenceMode { withGradientsDisabled {
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
  } }
}

/// Indices and Euclidean distances of the `count` rows of `index` [N, D] nearest to `query` [D].
public func nearestNeighbours(of query: [Float], in index: Tensor, count: Int) -> [(row: Int, distance: Float)] {
  precondition(index.rank == 2 && index.shape[1] == query.count, "features \(index.shape) and a query of \(query.count)")
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
  return Array(distances.sorted { $0.1 < $1.1 }.prefix(count)).map { (row: $0.0, distance: $0.1) }
}
