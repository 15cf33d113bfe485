import Foundation

/// One row per epoch, as Keras's `History` keeps it; written as CSV and drawn as SVG curves.
public struct EpochRecord: Codable, Sendable, Equatable {
  public var epoch: Int
  public var loss: Float
  public var accuracy: Float
  public var top5: Float
  public var validationLoss: Float?
  public var validationAccuracy: Float?
  public var validationTop5: Float?
  public var learningRate: Float
  public var seconds: Double
}

public struct History: Codable, Sendable, Equatable {
  public var records: [EpochRecord] = []
  public init(records: [EpochRecord] = []) { self.records = records }

  public static let csvHeader =
    "epoch,loss,accuracy,top5,val_loss,val_accuracy,val_top5,learning_rate,seconds"

  public var csv: String {
    func field(_ value: Float?) -> String { value.map { String(format: "%.6g", $0) } ?? "" }
    return
      ([Self.csvHeader]
      + records.map { r in
        [
          String(r.epoch), field(r.loss), field(r.accuracy), field(r.top5), field(r.validationLoss),
          field(r.validationAccuracy), field(r.validationTop5), field(r.learningRate),
          String(format: "%.2f", r.seconds),
        ]
        .joined(separator: ",")
      }).joined(separator: "\n") + "\n"
  }

  /// The epoch with the lowest validation loss (training loss when there is no validation), the
  /// one `best.safetensors` holds.
  public var best: EpochRecord? {
    records.min { ($0.validationLoss ?? $0.loss) < ($1.validationLoss ?? $1.loss) }
  }

  /// The training curves as a standalone SVG figure (`TrainingCurves`).
  public var svg: String { TrainingCurves(self).svg }
}
