import Foundation

extension Checkpoint {
  /// The checkpoint as weights to hand to others: no optimizer state, and no path of the machine
  /// that trained it. The recorded configuration keeps every setting but names the data folders
  /// by their last two components ("imagenette/train"); the history, with each epoch's seconds,
  /// the class names and the preprocessing stay, so `predict` and `evaluate` read it as before.
  public func published() throws -> Checkpoint {
    var copy = self
    copy.optimizerState = []
    guard let text = records["configuration"] else { return copy }
    var record = try JSONDecoder.runRecords.decode(RunRecord.self, from: Data(text.utf8))
    record.configuration = record.configuration.withoutMachinePaths()
    let json = try JSONEncoder.runRecords(pretty: false).encode(record)
    copy.records["configuration"] = String(decoding: json, as: UTF8.self)
    return copy
  }
}

extension TrainingConfiguration {
  /// The configuration with its file and folder paths shortened to their last two components, for
  /// records that leave this machine.
  public func withoutMachinePaths() -> TrainingConfiguration {
    func shortened(_ path: String) -> String {
      URL(fileURLWithPath: path).standardizedFileURL.pathComponents.suffix(2).joined(separator: "/")
    }
    var copy = self
    copy.data = shortened(data)
    copy.validationData = validationData.map(shortened)
    copy.initWeights = initWeights.map(shortened)
    return copy
  }
}
