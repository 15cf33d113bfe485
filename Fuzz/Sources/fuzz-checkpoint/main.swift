import AlexNetKit
import FuzzDriver

/// Any bytes read as a checkpoint either throw or give one whose every record passed its checks:
/// class names that fit a model, a plausible epoch, a usable learning rate, finite float32
/// tensors, and a preprocessing record a model can be sized from. Building the catalogue model
/// from it (when it names one) must then throw or succeed, never trap.
@_cdecl("fuzz_checkpoint_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv) { data, size in
    guard let checkpoint = try? Checkpoint(bytes: bytes(data, size), source: "fuzz") else {
      return 0
    }
    precondition(!checkpoint.classNames.isEmpty, "a checkpoint without class names")
    precondition(checkpoint.learningRate.isFinite && checkpoint.epoch >= 0, "unchecked numbers")
    if checkpoint.records["configuration"] != nil {
      guard let preprocessing = try? checkpoint.recordedPreprocessing(source: "fuzz") else {
        preconditionFailure("a configuration record that passed the checks does not read")
      }
      precondition(preprocessing.side >= 16 && preprocessing.side <= 1024, "unchecked side")
      precondition(preprocessing.normalization.standardDeviation.allSatisfy { $0 > 0 })
    }
    // Small models only: the fuzzer's inputs are small, and so must be what they build.
    if checkpoint.model == ModelName.small.rawValue, checkpoint.classNames.count <= 64 {
      _ = try? ModelCatalog.make(for: checkpoint, source: "fuzz")
    }
    return 0
  }
}
