import AlexNetKit
import Foundation

struct ModelRow: Codable {
  var model: String
  var imageSize: Int
  var batch: Int
  var trainingImagesPerSecond: Double
  var trainingStepMilliseconds: Double
  var inferenceMilliseconds: Double
  var inferenceImagesPerSecond: Double
  /// VmHWM of the child process that ran this row: the peak resident memory.
  var peakResidentMegabytes: Double
  /// Minor page faults per training step after the warm-up step: memory the step touched for the
  /// first time, i.e. buffers that were not reused (0 when every buffer comes from the pools).
  var pageFaultsPerStep: Double
}

struct LayerRow: Codable {
  var layer: String
  var kind: String
  var forwardMilliseconds: Double
  var backwardMilliseconds: Double
  /// A convolution's algorithms, "inference/forward/backward" (the forward column times the
  /// inference pass; the training step's forward may differ); nil for other layers.
  var algorithm: String?
}

struct LayerTable: Codable {
  var model: String
  var batch: Int
  var rows: [LayerRow]
  var totalMilliseconds: Double
  /// Share of the step's time spent inside SGEMM.
  var gemmShare: Double
}

/// One model at one batch size: a training step (forward, backward, SGD update) and an inference
/// forward pass, medians after a warm-up of at least `repetitions` runs filling `minimumSeconds`;
/// then the process's peak resident memory.
func measureModel(_ name: ModelName, batch: Int, repetitions: Int, minimumSeconds: Double = 0)
  -> ModelRow
{
  let side = name.defaultImageSize
  let classes = name == .alexnetBN ? 16 : 1000
  let model = ModelCatalog.make(name, classes: classes, seed: 1)
  let trainer = Trainer(
    model: model, modelIdentifier: name.rawValue, classNames: (0..<classes).map(String.init),
    optimizer: SGD(learningRate: 0.01), outputDirectory: nil)
  var generator = SeededGenerator(seed: 2)
  let images = Tensor.randomUniform([batch, 3, side, side], lower: -1, upper: 1, using: &generator)
  let labels = (0..<batch).map { $0 % classes }
  func trainingStep() {
    _ = trainer.computeGradients(images: images, labels: labels)
    trainer.reduceGradients()
    trainer.applyUpdate()
  }
  trainingStep()
  let faultsBefore = minorPageFaults()
  let steps = timedSamples(
    repetitions: repetitions, minimumSeconds: minimumSeconds, warmUp: false, trainingStep)
  let step = median(steps)
  let faultsPerStep = Double(minorPageFaults() - faultsBefore) / Double(steps.count)
  model.eval()
  let inference = medianMilliseconds(repetitions: repetitions, minimumSeconds: minimumSeconds) {
    sink += withGradientsDisabled { model(Variable(images)) }.value[flat: 0]
  }
  return ModelRow(
    model: name.rawValue, imageSize: side, batch: batch,
    trainingImagesPerSecond: Double(batch) / (step / 1e3),
    trainingStepMilliseconds: step, inferenceMilliseconds: inference,
    inferenceImagesPerSecond: Double(batch) / (inference / 1e3),
    peakResidentMegabytes: peakResidentMegabytes(),
    pageFaultsPerStep: faultsPerStep)
}

func minorPageFaults() -> Int {
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return usage.ru_minflt
}

func peakResidentMegabytes() -> Double {
  let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
  let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
  return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
}

/// `caffe time`: forward and backward milliseconds of every layer for one training step, each
/// layer run on its own input (saved from a full forward pass) so that its backward can be timed
/// alone, and the share of all that time spent inside SGEMM. A Conv2D followed by a ReLU is timed
/// as the one fused operation `Sequential` runs it as.
func layerTable(_ name: ModelName, batch: Int, repetitions: Int) -> LayerTable {
  let side = name.defaultImageSize
  let classes = name == .alexnetBN ? 16 : 1000
  let model = ModelCatalog.make(name, classes: classes, seed: 1)
  var generator = SeededGenerator(seed: 3)
  let x = Tensor.randomUniform([batch, 3, side, side], lower: -1, upper: 1, using: &generator)
  var context = ComputeContext.current
  let profile = GEMMProfile()
  context.profile = profile
  return withComputeContext(context) {
    layerRows(model, input: x, repetitions: repetitions, generator: &generator)
  }.table(name, batch: batch, repetitions: repetitions, profile: profile)
}

/// One step of a model's forward as the per-layer modes time it.
struct TimedStep {
  var name: String
  var kind: String
  var layer: any Layer
  var apply: (Variable) -> Variable
}

/// A model's layers as `Sequential` runs them: nested `Sequential`s are opened, any other layer
/// with children (a residual block) is one step, and a Conv2D followed by a ReLU in the same
/// `Sequential` is one fused step ("features.0+1", "Conv2D+ReLU").
func timedSteps(_ model: Sequential, prefix: String = "") -> [TimedStep] {
  var steps: [TimedStep] = []
  let layers = model.layers
  var index = 0
  while index < layers.count {
    let (childName, layer) = layers[index]
    let name = prefix.isEmpty ? childName : "\(prefix).\(childName)"
    if let inner = layer as? Sequential {
      steps += timedSteps(inner, prefix: name)
      index += 1
    } else if let convolution = Sequential.fusedConvolution(
      layer, then: index + 1 < layers.count ? layers[index + 1].layer : nil)
    {
      steps.append(
        TimedStep(
          name: name + "+" + layers[index + 1].name, kind: "Conv2D+ReLU", layer: layer,
          apply: { convolution($0, activation: .relu) }))
      index += 2
    } else {
      steps.append(TimedStep(name: name, kind: layer.kind, layer: layer, apply: { layer($0) }))
      index += 1
    }
  }
  return steps
}

