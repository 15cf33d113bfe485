import ArgumentParser
import Foundation
import Testing

@testable import alexnet

@Suite struct VisualizeCommandTests {
  @Test func parsesBothPictures() throws {
    let filters = try VisualizeFilters.parse([
      "--weights", "w.safetensors", "--layer", "features.4",
      "--output", "f.png",
    ])
    #expect(filters.layer == "features.4" && filters.scale == 4)
    #expect(filters.source.weights == "w.safetensors")
    let maps = try VisualizeActivations.parse(["--weights", "w", "cat.jpg", "--output", "d"])
    #expect(maps.image == "cat.jpg" && maps.output == "d")
    #expect {
      try VisualizeFilters.parse(["--weights", "w", "--output", "f.png", "--scale", "0"])
    } throws: { error in
      VisualizeFilters.message(for: error).contains("--scale must be in 1...32, got 0")
    }
  }

  /// Missing weights: one line naming the file, a non-zero exit, no trap.
  @Test func binaryReportsAMissingWeightsFile() throws {
    let result = try runAlexnet([
      "visualize", "filters", "--weights", "/nonexistent.safetensors",
      "--output", "/tmp/never.png",
    ])
    #expect(result.status != 0)
    #expect(result.error.contains("/nonexistent.safetensors: no such weights file"))
    #expect(!result.error.contains("Fatal error"))
  }
}
