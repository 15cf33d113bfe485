/// What a model at an input size and batch will allocate, in bytes, estimated from shapes alone
/// before anything is allocated. Rough but on the safe side: every layer's output is counted as
/// if all were alive at once, and training triples them (value, gradient, what the backward keeps).
public struct MemoryEstimate: Sendable, Equatable {
  public enum Mode: Sendable, Equatable {
    /// Forward and backward with an optimizer: weights, gradients and two state slots (Adam's).
    case training
    /// Forward only, no gradients.
    case inference
  }

  /// The flags a refusal names, as the command spells them ("--crop", "--image-size").
  public struct Flags: Sendable, Equatable {
    public var imageSize: String
    public var batch: String?
    public var classes: String?
    public var resize: String?
    public init(
      imageSize: String, batch: String? = nil, classes: String? = nil, resize: String? = nil
    ) {
      (self.imageSize, self.batch, self.classes, self.resize) = (imageSize, batch, classes, resize)
    }
  }

  /// Weights, and in training their gradients and optimizer state.
  public var parameters = 0
  /// Layer outputs for the batch (and their gradients in training).
  public var activations = 0
  /// Scratch of the fast kernels: every convolution's im2col columns for every image (or thread,
  /// when there are more threads), doubled in training for the backward's. A workspace keeps a
  /// slot per use and shards keep their own, so the largest layer alone was measured too low.
  public var workspace = 0
  /// Input batches (the one in use and one prefetched) and the image resized before cropping.
  public var inputs = 0

  /// The sum, saturating at Int.max rather than trapping.
  public var total: Int {
    [parameters, activations, workspace, inputs].reduce(0) { sum, part in
      let (next, overflow) = sum.addingReportingOverflow(part)
      return overflow ? Int.max : next
    }
  }
}

/// a·b·c… with overflow reported as nil.
func checkedProduct(_ factors: Int...) -> Int? {
  var product = 1
  for factor in factors {
    let (next, overflow) = product.multipliedReportingOverflow(by: factor)
    if overflow || factor < 0 { return nil }
    product = next
  }
  return product
}

extension MemoryBudget {
  /// The widest image a shorter-side resize may produce: longer side over shorter side, as the
  /// decoder bounds it (`ImageDecoder.maximumAspectRatio`).
  static var resizeAspect: Int { ImageDecoder.maximumAspectRatio }

  /// Checks what can be known before a model is built: the last layer for `classes` (its
  /// `hiddenWidth` inputs) and the input batch. Call it first, so that neither building the model
  /// nor tracing its shapes can overflow or exhaust memory. Throws one line naming the flag.
  public func checkBeforeBuilding(
    _ model: ModelName?, classes: Int, side: Int, batch: Int = 1, resizeSide: Int? = nil,
    mode: MemoryEstimate.Mode, flags: MemoryEstimate.Flags
  ) throws(ConfigurationError) {
    let copies = mode == .training ? 4 : 1
    if let model, let classesFlag = flags.classes {
      let bytes = checkedProduct(classes, model.hiddenWidth + 1, 4, copies)
      try refuse(
        bytes, "\(classesFlag) \(classes)", what: "for the last layer of \(model.rawValue)")
    }
    let input = checkedProduct(batch, 3, side, side, 4, 2)
    try refuse(input, describe(flags, side: side, batch: batch), what: "for the input batch")
    if let resizeSide {
      // The decoded image after its shorter side is resized, at the widest aspect allowed:
      // bytes, and the float rows of the separable filter.
      let resized = checkedProduct(resizeSide, resizeSide, MemoryBudget.resizeAspect, 3 + 12)
      try refuse(
        resized, "\(flags.resize ?? flags.imageSize) \(resizeSide)",
        what: "for an image resized to that shorter side (aspect up to 1:\(Self.resizeAspect))")
    }
  }

  /// The estimate for a built `model` (traced from its shapes), refused when over the budget.
  /// `checkBeforeBuilding` must have passed for the same sizes.
  @discardableResult
  public func check(
    _ model: any Layer, side: Int, batch: Int = 1, resizeSide: Int? = nil,
    mode: MemoryEstimate.Mode, flags: MemoryEstimate.Flags
  ) throws(ConfigurationError) -> MemoryEstimate {
    let estimate: MemoryEstimate
    do {
      estimate = try MemoryEstimate(
        model, side: side, batch: batch, resizeSide: resizeSide, mode: mode)
    } catch {
      throw ConfigurationError(flags.imageSize, "\(side): \(error.message)")
    }
    try refuse(
      estimate.total, describe(flags, side: side, batch: batch),
      what:
        "(weights \(formatBytes(estimate.parameters)), "
        + "activations \(formatBytes(estimate.activations)), "
        + "workspace \(formatBytes(estimate.workspace)), inputs \(formatBytes(estimate.inputs)))")
    return estimate
  }

  func describe(_ flags: MemoryEstimate.Flags, side: Int, batch: Int) -> String {
    "\(flags.imageSize) \(side)" + (flags.batch.map { " with \($0) \(batch)" } ?? "")
  }

  /// One line: "--classes 100000000 needs 6.10 TB for the last layer of alexnet, more than the
  /// memory budget of 11.77 GB (half of ...)". `bytes` nil is an overflow.
  func refuse(_ bytes: Int?, _ subject: String, what: String) throws(ConfigurationError) {
    if let bytes, bytes <= self.bytes { return }
    let amount = bytes.map { "needs about \(formatBytes($0))" } ?? "needs more than Int.max bytes"
    let flag = subject.split(separator: " ").first { $0.hasPrefix("--") }
    throw ConfigurationError(
      setting: flag.map(String.init(_:)) ?? subject,
      message:
        "\(subject) \(amount) \(what), more than the memory budget of \(formatBytes(self.bytes)) "
        + "(\(origin))")
  }
}

extension MemoryEstimate {
  /// Traces `model` for [batch, 3, side, side]. The caller has bounded the sizes
  /// (`MemoryBudget.checkBeforeBuilding`), so the shape arithmetic cannot overflow.
  public init(
    _ model: any Layer, side: Int, batch: Int, resizeSide: Int? = nil, mode: Mode
  ) throws(ShapeError) {
    let threads = ComputeContext.current.threadCount
    let summary = try ModelSummary(model, inputShape: [3, side, side])
    let training = mode == .training
    let perImage = summary.rows.reduce(0) { $0 + $1.outputShape.reduce(1, *) }
    let columns = summary.rows.reduce(0) { $0 + $1.workspaceFloats }
    parameters = summary.totalParameters * 4 * (training ? 4 : 1)
    activations = checkedProduct(perImage, batch, 4, training ? 3 : 1) ?? Int.max
    workspace = checkedProduct(columns, 4, training ? 2 : 1, max(batch, threads)) ?? Int.max
    let resized = resizeSide.map { $0 * $0 * MemoryBudget.resizeAspect * 15 } ?? 0
    inputs = checkedProduct(batch, 3, side, side, 4, 2).map { $0 + resized } ?? Int.max
  }
}

extension ModelName {
  /// The inputs of the last dense layer: its weights are classes × hiddenWidth.
  public var hiddenWidth: Int {
    switch self {
    case .alexnet, .alexnetBN, .alexnetTV: return 4096
    case .small: return 512
    // At its 32 px; larger inputs widen it, which the estimate of the built model then counts.
    case .cifar4: return 64 * 3 * 3
    }
  }
}
