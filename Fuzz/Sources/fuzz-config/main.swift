import AlexNetKit
import Foundation
import FuzzDriver

/// Any bytes read as a run's config.json either throw or give a record whose settings, sides,
/// class names and statistics are in range: what `--resume` builds a run from.
@_cdecl("fuzz_config_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv) { data, size in
    guard let record = try? RunRecord(json: Data(bytes(data, size)), source: "fuzz") else {
      return 0
    }
    let preprocessing = record.preprocessing
    precondition(preprocessing.side >= 16 && preprocessing.side <= 1024, "unchecked side")
    precondition(preprocessing.resizeSide >= preprocessing.side, "unchecked resize side")
    precondition(!record.classNames.isEmpty, "a run without classes")
    precondition(
      (try? record.configuration.validate()) != nil, "a record whose settings do not validate")
    return 0
  }
}
