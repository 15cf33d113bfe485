import AlexNetKit
import Foundation

/// One layer's time inside whole inference passes.
struct ChainRow: Codable {
  var layer: String
  var kind: String
  var milliseconds: Double
  /// A dense layer's weights streamed per pass, over its time: at batch 1 the memory bandwidth
  /// it got; nil for other layers.
  var weightGigabytesPerSecond: Double?
  /// A convolution's inference algorithm; nil for other layers.
  var algorithm: String?
}

struct LayerChain: Codable {
  var model: String
  var batch: Int
  var passes: Int
  var rows: [ChainRow]
  /// Median of the whole passes' times (each the sum of its layers).
  var passMilliseconds: Double
  /// A bare SGEMV of the largest dense layer's shape after 64 MB of copying has pushed it out of
  /// cache: the memory bandwidth that layer could get at best, measured in the same run.
  var bareGEMVGigabytesPerSecond: Double?
}

/// Every layer timed inside whole inference passes, layer after layer as the model runs them, so
/// each sees the caches the previous layers left, unlike the per-layer table, which repeats one
/// layer on its own and keeps its weights in cache. Medians over `passes` passes after a warm-up.
/// At batch 1 this shows the dense layers streaming their weights from memory.
func layerChain(_ name: ModelName, batch: Int, passes: Int) -> LayerChain {
  let side = name.defaultImageSize
  let classes = name == .alexnetBN ? 16 : 1000
  let model = ModelCatalog.make(name, classes: classes, seed: 1)
  model.eval()
  var generator = SeededGenerator(seed: 3)
  let input = Tensor.randomUniform([batch, 3, side, side], lower: -1, upper: 1, using: &generator)
  let steps = timedSteps(model)
  let clock = ContinuousClock()
  var samples = [[Double]](repeating: [], count: steps.count)
  var passTimes: [Double] = []
  var inputShapes = [[Int]](repeating: [], count: steps.count)
  for pass in 0...passes {
    var x = Variable(input)
    var passTime = 0.0
    for (i, step) in steps.enumerated() {
      inputShapes[i] = x.value.shape
      let elapsed = clock.measure { x = withGradientsDisabled { step.apply(x) } }
      let ms =
        Double(elapsed.components.seconds) * 1e3
        + Double(elapsed.components.attoseconds) * 1e-15
      passTime += ms
      if pass > 0 { samples[i].append(ms) }
    }
    sink += x.value[flat: 0]
    if pass > 0 { passTimes.append(passTime) }
  }
  let rows = steps.indices.map { i in
    let step = steps[i]
    let ms = median(samples[i])
    var bandwidth: Double?
    if let dense = step.layer as? Dense {
      bandwidth = Double(dense.weight.value.count * MemoryLayout<Float>.size) / (ms * 1e6)
    }
    let algorithm = (step.layer as? Conv2D).map {
      $0.selectedAlgorithms(inputShape: inputShapes[i]).inference?.rawValue ?? "?"
    }
    return ChainRow(
      layer: step.name, kind: step.kind, milliseconds: ms, weightGigabytesPerSecond: bandwidth,
      algorithm: algorithm)
  }
  let largest = steps.compactMap { ($0.layer as? Dense)?.weight.value.shape }
    .max { $0[0] * $0[1] < $1[0] * $1[1] }
  return LayerChain(
    model: name.rawValue, batch: batch, passes: passes, rows: rows,
    passMilliseconds: median(passTimes),
    bareGEMVGigabytesPerSecond: largest.map {
      coldGEMVGigabytesPerSecond(rows: $0[0], columns: $0[1], repetitions: passes)
    })
}

/// GB/s of one SGEMV over a rows × columns matrix read from memory: before each timed call, 64 MB
/// are copied (more than the L3 of the machines this runs on), as the layers before a dense layer
/// do in a pass.
func coldGEMVGigabytesPerSecond(rows: Int, columns: Int, repetitions: Int) -> Double {
  var generator = SeededGenerator(seed: 5)
  let matrix = Tensor.randomUniform([rows, columns], lower: -1, upper: 1, using: &generator)
  let vector = Tensor.randomUniform([columns], lower: -1, upper: 1, using: &generator)
  let evict = 1 << 24
  let source = UnsafeMutablePointer<Float>.allocate(capacity: evict)
  let target = UnsafeMutablePointer<Float>.allocate(capacity: evict)
  defer {
    source.deallocate()
    target.deallocate()
  }
  source.initialize(repeating: 1, count: evict)
  let output = UnsafeMutablePointer<Float>.allocate(capacity: rows)
  defer { output.deallocate() }
  let clock = ContinuousClock()
  var samples: [Double] = []
  matrix.withUnsafeBufferPointer { a in
    vector.withUnsafeBufferPointer { x in
      for _ in 0...repetitions {
        target.update(from: source, count: evict)
        let elapsed = clock.measure {
          BLAS.sgemv(a.baseAddress!, m: rows, n: columns, x.baseAddress!, into: output)
        }
        samples.append(
          Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
      }
    }
  }
  sink += output[0] + target[evict - 1]
  return Double(rows * columns * MemoryLayout<Float>.size) / median(Array(samples.dropFirst()))
    / 1e9
}

func printLayerChain(_ chain: LayerChain) {
  print(
    "\nInference of \(chain.model) at batch \(chain.batch), each layer timed inside whole passes (medians of \(chain.passes))"
  )
  let total = chain.rows.reduce(0) { $0 + $1.milliseconds }
  var rows = chain.rows.map { r in
    [
      r.layer, r.kind, format(r.milliseconds, 2), format(100 * r.milliseconds / total, 0),
      format(r.weightGigabytesPerSecond, 1), r.algorithm ?? "",
    ]
  }
  rows.append(["whole pass", "", format(chain.passMilliseconds, 2), "", "", ""])
  printTable(["layer", "type", "ms", "%", "weights GB/s", "algorithm"], rows)
  if let bandwidth = chain.bareGEMVGigabytesPerSecond {
    print(
      String(
        format: "bare SGEMV of the largest dense layer's shape, after 64 MB of copying: %.1f GB/s",
        bandwidth))
  }
}
