import AlexNetKit
import Foundation
import Testing

/// Size-like flags and narrow images through the built binary: each refused in one line naming
/// the flag or file, with a non-zero exit code, no trap and no allocation abort.
@Suite(.serialized) struct BoundsCommandTests {
  static let weights = CommandTests.sample.deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Pretrained/small-imagenette-112.safetensors").path
  static let photo = CommandTests.sample.appendingPathComponent("church").path

  /// The one error line of a refused command, or a description of what went wrong instead.
  static func refusal(
    _ arguments: [String], environment: [String: String] = [:]
  ) throws -> String {
    let result = try runAlexnet(arguments, environment: environment)
    // A flag refused by validate() is followed by the parser's usage hint: not an error line.
    let lines = result.error.split(separator: "\n").filter {
      !$0.hasPrefix("note: ") && !$0.hasPrefix("Usage: ") && !$0.hasPrefix("  See '")
    }
    guard result.status != 0, result.status < 128, lines.count == 1 else {
      return "status \(result.status), stderr: \(result.error.prefix(300))"
    }
    return String(lines[0])
  }

  static func firstPhoto() throws -> String {
    let name = try FileManager.default.contentsOfDirectory(atPath: photo).sorted()[0]
    return photo + "/" + name
  }

  @Test func summarySizesOfTheIssueAreRefused() throws {
    let cases: [([String], String)] = [
      (["--model", "small", "--image-size", "1000000000"], "--image-size 1000000000 needs"),
      (["--model", "small", "--classes", "4611686018427387904"], "--classes 4611686018427387904"),
      (["--model", "alexnet", "--classes", "100000000"], "--classes 100000000 needs about"),
    ]
    for (arguments, expected) in cases {
      let line = try Self.refusal(["summary"] + arguments)
      #expect(line.hasPrefix("Error: " + expected), "\(arguments)")
      #expect(line.contains("memory budget"), "\(arguments)")
    }
  }

