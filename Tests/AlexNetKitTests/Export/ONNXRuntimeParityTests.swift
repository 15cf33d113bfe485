import Foundation
import Testing

@testable import AlexNetKit

/// Our forward pass against onnxruntime's run of the exported graph, for the networks whose ONNX
/// form is least obvious (asymmetric `same` pads, a summed-convention LRN, padded pooling, a
/// bias-free dense layer, residual blocks with and without projection). The .onnx files are
/// what `ONNXExport` writes for them today (checked byte for byte, so the logits belong to
/// them); onnxruntime's logits were made once by Fixtures/onnx/make_onnxruntime_logits.py.
@Suite struct ONNXRuntimeParityTests {
  static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("onnx")

  /// The input the script feeds onnxruntime: x[k] = sin(0.37·k), [2, 3, side, side].
  static func input(side: Int) -> Tensor {
    let count = 2 * 3 * side * side
    return Tensor(
      shape: [2, 3, side, side],
      scalars: (0..<count).map { Float(Foundation.sin(Double($0) * 0.37)) })
  }

  static let cases: [(name: String, network: @Sendable () -> Sequential, side: Int, classes: Int)] =
    [
      ("mixed", { ONNXExportTests.mixedNetwork(seed: 4) }, 15, 5),
      ("residual", { ONNXExportTests.residualNetwork(seed: 8) }, 9, 4),
    ]

  @Test(arguments: 0..<2)
  func forwardMatchesONNXRuntime(_ index: Int) throws {
    let (name, make, side, classes) = Self.cases[index]
    let network = make()
    network.eval()
    let bytes = try ONNXExport.encode(
      network, info: ONNXExportTests.info(classes: classes, side: side))
    let committed = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).onnx"))
    #expect(
      [UInt8](committed) == bytes, "\(name).onnx is not what the exporter writes now: regenerate it"
    )
    let raw = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).logits.f32"))
    let expected = raw.withUnsafeBytes { buffer in
      (0..<(raw.count / 4)).map {
        Float(
          bitPattern: UInt32(
            littleEndian: buffer.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
      }
    }
    let logits = withGradientsDisabled { network(Variable(Self.input(side: side))) }.value
    #expect(logits.shape == [2, classes] && expected.count == 2 * classes)
    let scale = max(expected.map(abs).max() ?? 0, 1)
    let error = zip(logits.scalars, expected).map { abs($0 - $1) }.max() ?? .infinity
    #expect(error <= 1e-5 * scale, "\(name): largest difference \(error) from onnxruntime")
  }
}
