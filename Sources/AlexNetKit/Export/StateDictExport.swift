import Foundation

/// Weights only, as PyTorch's `load_state_dict(strict=True)` wants them: the state dict under
/// its PyTorch names, each batch norm's `num_batches_tracked` counter (torch keeps one per
/// BatchNorm2d; 0 here, since this library does not count batches and torch reads the counter
/// only when its momentum is None), no optimizer state, and readable metadata
/// (`ExportedModelInfo`).
public enum StateDictExport {
  public static func encode(_ network: any Layer, info: ExportedModelInfo) throws -> [UInt8] {
    let counters = network.namedLeaves.filter { $0.layer is BatchNorm }.map {
      (name: "\($0.name).num_batches_tracked", shape: [Int](), values: [Int64(0)])
    }
    var metadata = try info.metadata()
    // What safetensors.torch writes, so torch tooling takes the file for a state dict.
    metadata["format"] = "pt"
    return Safetensors.encode(network.stateDict, metadata: metadata, integers: counters)
  }

  /// Writes the weights atomically (see `AtomicFile`).
  public static func write(_ network: any Layer, info: ExportedModelInfo, to url: URL) throws {
    try AtomicFile.write(encode(network, info: info), to: url)
  }
}
