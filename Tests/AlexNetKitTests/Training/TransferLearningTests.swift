import AlexNetKit
import Foundation
import Testing

/// Starting from weights one already has: PyTorch-named files with DataParallel's prefix, a last
/// layer for another class count, and frozen parameters that stay as they were.
@Suite struct TransferLearningTests {
  /// A state dict as `safetensors.torch.save_file(torch.nn.DataParallel(model).state_dict(), f)`
  /// writes it: every name under `module.`, batch norms' `num_batches_tracked` as I64, metadata
  /// {"format": "pt"} and nothing of this tool's.
  static func torchStyleFile(_ model: any Layer, prefix: String = "module.") throws -> URL {
    let counters = model.namedLeaves.filter { $0.layer is BatchNorm }.map {
      (name: "\(prefix)\($0.name).num_batches_tracked", shape: [Int](), values: [Int64(7)])
    }
    let bytes = Safetensors.encode(
      model.stateDict.map { ("\(prefix)\($0.name)", $0.tensor) }, metadata: ["format": "pt"],
      integers: counters)
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("w.safetensors")
    try Data(bytes).write(to: url)
    return url
  }

  static func tensors(_ model: any Layer) -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: model.stateDict.map { ($0.name, $0.tensor) })
  }

  @Test func aTorchNamedFileWithAnotherClassCountLoadsAllButTheHead() throws {
    let source = ModelCatalog.make(.small, classes: 7, seed: 1)
    let url = try Self.torchStyleFile(source)
    let target = ModelCatalog.make(.small, classes: 3, seed: 2)
    let fresh = Self.tensors(target)
    let report = try WeightLoading.load(contentsOf: url, into: target, modelIdentifier: "small")
    #expect(report.strippedPrefix == "module.")
    #expect(report.replacedHead == .init(layer: "classifier.6", fileClasses: 7, modelClasses: 3))
    #expect(report.loaded == source.stateDict.count - 2)
    let (given, loaded) = (Self.tensors(source), Self.tensors(target))
    for (name, tensor) in loaded {
      let head = name.hasPrefix("classifier.6.")
      #expect(tensor == (head ? fresh[name] : given[name]), "\(name)")
    }
    let lines = report.lines(source: "w.safetensors")
    #expect(lines.count == 3 && lines[0].contains("removed the prefix \"module.\""))
    #expect(lines[1].contains("classifier.6 (7 classes in the file, 3 here)"))
  }

  @Test func aFileForTheSameClassesLoadsWhole() throws {
    let source = ModelCatalog.make(.small, classes: 4, seed: 3)
    let target = ModelCatalog.make(.small, classes: 4, seed: 4)
    let report = try WeightLoading.load(
      contentsOf: try Self.torchStyleFile(source, prefix: ""), into: target)
    #expect(report.strippedPrefix == nil && report.replacedHead == nil)
    #expect(Self.tensors(target) == Self.tensors(source))
  }

  /// Anything but the head (5 classes in the file, 3 here) not fitting is the usual one-line
  /// mismatch, and changes nothing; so is a head when replacement is not asked for, and a file
  /// recording another model.
  @Test func otherMismatchesAreOneLineAndChangeNothing() throws {
    let source = ModelCatalog.make(.small, classes: 5, seed: 5)
    var state = source.stateDict.filter { $0.name != "features.0.weight" }
    state.append(("extra.weight", Tensor(zeros: [2])))
    let target = ModelCatalog.make(.small, classes: 3, seed: 6)
    let before = Self.tensors(target)
    let weights = InitialWeights(source: "w.safetensors", state: state)
    #expect {
      try WeightLoading.load(weights, into: target)
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("w.safetensors: ")
        && text.contains("2 weights do not fit the model (1 missing, 1 unexpected)")
        && text.contains("missing features.0.weight") && !text.contains("\n")
    }
    let whole = InitialWeights(source: "w", state: source.stateDict)
    #expect(throws: FileError.self) {
      try WeightLoading.load(whole, into: target, replacingHead: false)
    }
    let recorded = InitialWeights(source: "w", state: source.stateDict, model: "alexnet")
    #expect {
      try WeightLoading.load(recorded, into: target, modelIdentifier: "small")
    } throws: { "\($0)" == "w: holds weights of model alexnet, not small" }
    #expect(Self.tensors(target) == before)
  }

  /// Initial weights are checked for NaN and infinity like a checkpoint's: a NaN file started a
  /// run that diverged on its third batch with a message blaming the learning rate. A NaN in a
  /// head the file's class count replaces does not matter and loads.
  @Test func nonFiniteInitialWeightsAreRefusedByName() throws {
    let source = ModelCatalog.make(.small, classes: 3, seed: 5)
    let target = ModelCatalog.make(.small, classes: 3, seed: 6)
    let before = Self.tensors(target)
    var state = source.stateDict
    let index = try #require(state.firstIndex { $0.name == "features.0.weight" })
    state[index].tensor.scalars[7] = .nan
    #expect {
      try WeightLoading.load(InitialWeights(source: "w", state: state), into: target)
    } throws: { "\($0)" == "w: has NaN in features.0.weight" }
    #expect(Self.tensors(target) == before)
    var headless = ModelCatalog.make(.small, classes: 5, seed: 5).stateDict
    let head = try #require(headless.firstIndex { $0.name == "classifier.6.weight" })
    headless[head].tensor.scalars[0] = .infinity
    let report = try WeightLoading.load(InitialWeights(source: "w", state: headless), into: target)
    #expect(report.replacedHead?.fileClasses == 5)
  }

  /// Frozen parameters keep their values through SGD steps with weight decay, and get no
  /// gradient at all; the others move.
  @Test func frozenParametersStayAndTheOthersTrain() throws {
    let model = ModelCatalog.make(.small, classes: 3, seed: 7)
    let frozen = try model.freeze(["features"])
    let underFeatures = model.namedParameters.map(\.name).filter { $0.hasPrefix("features.") }
    #expect(frozen == underFeatures && !frozen.isEmpty)
    let before = Self.tensors(model)
    let trainer = Trainer(
      model: model, modelIdentifier: "small", classNames: ["a", "b", "c"],
      optimizer: SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 0.01), outputDirectory: nil)
    var g = SeededGenerator(seed: 8)
    model.train()
    for _ in 0..<3 {
      let images = Tensor(
        shape: [4, 3, 32, 32],
        scalars: (0..<(4 * 3 * 32 * 32)).map { _ in
          Float(g.nextNormal())
        })
      _ = trainer.computeGradients(images: images, labels: [0, 1, 2, 1])
      for (name, parameter) in model.namedParameters where frozen.contains(name) {
        #expect(parameter.grad == nil, "\(name)")
      }
      trainer.reduceGradients()
      trainer.applyUpdate()
    }
    for (name, parameter) in model.namedParameters {
      let moved = parameter.value != before[name]
      #expect(moved != frozen.contains(name), "\(name)")
    }
    #expect(model.unfrozenParameters.count == model.namedParameters.count - frozen.count)
  }

  @Test func freezingNamesWhatItCannotFreeze() throws {
    let model = ModelCatalog.make(.small, classes: 3)
    #expect {
      try model.freeze(["feature"])
    } throws: { error in
      "\(error)" == "--freeze feature matches no parameter (names start with features, classifier)"
    }
    #expect {
      try model.freeze(["features", "classifier."])
    } throws: { "\($0)".contains("freezes every parameter: nothing to train") }
    #expect(model.unfrozenParameters.count == model.namedParameters.count)
  }

  /// The library's run does it all from a configuration: a PyTorch-named file for 7 classes, a
  /// 2-class folder, the features frozen; the checkpoint holds the file's features unchanged.
  @Test func aRunStartsFromInitWeightsWithFrozenFeatures() throws {
    let source = ModelCatalog.make(.small, classes: 7, seed: 9)
    let url = try Self.torchStyleFile(source)
    var configuration = TrainingRunTests.configuration(try TrainingRunTests.colourFolder())
    (configuration.initWeights, configuration.freeze) = (url.path, ["features"])
    let notes = NoteLog()
    let directory = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    let run = try TrainingRun(
      configuration, directory: RunDirectory(directory), onEvent: { notes.add($0) })
    try run.fit()
    run.directory.close()
    let text = notes.lines.joined(separator: "\n")
    #expect(text.contains("removed the prefix \"module.\""))
    #expect(text.contains("replaced the last layer classifier.6 (7 classes in the file, 2 here)"))
    let frozen = run.model.namedParameters.filter { $0.name.hasPrefix("features.") }.count
    #expect(text.contains("Frozen: features (\(frozen) tensors"))
    let saved = try Checkpoint(contentsOf: directory.appendingPathComponent("cp-0001.safetensors"))
    let given = Self.tensors(source)
    for (name, tensor) in saved.weights where name.hasPrefix("features.") {
      let statistic = name.hasSuffix("running_mean") || name.hasSuffix("running_var")
      // Batch-norm statistics follow the new data in training mode, as in PyTorch.
      #expect((tensor == given[name]) != statistic, "\(name)")
    }
    let movedClassifier = saved.weights.first { $0.name == "classifier.0.weight" }?.tensor
    #expect(movedClassifier != nil && movedClassifier != given["classifier.0.weight"])
    let reopened = try RunDirectory(directory, mode: .resume)
    let stored = try reopened.storedRecord().configuration
    #expect(stored.freeze == ["features"] && stored.initWeights == url.path)
    // Resuming freezes the same parameters again (and takes the weights from the checkpoint).
    let resumed = try TrainingRun(stored, directory: reopened)
    #expect(
      resumed.model.unfrozenParameters.map(\.name) == run.model.unfrozenParameters.map(\.name))
    #expect(resumed.model.unfrozenParameters.count < resumed.model.namedParameters.count)
    let folder = url.deletingLastPathComponent().lastPathComponent
    #expect(stored.withoutMachinePaths().initWeights == "\(folder)/w.safetensors")
  }
}

/// The text of every note a run reports.
final class NoteLog: @unchecked Sendable {
  private let lock = NSLock()
  private var notes: [String] = []
  func add(_ event: TrainingEvent) {
    if case .note(let line) = event { lock.withLock { notes.append(line) } }
  }
  var lines: [String] { lock.withLock { notes } }
}
