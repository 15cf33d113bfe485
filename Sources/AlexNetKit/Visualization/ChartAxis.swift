import Foundation

/// An axis of a chart: its range, round tick values and how a value maps to the unit interval.
/// Linear axes step by 1, 2, 2.5 or 5 times a power of ten (Heckbert's "nice numbers",
/// Graphics Gems 1990, as matplotlib's default locator); log axes tick at powers of ten.
public struct ChartAxis: Sendable, Equatable {
  public enum Scale: Sendable, Equatable { case linear, log }
  public enum Style: Sendable, Equatable { case plain, percent }

  public let scale: Scale
  public let lower: Double, upper: Double
  public let ticks: [Double]
  /// The linear step between ticks (for log axes, the step in decades).
  public let step: Double
  public var style: Style = .plain

  /// The smallest round step of at least `rough`: 1, 2, 2.5 or 5 times a power of ten
  /// (2.5 left out for integer axes, where it would give ticks between whole numbers).
  public static func roundStep(atLeast rough: Double, integer: Bool = false) -> Double {
    let power = pow(10, floor(log10(rough)))
    let candidates: [Double] = integer && power <= 1 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]
    let fraction = rough / power
    let factor = candidates.first { fraction <= $0 * (1 + 1e-9) } ?? 10
    return integer ? max(1, (factor * power).rounded()) : factor * power
  }

  /// A linear axis from a multiple of the step at or below the smallest value to one at or above
  /// the largest, with about `targetTicks` ticks. Equal values get a range around them.
  public static func linear(
    covering values: [Double], targetTicks: Int = 6, integer: Bool = false
  ) -> ChartAxis {
    let finite = values.filter(\.isFinite)
    var low = finite.min() ?? 0
    var high = finite.max() ?? 1
    if high - low < 1e-12 {
      let pad = integer ? 1 : max(abs(low) * 0.1, 1e-6)
      (low, high) = (low - pad, high + pad)
    }
    let step = roundStep(atLeast: (high - low) / Double(max(targetTicks - 1, 1)), integer: integer)
    let first = (low / step + 1e-9).rounded(.down)
    let last = (high / step - 1e-9).rounded(.up)
    // Ticks as integer multiples of the step, so 0.1 + 0.2 never shows as 0.30000000000000004.
    let ticks = stride(from: first, through: last, by: 1).map { $0 * step }
    return ChartAxis(
      scale: .linear, lower: first * step, upper: last * step, ticks: ticks, step: step)
  }

  /// A base-10 log axis from the power of ten at or below the smallest positive value to the one
  /// at or above the largest (at least one decade), a tick every decade or every few.
  public static func log(covering values: [Double]) -> ChartAxis {
    let positive = values.filter { $0.isFinite && $0 > 0 }
    // The slack keeps a Float rate of 1e-4 (9.99999975e-05 as a Double) in its own decade.
    let low = (log10(positive.min() ?? 1) + 1e-6).rounded(.down)
    var high = (log10(positive.max() ?? 10) - 1e-6).rounded(.up)
    if high <= low { high = low + 1 }
    let decades = high - low
    let every = decades > 8 ? (decades / 6).rounded(.up) : 1
    let ticks = stride(from: low, through: high, by: every).map { pow(10, $0) }
    return ChartAxis(
      scale: .log, lower: pow(10, low), upper: pow(10, high), ticks: ticks, step: every)
  }

  /// Log when all values are positive and span at least a decade (a learning rate cut ten times
  /// twice would be a flat line and two steps near zero on a linear axis); otherwise linear from
  /// zero with a tenth to spare, so a constant rate is not drawn on the frame.
  public static func automatic(covering values: [Double]) -> ChartAxis {
    let finite = values.filter(\.isFinite)
    if let low = finite.min(), let high = finite.max(), low > 0, high / low >= 10 {
      return log(covering: finite)
    }
    return linear(covering: finite + [0, (finite.max() ?? 0) * 1.1])
  }

  /// Where `value` falls between `lower` (0) and `upper` (1); outside for values out of range.
  public func fraction(_ value: Double) -> Double {
    switch scale {
    case .linear: return (value - lower) / (upper - lower)
    case .log: return (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
    }
  }

  /// A tick's label: as many decimals as the step needs, percent for `.percent`, powers of ten
  /// beyond 1e±3 as `1e-5`.
  public func label(_ value: Double) -> String {
    switch (scale, style) {
    case (.log, _):
      let exponent = Int(log10(value).rounded())
      return abs(exponent) <= 3 ? String(format: "%g", value) : "1e\(exponent)"
    case (.linear, .percent):
      return Self.decimal(value * 100, step: step * 100) + "%"
    case (.linear, .plain):
      return Self.decimal(value, step: step)
    }
  }

  static func decimal(_ value: Double, step: Double) -> String {
    // 2.5 × 10^k needs one digit more than the power of ten does.
    let power = log10(step).rounded(.down)
    let digits = -power + (abs(step / pow(10, power) - 2.5) < 1e-9 ? 1 : 0)
    let text = String(format: "%.\(max(0, Int(digits)))f", value)
    return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
  }
}