  @Test func predictAndEvaluateSizesAreRefused() throws {
    let image = try Self.firstPhoto()
    let crop = try Self.refusal(["predict", "--weights", Self.weights, "--crop", "100000", image])
    #expect(crop.hasPrefix("Error: --crop 100000 needs about"), "\(crop)")
    let resize = try Self.refusal([
      "predict", "--weights", Self.weights, "--resize", "100000", image,
    ])
    #expect(resize.hasPrefix("Error: --resize 100000 needs about"), "\(resize)")
    let evaluateCrop = try Self.refusal(["evaluate", "--weights", Self.weights, "--crop", "100000"])
    #expect(
      evaluateCrop.hasPrefix("Error: --crop 100000 with --batch-size 32 needs about"),
      "\(evaluateCrop)")
    let zeroCrop = try Self.refusal(["evaluate", "--weights", Self.weights, "--crop", "0"])
    #expect(zeroCrop.hasPrefix("Error: --crop must be positive"), "\(zeroCrop)")
    let batch = try Self.refusal([
      "evaluate", "--weights", Self.weights, "--batch-size", "100000000",
    ])
    #expect(batch.contains("--batch-size 100000000 needs about"), "\(batch)")
    let features = try Self.refusal([
      "features", "--weights", Self.weights, "--data", CommandTests.sample.path,
      "--batch-size", "100000000", "--output", "/tmp/never-written.safetensors",
    ])
    #expect(features.contains("--batch-size 100000000 needs about"), "\(features)")
    let threads = try Self.refusal([
      "predict", "--weights", Self.weights, "--threads", "100000", image,
    ])
    #expect(threads.hasPrefix("Error: --threads must be in 1..."), "\(threads)")
    let workers = try Self.refusal(["evaluate", "--weights", Self.weights, "--workers", "100000"])
    #expect(workers.hasPrefix("Error: --workers must be in 1..."), "\(workers)")
  }

  /// `evaluate --crop` evaluates at another side (the resize follows in the paper's proportion);
  /// the same crop through `--crop` and `--resize` together gives the same figures.
  @Test func evaluateTakesAnotherCrop() throws {
    // The weights' classes are WordNet ids: one bundled photo of each, under those names.
    let wordNetIDs = [
      "tench": "n01440764", "English_springer": "n02102040", "cassette_player": "n02979186",
      "chain_saw": "n03000684", "church": "n03028079", "French_horn": "n03394916",
      "garbage_truck": "n03417042", "gas_pump": "n03425413", "golf_ball": "n03445777",
      "parachute": "n03888257",
    ]
    let root = try CommandTests.scratch()
    let manager = FileManager.default
    for (name, id) in wordNetIDs {
      let source = CommandTests.sample.appendingPathComponent(name)
      let folder = root.appendingPathComponent(id)
      try manager.createDirectory(at: folder, withIntermediateDirectories: true)
      for file in try manager.contentsOfDirectory(atPath: source.path).sorted().prefix(1) {
        try manager.copyItem(
          at: source.appendingPathComponent(file), to: folder.appendingPathComponent(file))
      }
    }
    func evaluated(_ flags: [String]) throws -> [String: Any] {
      let result = try runAlexnet(
        ["evaluate", "--weights", Self.weights, "--data", root.path, "--json"] + flags)
      #expect(result.status == 0, "\(flags): \(result.error.prefix(300))")
      let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8))
      return (object as? [String: Any])?["metrics"] as? [String: Any] ?? [:]
    }
    let cropped = try evaluated(["--crop", "96"])
    let both = try evaluated(["--crop", "96", "--resize", "110"])
    let recorded = try evaluated([])
    #expect(cropped["samples"] as? Int == 10 && cropped["loss"] as? Double != nil)
    #expect(cropped["loss"] as? Double == both["loss"] as? Double)
    #expect(cropped["loss"] as? Double != recorded["loss"] as? Double)
  }

  @Test func theBudgetCanBeSetAndIsChecked() throws {
    let bad = try Self.refusal(
      ["summary", "--model", "small"], environment: ["ALEXNET_MEMORY_BUDGET": "lots"])
    #expect(bad.hasPrefix("Error: ALEXNET_MEMORY_BUDGET must be a positive size"), "\(bad)")
    let tight = try Self.refusal(
      ["summary", "--model", "small"], environment: ["ALEXNET_MEMORY_BUDGET": "1M"])
    #expect(tight.hasPrefix("Error: --"), "\(tight)")
    let ok = try runAlexnet(
      ["summary", "--model", "small"], environment: ["ALEXNET_MEMORY_BUDGET": "1G"])
    #expect(ok.status == 0)
  }

  /// A misspelt algorithm is refused in one line rather than quietly timed as the default rule.
  @Test func anUnknownConvolutionAlgorithmIsRefused() throws {
    let image = try Self.firstPhoto()
    let bad = try Self.refusal(
      ["predict", "--weights", Self.weights, image],
      environment: ["ALEXNET_CONV_ALGORITHM": "winograd3"])
    #expect(
      bad.hasPrefix("Error: ALEXNET_CONV_ALGORITHM must be one of rule, measure, im2colGEMM"),
      "\(bad)")
    #expect(bad.hasSuffix("got \"winograd3\""), "\(bad)")
    for value in ["winograd3x3", "measure", ""] {
      let ok = try runAlexnet(
        ["predict", "--weights", Self.weights, image],
        environment: ["ALEXNET_CONV_ALGORITHM": value])
      #expect(ok.status == 0, "\(value): \(ok.error.prefix(300))")
    }
  }

  @Test func trainRefusesSizesAndEmptySplitsUpFront() throws {
    let data = try CommandTests.dataFolder()
    let output = try CommandTests.scratch().appendingPathComponent("run").path
    let common = ["train", "--data", data.path, "--output", output, "--epochs", "1"]
    let budget = try Self.refusal(
      common + ["--image-size", "64", "--batch-size", "4"],
      environment: ["ALEXNET_MEMORY_BUDGET": "2M"])
    #expect(budget.contains("--image-size 64 with --batch-size 4 needs about"), "\(budget)")
    let split = try Self.refusal(common + ["--validation-split", "0.01", "--batch-size", "2"])
    #expect(split.contains("--validation-split 0.01"), "\(split)")
    #expect(split.contains("leaves no validation images"), "\(split)")
    #expect(!FileManager.default.fileExists(atPath: output + "/config.json"))
  }

  /// A 1x20000 PNG (a few hundred bytes) is one line for predict, and a skipped file for train.
  @Test func narrowImagesAreRefusedOrSkipped() throws {
    let data = try CommandTests.dataFolder()
    let strip = data.appendingPathComponent("red/strip.png")
    let pixels = RGBImage(width: 1, height: 20_000, red: 9, green: 9, blue: 9)
    try Data(ImageEncoder.png(pixels)).write(to: strip)
    let line = try Self.refusal(["predict", "--weights", Self.weights, strip.path])
    #expect(line.hasPrefix("Error: \(strip.path): declares 1x20000 pixels"), "\(line)")
    let output = try CommandTests.scratch().appendingPathComponent("run").path
    let train = try runAlexnet([
      "train", "--data", data.path, "--output", output, "--epochs", "1", "--image-size", "32",
      "--batch-size", "4", "--validation-split", "0", "--quiet",
    ])
    #expect(train.status == 0, "\(train.error)")
    #expect(train.error.contains("strip.png") && train.error.contains("aspect-ratio"))
  }

  /// The checkpoint's class folders with one photo each: any split of 0.01 holds out nothing.
  @Test func evaluateOnNoImagesIsRefused() throws {
    let classes = try Checkpoint(contentsOf: URL(fileURLWithPath: Self.weights)).classNames
    let root = try CommandTests.scratch()
    for name in classes {
      let folder = root.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try FileManager.default.copyItem(
        at: URL(fileURLWithPath: try Self.firstPhoto()),
        to: folder.appendingPathComponent("0.JPEG"))
    }
    let line = try Self.refusal([
      "evaluate", "--weights", Self.weights, "--data", root.path, "--validation-split", "0.01",
    ])
    #expect(line.hasSuffix("--validation-split 0.01 leaves no images to evaluate"), "\(line)")
  }

  /// An index from other weights (its digest) or holding NaN is refused; its own weights work.
  @Test func similarChecksTheIndex() throws {
    let data = try CommandTests.dataFolder(perClass: 2)
    let index = try CommandTests.scratch().appendingPathComponent("index.safetensors")
    let made = try runAlexnet([
      "features", "--weights", Self.weights, "--data", data.path, "--output", index.path,
    ])
    #expect(made.status == 0, "\(made.error)")
    let image = try Self.firstPhoto()
    let query = ["similar", "--features", index.path, "--weights", Self.weights, image]
    let ok = try runAlexnet(query + ["--top", "2"])
    #expect(ok.status == 0 && ok.output.contains("distance") && !ok.output.contains("nan"))
    let file = try SafetensorsFile(contentsOf: index)
    let features = try file.tensor(named: "features")
    var metadata = file.metadata
    metadata["weights_digest"] = "0"
    try Safetensors.write([("features", features)], metadata: metadata, to: index)
    let other = try Self.refusal(query)
    #expect(other.contains("was made with other weights"), "\(other)")
    var poisoned = features
    poisoned.scalars[features.shape[1] + 3] = .nan
    try Safetensors.write([("features", poisoned)], metadata: file.metadata, to: index)
    let nan = try Self.refusal(query)
    #expect(nan.hasSuffix("features row 1 holds a non-finite value (nan)"), "\(nan)")
  }
}
