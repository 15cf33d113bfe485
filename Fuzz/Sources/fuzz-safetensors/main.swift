import AlexNetKit
import FuzzDriver

/// Any bytes given to the safetensors reader either throw or give tensors whose every entry can
/// be read back; nothing traps and nothing is allocated from an unchecked size.
@_cdecl("fuzz_safetensors_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv) { data, size in
    guard let file = try? SafetensorsFile(bytes: bytes(data, size), source: "fuzz") else {
      return 0
    }
    for entry in file.entries { _ = try? file.tensor(named: entry.name) }
    return 0
  }
}
