import AlexNetKit
import Foundation
import TestSupport
import Testing

/// Our models against PyTorch with the same weights and the same input. The weights come from
/// a closed formula that Fixtures/pytorch/make_parity.py also uses, so only PyTorch's logits are
/// committed (that script's docstring gives the formula and how it was run).
@Suite(.serialized) struct PyTorchParityTests {
  static func formula(count: Int, index t: Int, scale a: Double, offset b: Double) -> [Float] {
    // Element k depends on k % 10007 only: one period, repeated (element by element, the three
    // models' 140 million values took a minute of a debug build).
    let period = (0..<min(count, 10007)).map { k in
      Float(a * Foundation.sin(Double(k) * 0.7071 + Double(t) * 1.3) + b)
    }
    var values: [Float] = []
    values.reserveCapacity(count)
    while values.count < count { values += period.prefix(count - values.count) }
    return values
  }

  /// Fills every parameter and buffer as the script does, by position in state-dict order.
  static func fillWithFormula(_ model: Sequential) throws {
    let state = model.stateEntries.enumerated().map { t, entry -> (name: String, tensor: Tensor) in
      let shape = entry.variable.value.shape
      let count = entry.variable.value.count
      let (a, b): (Double, Double)
      if entry.name.hasSuffix("running_mean") {
        (a, b) = (0.1, 0)
      } else if entry.name.hasSuffix("running_var") {
        (a, b) = (0.2, 1)
      } else if entry.name.hasSuffix("weight") && shape.count == 1 {
        (a, b) = (0.1, 1)  // batch-norm γ
      } else if entry.name.hasSuffix("weight") {
        (a, b) = (1 / Double(shape.dropFirst().reduce(1, *)).squareRoot(), 0)
      } else {
        (a, b) = (0.1, 0)
      }
      return (
        entry.name,
        Tensor(shape: shape, scalars: formula(count: count, index: t, scale: a, offset: b))
      )
    }
    try model.loadState(state)
  }

  static func reference(_ name: String, classes: Int) throws -> Tensor {
    let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
      .appendingPathComponent("pytorch/\(name).logits.f32")
    let data = try Data(contentsOf: url)
    #expect(data.count == 2 * classes * 4)
    let values = data.withUnsafeBytes { raw in
      (0..<(2 * classes)).map {
        Float(
          bitPattern: UInt32(
            littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
      }
    }
    return Tensor(shape: [2, classes], scalars: values)
  }

  @Test(arguments: [(ModelName.alexnetTV, 1000), (.alexnet, 1000), (.alexnetBN, 16)])
  func logitsMatchPyTorch(_ name: ModelName, _ classes: Int) throws {
    let model = ModelCatalog.make(name, classes: classes)
    try Self.fillWithFormula(model)
    model.eval()
    let side = name.defaultImageSize
    let count = 2 * 3 * side * side
    let input = Tensor(
      shape: [2, 3, side, side],
      scalars: (0..<count).map { Float(2 * Foundation.sin(Double($0 % 10007) * 0.37 + 0.5)) })
    let logits = withGradientsDisabled { model(Variable(input)) }.value
    let expected = try Self.reference(name.rawValue, classes: classes)
    #expect(maxRelativeError(logits, expected) <= 1e-4, "\(name.rawValue) differs from PyTorch")
  }
}
