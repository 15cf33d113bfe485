import AlexNetKit
import Foundation
import Testing

/// The training run as a library value: its configuration, the run directory and the run itself,
/// used as an embedding program would.
@Suite(.serialized) struct TrainingRunTests {
  /// Generated images whose class is their dominant colour, two classes of `perClass`.
  static func colourFolder(_ classes: [String] = ["green", "red"], perClass: Int = 4) throws -> URL
  {
    var files: [String: [UInt8]] = [:]
    var g = SeededGenerator(seed: 1)
    for (name, colour) in zip(classes, [(40, 200, 60), (255, 40, 40), (40, 40, 255)]) {
      for i in 0..<perClass {
        var pixels: [UInt8] = []
        for _ in 0..<(40 * 40) {
          let noise = { (v: Int) in UInt8(max(0, min(255, v + Int(g.nextNormal() * 30)))) }
          pixels += [noise(colour.0), noise(colour.1), noise(colour.2)]
        }
        files["\(name)/\(i).png"] = try ImageEncoder.png(
          RGBImage(width: 40, height: 40, pixels: pixels))
      }
    }
    return try DataFixtures.folder(files)
  }

  static func configuration(_ data: URL, epochs: Int = 1) -> TrainingConfiguration {
    var configuration = TrainingConfiguration(data: data.path)
    (configuration.imageSize, configuration.epochs, configuration.batchSize) = (32, epochs, 4)
    configuration.validationSplit = 0.25
    return configuration
  }