/// One `LayerRow` per step of `timedSteps` (a fused Conv2D+ReLU or a residual block counting as
/// one), and the total milliseconds.
private func layerRows(
  _ model: Sequential, input: Tensor, repetitions: Int, generator: inout SeededGenerator
) -> LayerRows {
  var x = input
  var rows: [LayerRow] = []
  var total = 0.0
  for step in timedSteps(model) {
    let (layerName, kind, layer, apply) = (step.name, step.kind, step.layer, step.apply)
    let input = x
    var output = Tensor(zeros: [1])
    let forward = medianMilliseconds(repetitions: repetitions) {
      output = withGradientsDisabled { apply(Variable(input)) }.value
    }
    let gradient = Tensor.randomUniform(output.shape, lower: -1, upper: 1, using: &generator)
    // As in a training step: gradients start from nil, and the image needs none.
    let inputNeedsGradient = !rows.isEmpty
    let both = medianMilliseconds(repetitions: repetitions) {
      layer.zeroGradients()
      let variable = Variable(input, requiresGradient: inputNeedsGradient)
      let y = apply(variable)
      if y.requiresGradient { y.backward(gradient: gradient) }
    }
    var algorithm: String?
    if let convolution = layer as? Conv2D {
      let selected = convolution.selectedAlgorithms(
        inputShape: input.shape, inputNeedsGradient: inputNeedsGradient)
      // Under `.measure` a pass not yet run has no choice: "?".
      algorithm = [selected.inference, selected.forward, selected.backward]
        .map { $0?.rawValue ?? "?" }.joined(separator: "/")
    }
    rows.append(
      LayerRow(
        layer: layerName, kind: kind, forwardMilliseconds: forward,
        backwardMilliseconds: max(0, both - forward), algorithm: algorithm))
    total += both
    x = output
  }
  return LayerRows(rows: rows, totalMilliseconds: total)
}

struct LayerRows {
  var rows: [LayerRow]
  var totalMilliseconds: Double

  /// The table, with the share of core time `profile` saw inside GEMMs.
  func table(_ name: ModelName, batch: Int, repetitions: Int, profile: GEMMProfile) -> LayerTable {
    // The profiled time covers 1 + repetitions forward runs and as many forward-and-backward
    // runs, in core-milliseconds.
    let time = profile.time
    let gemm = Double(time.components.seconds) * 1e3 + Double(time.components.attoseconds) * 1e-15
    let gemmPerStep = gemm / Double(repetitions + 1)
    let allPerStep =
      rows.reduce(0) { $0 + $1.forwardMilliseconds * 2 + $1.backwardMilliseconds }
      * Double(ComputeContext.current.threadCount)
    return LayerTable(
      model: name.rawValue, batch: batch, rows: rows,
      totalMilliseconds: totalMilliseconds,
      gemmShare: min(1, gemmPerStep / max(allPerStep, 1e-9)))
  }
}

func printLayerTable(_ table: LayerTable) {
  print(
    "\nPer-layer times, \(table.model) at batch \(table.batch) (medians; backward = forward-and-backward − forward)"
  )
  var rows = table.rows.map { r in
    [
      r.layer, r.kind, format(r.forwardMilliseconds, 2), format(r.backwardMilliseconds, 2),
      r.algorithm ?? "",
    ]
  }
  rows.append([
    "total", "", format(table.rows.reduce(0) { $0 + $1.forwardMilliseconds }, 1),
    format(table.rows.reduce(0) { $0 + $1.backwardMilliseconds }, 1), "",
  ])
  printTable(
    ["layer", "type", "forward ms", "backward ms", "algorithm (inference/forward/backward)"], rows)
  print(
    String(
      format:
        "core time inside SGEMM: %.0f%% (the rest: im2col, col2im, LRN, pooling, elementwise, allocation, idle cores)",
      table.gemmShare * 100))
}

struct ReferenceCheckRow: Codable {
  var model: String
  var batch: Int
  /// max |fast − naive| / max |naive| over the logits.
  var maxRelativeError: Float
}

/// The whole fast forward against `referenceForward` (the naive kernels, layer by layer), in
/// inference, at the model's own image size.
func referenceCheck(_ name: ModelName, batch: Int) -> ReferenceCheckRow {
  let classes = name == .alexnetBN ? 16 : 1000
  let model = ModelCatalog.make(name, classes: classes, seed: 1)
  model.eval()
  var generator = SeededGenerator(seed: 9)
  let images = Tensor.randomUniform(
    [batch, 3, name.defaultImageSize, name.defaultImageSize], lower: -1, upper: 1,
    using: &generator)
  let fast = withGradientsDisabled { model(Variable(images)) }.value
  let reference = try! referenceForward(model, input: images)
  return ReferenceCheckRow(
    model: name.rawValue, batch: batch, maxRelativeError: relativeError(fast, reference))
}
