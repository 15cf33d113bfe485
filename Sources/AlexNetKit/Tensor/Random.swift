import RealModule

/// A seeded, reproducible generator: xoshiro256** (Blackman and Vigna), seeded through
/// SplitMix64 so that nearby seeds give unrelated streams. Its whole state is four words, which
/// checkpoints save so a resumed run draws the same numbers as an uninterrupted one.
public struct SeededGenerator: RandomNumberGenerator, Equatable, Sendable {
  // Four stored words rather than an array: an array's bounds and uniqueness checks on every
  // draw made the generator the slowest part of dropout.
  @usableFromInline var s0, s1, s2, s3: UInt64

  /// The four words of state, as checkpoints save them.
  public var state: [UInt64] { [s0, s1, s2, s3] }

  public init(seed: UInt64) {
    var splitMix = seed
    func next() -> UInt64 {
      splitMix &+= 0x9E37_79B9_7F4A_7C15
      var z = splitMix
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    (s0, s1, s2, s3) = (next(), next(), next(), next())
  }

  /// Restores a generator from a saved `state` (four words, not all zero).
  public init?(state: [UInt64]) {
    guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
    (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
  }

  @inlinable
  public mutating func next() -> UInt64 {
    let result = Self.rotateLeft(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = Self.rotateLeft(s3, 45)
    return result
  }

  @inlinable
  static func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// Uniform in [0, 1), with 24 random bits (every Float in that grid is equally likely).
  public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

  /// Standard normal N(0, 1), by the Box-Muller transform.
  public mutating func nextNormal() -> Float {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1 - Double(next() >> 11) * 0x1p-53
    let u2 = Double(next() >> 11) * 0x1p-53
    return Float((-2 * Double.log(u1)).squareRoot() * Double.cos(2 * Double.pi * u2))
  }

  /// A uniformly random integer in 0..<bound.
  public mutating func nextInt(below bound: Int) -> Int {
    precondition(bound > 0, "nextInt(below: \(bound))")
    return Int(next(upperBound: UInt64(bound)))
  }
}

// Random initialisers. Fan-in and fan-out follow Keras and PyTorch: for a convolution weight
// [out, in/groups, kh, kw], fanIn = in/groups·kh·kw and fanOut = out·kh·kw.
extension Tensor {
  /// Elements drawn from N(mean, standardDeviation²).
  public static func randomNormal(
    _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
    using generator: inout SeededGenerator
  ) -> Tensor {
    var result = Tensor(uninitializedShape: shape)
    result.withUnsafeMutableBufferPointer { r in
      for i in r.indices { r[i] = mean + standardDeviation * generator.nextNormal() }
    }
    return result
  }

  /// Elements drawn uniformly from [lower, upper).
  public static func randomUniform(
    _ shape: [Int], lower: Float = 0, upper: Float = 1, using generator: inout SeededGenerator
  ) -> Tensor {
    var result = Tensor(uninitializedShape: shape)
    result.withUnsafeMutableBufferPointer { r in
      for i in r.indices { r[i] = lower + (upper - lower) * generator.nextUniform() }
    }
    return result
  }

  /// Glorot (Xavier) uniform, Keras's default: U(-l, l) with l = √(6 / (fanIn + fanOut)).
  public static func glorotUniform(
    _ shape: [Int], fanIn: Int, fanOut: Int, using generator: inout SeededGenerator
  ) -> Tensor {
    let limit = (6 / Float(fanIn + fanOut)).squareRoot()
    return randomUniform(shape, lower: -limit, upper: limit, using: &generator)
  }

  /// Glorot (Xavier) normal: N(0, 2 / (fanIn + fanOut)).
  public static func glorotNormal(
    _ shape: [Int], fanIn: Int, fanOut: Int, using generator: inout SeededGenerator
  ) -> Tensor {
    randomNormal(
      shape, standardDeviation: (2 / Float(fanIn + fanOut)).squareRoot(), using: &generator)
  }

  /// He (Kaiming) normal for ReLU networks: N(0, 2 / fanIn).
  public static func heNormal(_ shape: [Int], fanIn: Int, using generator: inout SeededGenerator)
    -> Tensor
  {
    randomNormal(shape, standardDeviation: (2 / Float(fanIn)).squareRoot(), using: &generator)
  }

  /// He (Kaiming) uniform: U(-l, l) with l = √(6 / fanIn).
  public static func heUniform(_ shape: [Int], fanIn: Int, using generator: inout SeededGenerator)
    -> Tensor
  {
    let limit = (6 / Float(fanIn)).squareRoot()
    return randomUniform(shape, lower: -limit, upper: limit, using: &generator)
  }
}
