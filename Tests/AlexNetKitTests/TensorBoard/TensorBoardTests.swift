import Foundation
import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct TensorBoardTests {
  /// The check values of RFC 3720 (iSCSI, appendix B.4) and the usual "123456789".
  @Test func crc32cMatchesKnownVectors() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8]()) == 0)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum((0..<32).map(UInt8.init)) == 0x46DD_794E)
  }

  /// The bytes TensorBoard's own writer frames "hello" into:
  /// `RecordWriter(io.BytesIO()).write(b"hello")` from tensorboard 2.21.0's
  /// tensorboard.summary.writer.record_writer.
  @Test func framingMatchesTensorBoardsRecordWriter() throws {
    let framed = TFRecord.framed(Array("hello".utf8))
    #expect(
      framed == [
        5, 0, 0, 0, 0, 0, 0, 0, 234, 178, 4, 62, 104, 101, 108, 108, 111, 187, 31, 28, 25,
      ])
    let read = try TFRecord.records(in: framed + framed, source: "x")
    #expect(read.records == [Array("hello".utf8), Array("hello".utf8)] && read.truncatedBytes == 0)
  }

  /// An event as TensorBoard's protos serialize it: `Event(wall_time=1.5, step=3)` with one
  /// `summary.value.add(tag="epoch_loss", simple_value=0.25)`, `SerializeToString()`.
  @Test func eventEncodingMatchesTensorBoardsProtos() throws {
    var event = Tensorboard_Event()
    (event.wallTime, event.step) = (1.5, 3)
    var value = Tensorboard_Summary.Value()
    (value.tag, value.simpleValue) = ("epoch_loss", 0.25)
    event.summary.value = [value]
    let bytes: [UInt8] = try event.serializedBytes()
    #expect(
      bytes == [
        9, 0, 0, 0, 0, 0, 0, 248, 63, 16, 3, 42, 19, 10, 17, 10, 10, 101, 112, 111, 99, 104, 95,
        108, 111, 115, 115, 21, 0, 0, 128, 62,
      ])
  }

  /// A file cut inside its last record (a killed writer) reads back without that record; a
  /// changed byte anywhere is an error.
  @Test func truncatedTailIsSkippedAndCorruptionDetected() throws {
    let records = (0..<3).map { (0...$0 * 7).map { UInt8($0) } }
    let file = records.flatMap(TFRecord.framed)
    for cut in 1..<(TFRecord.framed(records[2]).count) {
      let read = try TFRecord.records(in: Array(file.dropLast(cut)), source: "x")
      #expect(read.records == Array(records.prefix(2)))
      #expect(read.truncatedBytes == TFRecord.framed(records[2]).count - cut)
    }
    for position in [0, 9, 13, file.count - 1] {
      var damaged = file
      damaged[position] ^= 0x10
      #expect(throws: FileError.self, "byte \(position)") {
        try TFRecord.records(in: damaged, source: "x")
      }
    }
  }

  static func record(_ epoch: Int, validation: Bool) -> EpochRecord {
    let e = Float(epoch)
    return EpochRecord(
      epoch: epoch, loss: 2 / e, accuracy: 0.1 * e, top5: 0.5 + 0.1 * e,
      validationLoss: validation ? 3 / e : nil, validationAccuracy: validation ? 0.05 * e : nil,
      validationTop5: validation ? 0.4 : nil, learningRate: 0.01 / e, seconds: 1)
  }

  /// Two epochs of four batches with scalars every 2 steps: the training file holds the version
  /// event, then batch scalars at global steps 2, 4, 6, 8 and the epoch scalars at steps 1, 2;
  /// the validation file the validation metrics under the same tags.
  @Test func logWritesKerasLayoutReadableBack() throws {
    let directory = try DataFixtures.scratchDirectory().appendingPathComponent("tb")
    let log = try TensorBoardLog(directory: directory, everySteps: 2)
    for epoch in 1...2 {
      for index in 1...4 {
        log.record(
          .batch(
            index: index, count: 4, loss: Float(index), accuracy: 0.5,
            imagesPerSecond: 100 * Double(index), remaining: 0))
      }
      log.record(.epoch(Self.record(epoch, validation: true), epochs: 2, batches: 4))
    }
    try log.finish()
    let trainFiles = try FileManager.default.contentsOfDirectory(
      atPath: directory.appendingPathComponent("train").path)
    #expect(trainFiles.count == 1 && trainFiles[0].hasPrefix("events.out.tfevents."))
    let train = try EventFileReader.scalars(in: log.files[0])
    #expect(train.version == "brain.Event:2")
    let batchLoss = train.scalars.filter { $0.tag == "batch_loss" }
    #expect(batchLoss.map(\.step) == [2, 4, 6, 8] && batchLoss.map(\.value) == [2, 4, 2, 4])
    let rate = train.scalars.filter { $0.tag == "epoch_learning_rate" }
    #expect(rate.map(\.step) == [1, 2] && rate.map(\.value) == [0.01, 0.005])
    #expect(
      train.scalars.filter { $0.tag == "epoch_images_per_second" }.map(\.value) == [400, 400])
    let tags = Set(train.scalars.map(\.tag))
    #expect(tags.isSuperset(of: ["epoch_loss", "epoch_accuracy", "epoch_top5"]))
    let validation = try EventFileReader.scalars(in: log.files[1])
    #expect(validation.version == "brain.Event:2")
    #expect(
      validation.scalars.filter { $0.tag == "epoch_loss" }.map(\.value) == [3, 1.5]
        && Set(validation.scalars.map(\.tag)) == ["epoch_loss", "epoch_accuracy", "epoch_top5"])
  }

  /// A resumed run continues the global step after its completed epochs, in a new file; with
  /// no validation, no validation file is made.
  @Test func resumedLogContinuesTheSteps() throws {
    let directory = try DataFixtures.scratchDirectory().appendingPathComponent("tb")
    let log = try TensorBoardLog(directory: directory, everySteps: 1, completedEpochs: 3)
    log.record(
      .batch(index: 1, count: 10, loss: 1, accuracy: 0, imagesPerSecond: 5, remaining: 0))
    log.record(.epoch(Self.record(4, validation: false), epochs: 4, batches: 10))
    try log.finish()
    #expect(log.files.count == 1)
    let read = try EventFileReader.scalars(in: log.files[0])
    #expect(read.scalars.first { $0.tag == "batch_loss" }?.step == 31)
    #expect(read.scalars.first { $0.tag == "epoch_loss" }?.step == 4)
    #expect(
      !FileManager.default.fileExists(
        atPath: directory.appendingPathComponent("validation").path))
  }

  /// A file where the log directory should be: one error naming it, before any training.
  @Test func unusableDirectoryIsAnError() throws {
    let blocker = try DataFixtures.scratchDirectory().appendingPathComponent("file")
    try Data("x".utf8).write(to: blocker)
    #expect(throws: FileError.self) { try TensorBoardLog(directory: blocker) }
  }
}
