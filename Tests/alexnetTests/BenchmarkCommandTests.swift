import Foundation
import Testing

/// The `benchmarks` executable's per-layer modes, run as built (debug, so at small sizes): they
/// must follow a network's structure, not only a chain of layers.
@Suite struct BenchmarkCommandTests {
  /// resnet-small's residual blocks are one step each: walking their inner layers as a chain
  /// used to feed a block's input to its second convolution and trap on the shapes.
  @Test func layerTableAndChainTimeResidualBlocksWhole() throws {
    for mode in ["--layer-table", "--layer-chain"] {
      let run = try runProduct("benchmarks", [mode, "resnet-small", "--batch", "1", "--quick"])
      #expect(run.status == 0, "\(mode): \(run.error.suffix(400))")
      #expect(run.output.contains("layer1.0.0") && run.output.contains("Residual"))
      #expect(run.output.contains("fc") && run.output.contains("Dense"))
    }
  }

  /// The paper's figure-1 network as a chain: fused convolutions, and its dense layer's weight
  /// bandwidth beside a bare SGEMV of that layer's shape.
  @Test func layerChainNamesFusedStepsAndBandwidth() throws {
    let run = try runProduct("benchmarks", ["--layer-chain", "cifar4", "--batch", "2", "--quick"])
    #expect(run.status == 0, "\(run.error.suffix(400))")
    #expect(run.output.contains("Conv2D+ReLU") && run.output.contains("whole pass"))
    #expect(run.output.contains("bare SGEMV of the largest dense layer's shape"))
  }

  @Test func refusesUnknownModelsAndBatchesInOneLine() throws {
    let model = try runProduct("benchmarks", ["--layer-chain", "vgg16"])
    #expect(
      model.status == 2
        && model.error.hasPrefix("benchmarks: --layer-chain vgg16: expected a model name"))
    let batch = try runProduct("benchmarks", ["--layer-chain", "small", "--batch", "0"])
    #expect(
      batch.status == 2
        && batch.error.hasPrefix("benchmarks: --batch 0: expected a positive integer"))
  }
}
