import Foundation

/// The checks every checkpoint record passes before anything is sized or computed from it. A
/// checkpoint is a file anyone can edit: a record out of range trapped `predict`, allocated tens
/// of gigabytes or resumed a run with NaN weights. Each failure is one `FileError` naming the
/// file and the record.
extension Checkpoint {
  /// The most class names a checkpoint may list, and the most bytes their JSON may take (19 M
  /// empty names in a 95 MB header made a 39 GB classifier).
  public static let maximumClasses = 100_000
  public static let maximumClassNamesBytes = 4 << 20

  /// `class_names`: a JSON list of 1...`maximumClasses` non-empty strings, of bounded size, whose
  /// count agrees with the `classes` record when there is one.
  static func checkedClassNames(_ metadata: [String: String], source: String) throws -> [String] {
    func fail(_ reason: String) -> FileError { FileError(source, "class_names record " + reason) }
    guard let text = metadata["class_names"] else {
      throw FileError(source, "has no class_names record (expected a JSON list of strings)")
    }
    guard text.utf8.count <= maximumClassNamesBytes else {
      throw fail("takes \(text.utf8.count) bytes, more than the \(maximumClassNamesBytes) accepted")
    }
    guard let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
      throw fail("is unreadable (expected a JSON list of strings)")
    }
    guard (1...maximumClasses).contains(names.count) else {
      throw fail("lists \(names.count) names (expected 1...\(maximumClasses))")
    }
    guard !names.contains(where: \.isEmpty) else { throw fail("has an empty name") }
    if let classes = metadata["classes"], Int(classes) != names.count {
      throw fail("lists \(names.count) names but the classes record says \(classes)")
    }
    return names
  }

  /// The learning rate: a finite number ≥ 0 (0 in files written without one).
  static func checkedLearningRate(_ metadata: [String: String], source: String) throws -> Float {
    guard let rate = learningRate(metadata), rate.isFinite, rate >= 0 else {
      let shown = metadata["learning_rate_bits"] ?? metadata["learning_rate"] ?? ""
      throw FileError(
        source, "has an unusable learning_rate \(shown) (expected a finite number ≥ 0)")
    }
    return rate
  }

  /// Every tensor is float32 and finite: an integer tensor is not a weight, and NaN or infinity
  /// in weights or optimizer state would only spread through training.
  static func checkedTensors(_ file: SafetensorsFile) throws -> [(name: String, tensor: Tensor)] {
    if let entry = file.entries.first(where: { $0.dtype != .f32 }) {
      throw FileError(
        file.source, "tensor \(entry.name) has dtype \(entry.dtype.rawValue), expected F32")
    }
    let tensors = file.tensors()
    for (name, tensor) in tensors {
      if let bad = firstNonFinite(tensor) {
        throw FileError(file.source, "has \(bad.isNaN ? "NaN" : "infinity") in \(name)")
      }
    }
    return tensors
  }

  /// The first NaN or infinity in `tensor`, if any.
  static func firstNonFinite(_ tensor: Tensor) -> Float? {
    tensor.withUnsafeBufferPointer { values in
      // value * 0 is 0 for a finite value and NaN otherwise: one pass that vectorises decides.
      var sum: Float = 0
      for value in values { sum += value * 0 }
      guard !sum.isFinite else { return nil }
      return values.first { !$0.isFinite }
    }
  }

  /// The records written by the command line and `TrainingRun`, checked when present:
  /// "configuration" (input side, resize side, normalisation), "schedule", "early_stopping" and
  /// "history" (they must decode).
  func checkRecords(source: String) throws {
    if records["configuration"] != nil { _ = try recordedPreprocessing(source: source) }
    let decoder = JSONDecoder.runRecords
    func check<T: Decodable>(_ type: T.Type, _ key: String) throws {
      guard let text = records[key] else { return }
      do { _ = try decoder.decode(type, from: Data(text.utf8)) } catch {
        throw FileError(
          source, "has an unreadable \(key) record (\(RunDirectory.decodingProblem(error)))")
      }
    }
    try check(ReduceOnPlateau.self, "schedule")
    try check(EarlyStopping.self, "early_stopping")
    try check(History.self, "history")
    try check([String: [String]].self, "dropout")
  }

  /// The input side recorded in the "configuration" record, when there is one.
  public var recordedImageSize: Int? {
    struct Recorded: Decodable { var imageSize: Int }
    guard let text = records["configuration"] else { return nil }
    return try? JSONDecoder().decode(Recorded.self, from: Data(text.utf8)).imageSize
  }

  /// Refuses a checkpoint that does not belong to the run being resumed: other class names (the
  /// same count with other names would swap the labels silently) or another input side.
  public func checkBelongs(to record: RunRecord, source: String) throws {
    guard classNames == record.classNames else {
      let shown =
        classNames.prefix(4).joined(separator: ", ") + (classNames.count > 4 ? ", ..." : "")
      throw FileError(
        source,
        "was trained on the classes \(shown), not those of this run's config.json "
          + "(\(record.classNames.prefix(4).joined(separator: ", "))...)")
    }
    if let side = recordedImageSize, side != record.configuration.imageSize {
      throw FileError(
        source,
        "was trained at --image-size \(side), this run's config.json says "
          + "\(record.configuration.imageSize.map(String.init) ?? "none")")
    }
  }

  /// Refuses an input side the model cannot take (a side too small for its pooling, say).
  public static func checkInputSide(_ side: Int, of model: any Layer, source: String) throws {
    do { _ = try model.outputShape(for: [1, 3, side, side]) } catch {
      throw FileError(
        source, "configuration record: imageSize \(side) does not fit the model: \(error)")
    }
  }

  /// Refuses class names whose count is not the classifier's output count (the last
  /// two-dimensional weight, as in every catalogue model), before a model is made for them.
  static func checkHead(_ checkpoint: Checkpoint, source: String) throws {
    guard
      let head = checkpoint.weights.last(where: {
        $0.name.hasSuffix(".weight") && $0.tensor.shape.count == 2
      })
    else { throw FileError(source, "has no classifier weights (a two-dimensional .weight)") }
    guard head.tensor.shape[0] == checkpoint.classNames.count else {
      throw FileError(
        source,
        "class_names lists \(checkpoint.classNames.count) names but the classifier \(head.name) "
          + "has \(head.tensor.shape[0]) outputs")
    }
  }
}
