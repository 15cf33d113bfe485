import AlexNetKit
import ArgumentParser
import Foundation

/// `alexnet features`: the last hidden layer's activations for every image of a folder.
struct Features: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Write the last hidden layer's activations (the paper's feature vectors) for every image.",
    discussion: """
      The output is a safetensors file: "features" [N, D] (D = 4096 for the AlexNets, 512 for \
      small) and "labels" [N] (class indices, as F32), with metadata "paths" and "class_names" \
      (JSON arrays), "model" and "weights". `alexnet similar` searches it.
      """)

  @Option(help: "A checkpoint of this tool, or bare weights with --model.")
  var weights: String

  @Option(
    help: ArgumentHelp(
      "The model of bare weights (a file without a model record, such as a PyTorch state dict): "
        + ModelName.allCases.map(\.rawValue).joined(separator: ", ") + "."))
  var model: ModelName?

  @Option(help: "Image folder (root/<class>/<image>).")
  var data: String

  @Option(help: "Output .safetensors file.")
  var output: String

  @Option(help: "Images per batch.")
  var batchSize = 32

  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    guard batchSize >= 1 else {
      throw ValidationError("--batch-size must be at least 1, got \(batchSize)")
    }
  }

  func run() throws {
    try compute.run {
      try CommandError.checkOutput(output, isNot: [("--weights", weights)])
      let loaded = try LoadedModel(weights: weights, model: model, classesFile: nil)
      try Evaluate.checkMemory(
        loaded,
        flags: LoadedModel.preprocessingFlags(resize: nil, crop: nil, batch: "--batch-size"),
        batch: batchSize)
      let folder = try ImageFolder(root: URL(fileURLWithPath: data))
      let loader = BatchLoader(
        samples: folder.samples, pipeline: loaded.preprocessing.pipeline, batchSize: batchSize,
        shuffle: false,
        workers: compute.workers)
      loader.onBadFile = { path, reason in printError("warning: skipped \(path): \(reason)") }
      var rows: [Float] = []
      var labels: [Float] = []
      var paths: [String] = []
      var width = 0
      for batch in loader.epoch(0) where !batch.labels.isEmpty {
        let features = penultimateFeatures(loaded.network, images: batch.images)
        width = features.shape[1]
        rows += features.scalars
        labels += batch.labels.map(Float.init)
        paths += batch.paths
      }
      guard !paths.isEmpty else { throw CommandError("\(data): no readable images") }
      let encoder = JSONEncoder()
      encoder.outputFormatting = .withoutEscapingSlashes
      let metadata = [
        "paths": String(decoding: try encoder.encode(paths), as: UTF8.self),
        "class_names": String(decoding: try encoder.encode(folder.classNames), as: UTF8.self),
        "model": loaded.name.rawValue, "weights": weights,
        "weights_digest": weightsDigest(loaded.network),
      ]
      try Safetensors.write(
        [
          ("features", Tensor(shape: [paths.count, width], scalars: rows)),
          ("labels", Tensor(shape: [paths.count], scalars: labels)),
        ],
        metadata: metadata, to: URL(fileURLWithPath: output))
      print("Wrote \(paths.count) feature vectors of \(width) values to \(output)")
    }
  }
}

/// `alexnet similar`: the indexed images nearest to a query image.
struct Similar: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "List the indexed images nearest to a query image, by Euclidean distance between feature vectors."
  )

  @Option(help: "A file written by `alexnet features`.")
  var features: String

  @Option(help: "The checkpoint (or bare weights, with --model) that made the features.")
  var weights: String

  @Option(
    help: ArgumentHelp(
      "The model of bare weights (a file without a model record, such as a PyTorch state dict): "
        + ModelName.allCases.map(\.rawValue).joined(separator: ", ") + "."))
  var model: ModelName?

  @Option(help: "How many neighbours.")
  var top = 8

  @Option(help: "Also write an HTML page showing the query beside its neighbours.")
  var html: String?

  @OptionGroup var compute: ComputeOptions

  @Argument(help: "The query image.")
  var image: String

  func validate() throws {
    guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
  }

  func run() throws {
    try compute.run {
      if let html {
        try CommandError.checkOutput(
          html, flag: "--html",
          isNot: [("--features", features), ("--weights", weights), ("IMAGE", image)])
      }
      let index = try SafetensorsFile(contentsOf: URL(fileURLWithPath: features))
      let matrix = try index.tensor(named: "features")
      let paths =
        (try? JSONDecoder().decode([String].self, from: Data((index.metadata["paths"] ?? "").utf8)))
        ?? []
      guard matrix.rank == 2, paths.count == matrix.shape[0] else {
        throw CommandError("\(features): expected \"features\" [N, D] and N paths in its metadata")
      }
      let loaded = try LoadedModel(weights: weights, model: model, classesFile: nil)
      try checkIndex(index, matrix: matrix, network: loaded.network)
      let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
      let query = penultimateFeatures(loaded.network, images: loaded.preprocessing.tensor(picture))
        .scalars
      guard query.count == matrix.shape[1] else {
        throw CommandError(
          "\(weights) gives \(query.count)-value features; \(features) holds \(matrix.shape[1])-value ones"
        )
      }
      guard query.allSatisfy(\.isFinite) else {
        throw CommandError(
          "\(weights) gives non-finite features for \(image) (NaN or infinite weights?)")
      }
      let neighbours = nearestNeighbours(of: query, in: matrix, count: top)
      print("Nearest to \(image):")
      for (rank, neighbour) in neighbours.enumerated() {
        print(
          String(
            format: "  %d. %@ (distance %.3f)", rank + 1, paths[neighbour.row], neighbour.distance))
      }
      if let html {
        func figure(_ path: String, _ caption: String) -> String {
          let source = URL(fileURLWithPath: path).absoluteString
          return
            "<figure><img src=\"\(source)\" width=\"160\"><figcaption>\(escape(caption))</figcaption></figure>"
        }
        let page = """
          <!doctype html><html><head><meta charset="utf-8"><title>Nearest images</title>
          <style>body{font-family:sans-serif} figure{display:inline-block;margin:6px;text-align:center} \
          .query img{outline:3px solid #d62728}</style></head><body>
          <h1>Images nearest to the query</h1>
          <div class="query">\(figure(image, "query"))</div>
          <div>\(neighbours.map { figure(paths[$0.row], String(format: "%.3f", $0.distance)) }.joined(separator: "\n"))</div>
          </body></html>
          """
        try AtomicFile.write(page + "\n", to: URL(fileURLWithPath: html))
        print("Wrote \(html)")
      }
    }
  }

  /// The index must come from these weights (its recorded digest) and hold finite numbers only:
  /// otherwise every distance is meaningless or NaN.
  func checkIndex(_ index: SafetensorsFile, matrix: Tensor, network: any Layer) throws {
    if let recorded = index.metadata["weights_digest"] {
      let digest = weightsDigest(network)
      guard recorded == digest else {
        throw CommandError(
          "\(features) was made with other weights (digest \(recorded)) than \(weights) "
            + "(\(digest)); run alexnet features with these weights")
      }
    } else {
      printError(
        "warning: \(features) records no weights digest; cannot check it matches \(weights)")
    }
    let width = matrix.shape[1]
    if let bad = matrix.scalars.firstIndex(where: { !$0.isFinite }) {
      throw CommandError(
        "\(features): features row \(bad / width) holds a non-finite value "
          + "(\(matrix.scalars[bad]))")
    }
  }

  func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
  }
}
