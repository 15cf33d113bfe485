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
    let lines = result.error.split(separator: "\n").filter { !$0.hasPrefix("note: ") }
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
    let batch = try Self.refusal([
      "evaluate", "--weights", Self.weights, "--batch-size", "100000000",
    ])
    #expect(batch.contains("--batch-size 100000000 needs about"), "\(batch)")
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
}
