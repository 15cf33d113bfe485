import AlexNetKit
import Foundation
import Testing

/// Sizes refused up front from their memory estimate, with overflow-safe arithmetic, and the
/// estimate checked against what a real training step allocates.
@Suite struct MemoryBudgetTests {
  static let twoGigabytes = MemoryBudget(bytes: 2 << 30, origin: "test")
  static let summaryFlags = MemoryEstimate.Flags(imageSize: "--image-size", classes: "--classes")

  @Test func budgetComesFromTheEnvironmentOrThePhysicalMemory() throws {
    let given = try MemoryBudget.system(environment: [MemoryBudget.environmentVariable: "3G"])
    #expect(given.bytes == 3 << 30)
    #expect(try MemoryBudget.system(environment: ["ALEXNET_MEMORY_BUDGET": "1500"]).bytes == 1500)
    for bad in ["", "x", "-4G", "0", "99999999999T", "1.5G"] {
      #expect(throws: ConfigurationError.self, "\(bad)") {
        try MemoryBudget.system(environment: [MemoryBudget.environmentVariable: bad])
      }
    }
    let system = try MemoryBudget.system(environment: [:])
    let pages = sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
    #expect(system.bytes > 0 && system.bytes <= pages / 2 + 1)
  }

  /// The cases: each refused in one line naming its flag, none trapping on overflow.
  @Test func hugeClassCountsAndSidesAreRefusedWithoutOverflow() throws {
    let budget = Self.twoGigabytes
    let cases: [(ModelName, Int, Int, String)] = [
      (.small, 10, 1_000_000_000, "--image-size"),
      (.small, 4_611_686_018_427_387_904, 96, "--classes"),
      (.alexnet, 100_000_000, 227, "--classes"),
      (.small, Int.max, 96, "--classes"),
      (.small, 10, Int.max, "--image-size"),
    ]
    for (model, classes, side, flag) in cases {
      #expect("\(model) \(classes) \(side)") {
        try budget.checkBeforeBuilding(
          model, classes: classes, side: side, mode: .inference, flags: Self.summaryFlags)
      } throws: { error in
        let error = error as? ConfigurationError
        return error?.setting == flag && error?.description.contains("memory budget") == true
          && error?.description.contains("\n") == false
      }
    }
    try budget.checkBeforeBuilding(
      .alexnet, classes: 1000, side: 227, mode: .training, flags: Self.summaryFlags)
  }

  @Test func builtModelIsRefusedByBatchAndAcceptedWithinTheBudget() throws {
    let model = ModelCatalog.make(.small, classes: 3)
    let flags = MemoryEstimate.Flags(imageSize: "--image-size", batch: "--batch-size")
    let one = try Self.twoGigabytes.check(model, side: 64, batch: 1, mode: .training, flags: flags)
    let eight = try MemoryEstimate(model, side: 64, batch: 8, mode: .training)
    #expect(eight.activations == 8 * one.activations && eight.parameters == one.parameters)
    #expect(one.parameters == model.parameterCount * 4 * 4)
    let tight = MemoryBudget(bytes: one.total + 1, origin: "test")
    #expect {
      try tight.check(model, side: 64, batch: 8, mode: .training, flags: flags)
    } throws: { error in
      (error as? ConfigurationError)?.description.hasPrefix("--image-size 64 with --batch-size 8")
        == true
    }
  }

  /// Safe side: a real forward and backward of `small` allocates no more scratch than estimated,
  /// and its output tensors fit in the activation figure.
  @Test func estimateCoversAnActualTrainingStep() throws {
    let model = ModelCatalog.make(.small, classes: 5, seed: 3)
    let (side, batch) = (48, 3)
    let context = ComputeContext(threadCount: 1)
    let estimate = try withComputeContext(context) {
      try MemoryEstimate(model, side: side, batch: batch, mode: .training)
    }
    var g = SeededGenerator(seed: 9)
    let input = Tensor(
      shape: [batch, 3, side, side],
      scalars: (0..<(batch * 3 * side * side)).map {
        _ in g.nextNormal()
      })
    let logits = withComputeContext(context) { () -> Variable in
      let y = model(Variable(input))
      y.backward(gradient: y.value)
      return y
    }
    #expect(logits.value.shape == [batch, 5])
    #expect(context.workspace.capacity * 4 <= estimate.workspace)
    #expect(input.count * 4 * 2 <= estimate.inputs)
  }

  @Test func decoderRefusesImagesNarrowerThanTheAspectLimit() throws {
    let limit = ImageDecoder.maximumAspectRatio
    let strip = RGBImage(width: 1, height: limit * 400, red: 1, green: 2, blue: 3)
    let bytes = try ImageEncoder.png(strip)
    #expect {
      try ImageDecoder.decode(bytes: bytes, name: "strip.png")
    } throws: { error in
      "\(error)".hasPrefix("strip.png: declares 1x20000 pixels, beyond the 1:50 aspect-ratio")
    }
    let wide = RGBImage(width: limit + 1, height: 1, red: 1, green: 2, blue: 3)
    #expect(throws: FileError.self) {
      try ImageDecoder.decode(bytes: ImageEncoder.png(wide), name: "wide.png")
    }
    let widest = RGBImage(width: limit, height: 1, red: 1, green: 2, blue: 3)
    #expect(try ImageDecoder.decode(bytes: ImageEncoder.png(widest), name: "ok.png") == widest)
  }
}
