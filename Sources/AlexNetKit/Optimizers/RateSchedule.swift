import Foundation

/// The learning rate at every step (batch) of a run, as PyTorch's schedulers give it when
/// `scheduler.step()` is called after each batch. `rate(atStep:)` is a closed form of the global
/// step s (0-based, counted over the whole run), times a linear warmup:
///
///     warmup(s) = min(1, (s + 1) / W)                 W = warmupSteps (none when 0)
///     constant:  η₀
///     step:      η₀ · γ^⌊epoch / stepSize⌋           epoch = ⌊s / stepsPerEpoch⌋ (StepLR)
///     cosine:    η_min + (η₀ − η_min)·(1 + cos(π·s / T)) / 2      (CosineAnnealingLR, T_max = T)
///     onecycle:  OneCycleLR's two cosine phases, η₀ the peak (see `oneCycle`)
///     plateau:   `level`, which `ReduceOnPlateau` lowers between epochs
///
/// T = `totalSteps`, the run's epochs times its batches per epoch, which the trainer sets when
/// training starts. The warmup multiplies every schedule (Goyal et al. 2017's gradual warmup);
/// one-cycle has its own, so a warmup there only makes the start gentler still.
public struct RateSchedule: Codable, Sendable, Equatable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    case plateau, cosine, onecycle, step, constant
  }

  public var kind: Kind
  /// η₀: the starting rate (the peak for one-cycle).
  public var baseRate: Float
  /// Linear warmup length in steps (0: none).
  public var warmupSteps = 0
  /// `step`: epochs between multiplications by `gamma`.
  public var stepSize = 30
  public var gamma: Float = 0.1
  /// `cosine`: the rate reached at the last step (η_min).
  public var minRate: Float = 0
  /// Steps of the whole run and of one epoch; set by the trainer.
  public var totalSteps = 1
  public var stepsPerEpoch = 1
  /// `plateau`: the rate the plateau rule has brought η₀ to so far.
  public var level: Float

  public init(_ kind: Kind, baseRate: Float) {
    (self.kind, self.baseRate, self.level) = (kind, baseRate, baseRate)
  }

  /// The rate for global step `step` (0-based).
  public func rate(atStep step: Int) -> Float {
    let warmup = warmupSteps > 0 ? min(1, Float(step + 1) / Float(warmupSteps)) : 1
    return warmup * undecoratedRate(atStep: step)
  }

  func undecoratedRate(atStep step: Int) -> Float {
    switch kind {
    case .constant: return baseRate
    case .plateau: return level
    case .step:
      let epoch = step / max(stepsPerEpoch, 1)
      return baseRate * Float.pow(gamma, Float(epoch / max(stepSize, 1)))
    case .cosine:
      return Self.cosine(step: step, total: totalSteps, from: baseRate, to: minRate)
    case .onecycle:
      return Self.oneCycle(step: step, total: totalSteps, maxRate: baseRate)
    }
  }

  /// CosineAnnealingLR's closed form: η_min + (η₀ − η_min)·(1 + cos(π·t / T)) / 2, held at η_min
  /// past T.
  public static func cosine(step: Int, total: Int, from start: Float, to end: Float) -> Float {
    let progress = min(1, Double(step) / Double(max(total, 1)))
    return end + (start - end) * Float((1 + cos(Double.pi * progress)) / 2)
  }

  /// torch.optim.lr_scheduler.OneCycleLR (three_phase=False, anneal_strategy='cos'): from
  /// maxRate/divFactor up to maxRate over the first pctStart·T − 1 steps, then down to
  /// maxRate/(divFactor·finalDivFactor) at step T − 1, each phase a cosine interpolation
  /// end + (start − end)·(1 + cos(π·pct)) / 2. (PyTorch also cycles momentum; this does not.)
  public static func oneCycle(
    step: Int, total: Int, maxRate: Float, pctStart: Double = 0.3, divFactor: Float = 25,
    finalDivFactor: Float = 1e4
  ) -> Float {
    let initial = maxRate / divFactor
    let final = initial / finalDivFactor
    let peakStep = pctStart * Double(total) - 1
    let lastStep = Double(total - 1)
    func anneal(_ start: Float, _ end: Float, _ pct: Double) -> Float {
      end + (start - end) * Float((1 + cos(Double.pi * pct)) / 2)
    }
    let s = Double(step)
    if s <= peakStep { return anneal(initial, maxRate, s / max(peakStep, 1e-9)) }
    return anneal(maxRate, final, min(1, (s - peakStep) / max(lastStep - peakStep, 1e-9)))
  }
}