  /// Every file's name and bytes (the lock file's too, when present).
  static func snapshot(_ directory: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
      files[name] = try Data(contentsOf: directory.appendingPathComponent(name))
    }
    return files
  }

  // MARK: - Configuration

  @Test func configurationRoundTripsThroughConfigJSON() throws {
    var configuration = TrainingConfiguration(data: "/data")
    (configuration.optimizer, configuration.learningRate, configuration.augment) = (
      .adam, 0.003, [.flip, .pca]
    )
    (configuration.monitor, configuration.validationData, configuration.imageSize) = (
      .valLoss, "/val", 48
    )
    let decoded = try JSONDecoder().decode(
      TrainingConfiguration.self, from: JSONEncoder().encode(configuration))
    #expect(decoded == configuration)

    let record = try RunRecord(
      configuration: configuration, classNames: ["a", "b"], trainingImages: 8, validationImages: 2,
      normalization: .imageNet,
      colorPCA: ColorPCA(eigenvalues: [1, 2, 3], eigenvectors: Array(repeating: 0, count: 9)))
    let json = try JSONEncoder.runRecords().encode(record)
    #expect(try JSONDecoder().decode(RunRecord.self, from: json) == record)
    // One flat object, as config.json always was: inference reads imageSize and resizeSide.
    let object = try JSONSerialization.jsonObject(with: json) as? [String: Any]
    #expect(object?["optimizer"] as? String == "adam" && object?["resizeSide"] as? Int == 55)
    #expect(object?["imageSize"] as? Int == 48 && (object?["classNames"] as? [String])?.count == 2)
  }

  @Test func validationNamesTheSettingAndTheExpectedRange() throws {
    let cases: [(String, (inout TrainingConfiguration) -> Void)] = [
      ("--epochs", { $0.epochs = 0 }), ("--batch-size", { $0.batchSize = -1 }),
      ("--validation-split", { $0.validationSplit = 1 }),
      ("--image-size", { $0.imageSize = 100_000 }),
      ("--lr", { $0.learningRate = .nan }), ("--momentum", { $0.momentum = 1 }),
      ("--weight-decay", { $0.weightDecay = -1 }), ("--lr-factor", { $0.lrFactor = 1 }),
      ("--min-lr", { $0.minLearningRate = -1 }), ("--patience", { $0.patience = 0 }),
      ("--lr-patience", { $0.lrPatience = -1 }), ("--label-smoothing", { $0.labelSmoothing = 1 }),
      ("--test-image-size", { $0.testImageSize = 8 }),
    ]
    for (flag, spoil) in cases {
      var configuration = TrainingConfiguration(data: "/data")
      try configuration.validate()
      spoil(&configuration)
      #expect(throws: ConfigurationError.self, "\(flag)") { try configuration.validate() }
      do { try configuration.validate() } catch let error as ConfigurationError {
        #expect(error.setting == flag && error.description.hasPrefix("\(flag) must be"), "\(error)")
        #expect(!error.description.contains("\n") && error.description.count < 100, "\(error)")
      }
    }
  }

  @Test func resizeSideIsRoundedInOnePlace() {
    #expect(Preprocessing.resizeSide(for: 96) == 110)  // 109.71: truncating gave 109
    #expect(Preprocessing.resizeSide(for: 224) == 256)
    #expect(Preprocessing.resizeSide(for: 64) == 73 && Preprocessing.resizeSide(for: 227) == 259)
    #expect(Preprocessing(side: 96, normalization: .imageNet).resizeSide == 110)
    #expect(Augmentation.transforms([], side: 96) == [.resizeShorterSide(110), .centerCrop(96)])
    #expect(
      Augmentation.transforms([.brightness, .crop, .flip], side: 224)
        == [
          .resizeShorterSide(256), .randomCrop(224), .randomHorizontalFlip,
          .randomBrightness(delta: 0.2),
        ])
  }

  @Test func augmentationListsParseAndRefuseUnknownNames() throws {
    #expect(try Augmentation.list("flip, crop,flip") == [.crop, .flip])
    #expect(try Augmentation.list("none").isEmpty && Augmentation.list("").isEmpty)
    #expect(throws: ConfigurationError.self) { try Augmentation.list("crop,rotate") }
  }

  @Test func resumingChecksTheSettingsGivenAgain() throws {
    var stored = TrainingConfiguration(data: "/data")
    (stored.optimizer, stored.epochs) = (.adam, 2)
    typealias Override = TrainingConfiguration.Override
    let agreeing: [Override] = [.set("--optimizer", \.optimizer, to: .adam, show: \.rawValue)]
    #expect(try stored.resuming(with: agreeing) == stored)
    let longer = try stored.resuming(with: [
      .set("--epochs", \.epochs, to: 5, mayChangeOnResume: true)
    ])
    #expect(longer.epochs == 5 && longer.optimizer == .adam)
    do {
      _ = try stored.resuming(with: [.set("--optimizer", \.optimizer, to: .sgd, show: \.rawValue)])
      Issue.record("a disagreeing --optimizer was accepted")
    } catch let error as ConfigurationError {
      #expect(error.description == "this run was trained with --optimizer adam")
    }
    #expect(throws: ConfigurationError.self) {
      try stored.resuming(with: [.set("--lr", \.learningRate, to: 1)])
    }
  }

  // MARK: - Run directory

  @Test func aNewRunRefusesADirectoryInUseAndChangesNothing() throws {
    let directory = try DataFixtures.scratchDirectory()
    try Data("old".utf8).write(to: directory.appendingPathComponent("cp-0002.safetensors"))
    let before = try Self.snapshot(directory)
    #expect(throws: FileError.self) { try RunDirectory(directory, mode: .new) }
    do { _ = try RunDirectory(directory, mode: .new) } catch {
      #expect(
        "\(error)".contains("is not empty (cp-0002.safetensors)") && "\(error)".contains("--resume")
      )
    }
    #expect(try Self.snapshot(directory) == before)
    // No config.json: nothing to resume.
    #expect(throws: FileError.self) { try RunDirectory(directory, mode: .resume) }
    #expect(try Self.snapshot(directory) == before)
    // A directory that did not exist is removed again when no run began in it.
    let fresh = directory.appendingPathComponent("fresh")
    try RunDirectory(fresh, mode: .new).close()
    #expect(!FileManager.default.fileExists(atPath: fresh.path))
  }

  @Test func overwriteRemovesTheOldRunsFilesOnlyWhenTheRunBegins() throws {
    let directory = try DataFixtures.scratchDirectory()
    for name in [
      "config.json", "cp-0001.safetensors", "cp-0003.safetensors", "best.safetensors", "notes.txt",
      ".cp-0004.safetensors.tmp-12-34",
    ] {
      try Data(name.utf8).write(to: directory.appendingPathComponent(name))
    }
    let run = try RunDirectory(directory, mode: .overwrite)
    #expect(try Self.snapshot(directory).count == 7)  // and the lock file
    let record = try RunRecord(
      configuration: Self.configuration(directory), classNames: ["a"], trainingImages: 1,
      validationImages: 0,
      normalization: .imageNet,
      colorPCA: ColorPCA(eigenvalues: [1, 2, 3], eigenvectors: Array(repeating: 0, count: 9)))
    try run.begin(record)
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    #expect(names == ["config.json", "notes.txt", RunDirectory.lockName])
    #expect(try run.storedRecord() == record)
  }

  @Test func aSecondHolderOfTheLockIsRefusedAtOnce() throws {
    let directory = try DataFixtures.scratchDirectory()
    let first = try RunDirectory(directory, mode: .new)
    // flock locks belong to an open file description: a second opening in this process
    // conflicts as another process's would.
    do {
      _ = try RunDirectory(directory, mode: .overwrite)
      Issue.record("a second opening got the lock")
    } catch {
      #expect("\(error)".contains("another process is using this run directory"))
    }
    first.close()
    try RunDirectory(directory, mode: .overwrite).close()
  }

  // MARK: - The run

  /// What `alexnet train` does, in a few calls: a run, a resumed run that continues it to the
  /// same weights, bit for bit, as one uninterrupted run, and the best checkpoint read back.
  @Test func aProgramTrainsResumesAndReloadsThroughTheLibrary() throws {
    // One BLAS thread, set for the whole test: concurrent tests' batch shards set OpenBLAS's
    // process-wide count to 1 while they run, and an SGEMM's rounding depends on the count with
    // some kernel sets (Zen's). `aResumedRunEqualsAnUninterruptedOneBitForBit` checks the default
    // threads and shards, in processes of their own.
    try withComputeContext(ComputeContext(threadCount: 1)) {
      let data = try Self.colourFolder()
      let scratch = try DataFixtures.scratchDirectory()
      let straight = try TrainingRun(
        Self.configuration(data, epochs: 2),
        directory: RunDirectory(scratch.appendingPathComponent("straight")))
      try straight.fit()

      let url = scratch.appendingPathComponent("stopped")
      let events = EventLog()
      let first = try TrainingRun(
        Self.configuration(data), directory: RunDirectory(url), onEvent: { events.add($0) })
      let summary = try first.fit()
      #expect(summary.epochs == 1 && summary.validation?.samples == 2)
      let names = Set(try FileManager.default.contentsOfDirectory(atPath: url.path))
      #expect(
        names.isSuperset(of: [
          "config.json", "cp-0001.safetensors", "best.safetensors", "history.csv",
          "curves.svg", "metrics.json",
        ]))
      #expect(
        events.kinds == ["note", "note", "note", "started", "batch", "batch", "epoch", "finished"])
      first.directory.close()

      let directory = try RunDirectory(url, mode: .resume)
      let configuration = try directory.storedRecord().configuration
        .resuming(with: [.set("--epochs", \.epochs, to: 2, mayChangeOnResume: true)])
      let resumed = try TrainingRun(
        configuration, directory: directory, onEvent: { events.add($0) })
      #expect(resumed.trainer.completedEpochs == 1 && events.kinds.last == "resumed")
      try resumed.fit()
      #expect(resumed.model.stateDict.map(\.tensor) == straight.model.stateDict.map(\.tensor))
      #expect(
        resumed.trainer.history.records.map(\.loss) == straight.trainer.history.records.map(\.loss))
      let best = try directory.loadBest()
      #expect(best.classNames == ["green", "red"] && (1...2).contains(best.epoch))
      #expect(try best.recordedPreprocessing(source: "best") == resumed.preprocessing)
    }
  }

  /// A test side trains at the training side and validates, records and reloads at the test
  /// side (resize in the paper's proportion); a model that cannot take it is refused first.
  @Test func aTestImageSizeIsUsedForValidationAndRecorded() throws {
    let data = try Self.colourFolder()
    var configuration = Self.configuration(data)
    configuration.testImageSize = 40
    let run = try TrainingRun(
      configuration,
      directory: RunDirectory(
        try DataFixtures.scratchDirectory().appendingPathComponent("run")))
    #expect(run.trainingLoader.pipeline.side == 32 && run.validationLoader?.pipeline.side == 40)
    #expect(run.preprocessing == Preprocessing(side: 40, normalization: run.record.normalization))
    #expect(run.preprocessing.resizeSide == 46 && run.record.resizeSide == 37)
    try run.fit()
    let best = try run.directory.loadBest()
    #expect(try best.recordedPreprocessing(source: "best") == run.preprocessing)
    let reread = try run.directory.storedRecord()
    #expect(reread.configuration.testImageSize == 40 && reread.preprocessing == run.preprocessing)

    configuration.model = ModelName.alexnet.rawValue
    (configuration.imageSize, configuration.testImageSize) = (227, 200)
    #expect {
      _ = try TrainingRun(
        configuration,
        directory: RunDirectory(
          try DataFixtures.scratchDirectory().appendingPathComponent("alexnet")))
    } throws: { ($0 as? ConfigurationError)?.setting == "--test-image-size" }
  }

  /// A network the caller builds trains, checkpoints and resumes under its own identifier; a
  /// resume that does not supply it is refused in one line.
  @Test func aCallersNetworkRunsUnderItsOwnIdentifier() throws {
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    var configuration = Self.configuration(try Self.colourFolder())
    configuration.model = "wrapped-small"
    let build = { (classes: Int) -> any Layer in
      Sequential([ModelCatalog.make(.small, classes: classes, seed: 5)])
    }
    try TrainingRun(configuration, directory: RunDirectory(url), network: build).fit()
    #expect(
      try Checkpoint(contentsOf: url.appendingPathComponent("best.safetensors")).model
        == "wrapped-small")
    configuration.epochs = 2
    do {
      _ = try TrainingRun(configuration, directory: RunDirectory(url, mode: .resume))
      Issue.record("a run of an unknown network resumed without it")
    } catch {
      #expect("\(error)".contains("--model") && !"\(error)".contains("\n"), "\(error)")
    }
    let resumed = try TrainingRun(
      configuration, directory: RunDirectory(url, mode: .resume), network: build)
    try resumed.fit()
    #expect(resumed.trainer.completedEpochs == 2)
  }

  /// At an absurd rate (1e30) the divergence guard skips every step whose loss or gradient is not
  /// finite, or stops the run in one line: no checkpoint ever holds NaN or infinity (loading
  /// refuses them by tensor name). Records that do hold NaN are stored as "nan" and read back.
  @Test func anAbsurdRateNeverStoresNonFiniteWeights() throws {
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    var configuration = Self.configuration(try Self.colourFolder())
    (configuration.learningRate, configuration.clipGradNorm, configuration.epochs) = (1e30, 0, 3)
    var diverged = false
    do {
      let summary = try TrainingRun(configuration, directory: RunDirectory(url)).fit()
      #expect(summary.history.allSatisfy { $0.loss.isFinite })
    } catch let error as TrainingDiverged {
      diverged = true
      #expect(!"\(error)".contains("\n") && "\(error)".contains("--lr"), "\(error)")
    }
    let files = try FileManager.default.contentsOfDirectory(atPath: url.path)
    #expect(diverged || files.contains("cp-0003.safetensors"), "\(files)")
    for name in files where name.hasSuffix(".safetensors") {
      _ = try Checkpoint(contentsOf: url.appendingPathComponent(name))
    }
    let stored =
      #"{"records":[{"epoch":1,"loss":"nan","accuracy":0.5,"top5":1,"#
      + #""validationLoss":"inf","learningRate":0.01,"seconds":1}]}"#
    let history = try JSONDecoder.runRecords.decode(History.self, from: Data(stored.utf8))
    #expect(history.records[0].loss.isNaN && history.records[0].validationLoss == .infinity)
    let text = try JSONEncoder.runRecords().encode(history)
    #expect(String(decoding: text, as: UTF8.self).contains("\"nan\""))
    let back = try JSONDecoder.runRecords.decode(History.self, from: text)
    #expect(back.records[0].loss.isNaN && back.records[0].validationLoss == .infinity)
  }

  /// Rewrites a checkpoint with `change` applied to its metadata and tensors.
  static func spoil(
    _ url: URL, _ change: (inout [String: String], inout [(name: String, tensor: Tensor)]) -> Void
  ) throws {
    let file = try SafetensorsFile(contentsOf: url)
    var (metadata, tensors) = (file.metadata, file.tensors())
    change(&metadata, &tensors)
    try AtomicFile.write(Safetensors.encode(tensors, metadata: metadata), to: url)
  }

  /// A last checkpoint with NaN in a weight is refused, naming the tensor and offering the one
  /// before it; `resumeFrom` (--resume-from) continues from that one.
  @Test func aNonFiniteLastCheckpointOffersThePreviousOne() throws {
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    let configuration = Self.configuration(try Self.colourFolder(), epochs: 2)
    try TrainingRun(configuration, directory: RunDirectory(url)).fit()
    let last = url.appendingPathComponent("cp-0002.safetensors")
    try Self.spoil(last) { _, tensors in tensors[0].tensor.scalars[1] = .nan }
    var longer = configuration
    longer.epochs = 3
    #expect {
      try TrainingRun(longer, directory: RunDirectory(url, mode: .resume))
    } throws: {
      "\($0)" == "\(last.path): has NaN in \(try! SafetensorsFile(contentsOf: last).names[0]); "
        + "resume from cp-0001.safetensors with --resume-from cp-0001.safetensors"
    }
    let directory = try RunDirectory(url, mode: .resume)
    directory.resumeFrom = "cp-0001.safetensors"
    let resumed = try TrainingRun(longer, directory: directory)
    #expect(resumed.trainer.completedEpochs == 1)
    directory.close()
    let missing = try RunDirectory(url, mode: .resume)
    missing.resumeFrom = "cp-0009.safetensors"
    #expect {
      try TrainingRun(longer, directory: missing)
    } throws: { "\($0)".contains("has no checkpoint cp-0009.safetensors to resume from") }
  }

  /// The checkpoint must belong to the run: the same class names (the same count with other names
  /// swapped the labels silently) and the same input side as config.json.
  @Test func aCheckpointOfOtherClassesOrAnotherSideIsRefused() throws {
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    var configuration = Self.configuration(try Self.colourFolder())
    try TrainingRun(configuration, directory: RunDirectory(url)).fit()
    let checkpoint = url.appendingPathComponent("cp-0001.safetensors")
    let original = try Data(contentsOf: checkpoint)
    configuration.epochs = 2
    try Self.spoil(checkpoint) { metadata, _ in metadata["class_names"] = #"["red","green"]"# }
    #expect {
      try TrainingRun(configuration, directory: RunDirectory(url, mode: .resume))
    } throws: { "\($0)".hasPrefix("\(checkpoint.path): was trained on the classes red, green") }

    try original.write(to: checkpoint)
    try Self.spoil(checkpoint) { metadata, _ in
      metadata["configuration"] = metadata["configuration"]?
        .replacingOccurrences(of: #""imageSize":32"#, with: #""imageSize":48"#)
        .replacingOccurrences(of: #""resizeSide":37"#, with: #""resizeSide":55"#)
    }
    #expect {
      try TrainingRun(configuration, directory: RunDirectory(url, mode: .resume))
    } throws: {
      "\($0)"
        == "\(checkpoint.path): was trained at --image-size 48, this run's config.json says 32"
    }
  }

  /// `--activation tanh` reaches the model, the checkpoint's model_configuration and config.json;
  /// the checkpoint rebuilds a tanh model with the same outputs, and a resume with ReLU is refused.
  @Test func theActivationIsRecordedAndRebuilt() throws {
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    var configuration = Self.configuration(try Self.colourFolder())
    (configuration.model, configuration.activation) = (ModelName.cifar4.rawValue, .tanh)
    let run = try TrainingRun(configuration, directory: RunDirectory(url))
    #expect(run.model.namedLeaves.contains { $0.layer is Tanh })
    try run.fit()
    run.directory.close()
    let file = url.appendingPathComponent(Checkpoint.fileName(epoch: 1))
    let checkpoint = try Checkpoint(contentsOf: file)
    #expect(checkpoint.modelConfiguration == #"{"activation":"tanh"}"#)
    let rebuilt = try ModelCatalog.make(for: checkpoint, source: file.path).model
    rebuilt.eval()
    run.model.eval()
    var rng = SeededGenerator(seed: 3)
    let x = Variable(rng.tensor([2, 3, 32, 32]))
    #expect(
      withGradientsDisabled { rebuilt(x).value } == withGradientsDisabled { run.model(x).value })
    let stored = try RunDirectory(url, mode: .resume).storedRecord().configuration
    #expect(stored.activation == .tanh)
    #expect(throws: ConfigurationError.self) {
      try stored.resuming(with: [.set("--activation", \.activation, to: .relu)])
    }
  }

  /// A config.json written before the choice existed has no activation: it is ReLU.
  @Test func aConfigurationWithoutActivationIsReLU() throws {
    var configuration = TrainingConfiguration(data: "/data")
    configuration.activation = .tanh
    let json = try JSONEncoder().encode(configuration)
    var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
    #expect(object.removeValue(forKey: "activation") as? String == "tanh")
    let older = try JSONSerialization.data(withJSONObject: object)
    #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: older).activation == .relu)
    #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: json).activation == .tanh)
  }

  @Test func aResumeThatIsRefusedChangesNothing() throws {
    let data = try Self.colourFolder()
    let url = try DataFixtures.scratchDirectory().appendingPathComponent("run")
    try TrainingRun(Self.configuration(data), directory: RunDirectory(url)).fit()
    let before = try Self.snapshot(url)

    // Other class names under the same count, then another image size.
    var other = Self.configuration(try Self.colourFolder(["blue", "green"]))
    other.epochs = 2
    #expect(throws: FileError.self) {
      try TrainingRun(other, directory: RunDirectory(url, mode: .resume))
    }
    let stored = try RunDirectory(url, mode: .resume).storedRecord().configuration
    #expect(throws: ConfigurationError.self) {
      try stored.resuming(with: [.set("--image-size", \.imageSize, to: 48)])
    }
    // A damaged last checkpoint is refused, naming the one before it... here there is none.
    try Data("junk".utf8).write(to: url.appendingPathComponent("cp-0002.safetensors"))
    let damaged = try Self.snapshot(url)
    do {
      var longer = stored
      longer.epochs = 3
      _ = try TrainingRun(longer, directory: RunDirectory(url, mode: .resume))
      Issue.record("a damaged checkpoint was resumed from")
    } catch {
      #expect(
        "\(error)".contains("cp-0002.safetensors") && "\(error)".contains("resume from cp-0001"))
    }
    #expect(try Self.snapshot(url) == damaged)
    try FileManager.default.removeItem(at: url.appendingPathComponent("cp-0002.safetensors"))
    #expect(try Self.snapshot(url) == before)
  }
}

/// Events as they arrive (bad-file events come from loader threads).
final class EventLog: @unchecked Sendable {
  private let lock = NSLock()
  private var events: [TrainingEvent] = []
  func add(_ event: TrainingEvent) { lock.withLock { events.append(event) } }
  var kinds: [String] {
    lock.withLock {
      events.map { event in
        switch event {
        case .note: return "note"
        case .resumed: return "resumed"
        case .started: return "started"
        case .batch: return "batch"
        case .epoch: return "epoch"
        case .badFile: return "badFile"
        case .finished: return "finished"
        }
      }
    }
  }
}
