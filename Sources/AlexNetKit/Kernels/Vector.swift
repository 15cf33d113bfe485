import CVectorMath

/// Eight floats at a time through unaligned loads and stores. The compiler's auto-vectoriser gives
/// up on loops that read one pointer and write another it cannot prove distinct, or that mix
/// square roots and divisions with stores; these helpers make such loops vector code regardless
/// (two SSE registers on the baseline x86-64 target the package builds for without unsafe flags).
@usableFromInline typealias Float8 = SIMD8<Float>

extension UnsafePointer where Pointee == Float {
  @inlinable @inline(__always)
  func load8(_ offset: Int) -> SIMD8<Float> {
    UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
  }
}

extension UnsafeMutablePointer where Pointee == Float {
  @inlinable @inline(__always)
  func load8(_ offset: Int) -> SIMD8<Float> {
    UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
  }

  @inlinable @inline(__always)
  func store8(_ value: SIMD8<Float>, _ offset: Int) {
    UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: SIMD8<Float>.self)
  }
}

/// √x in eight lanes as packed square roots (`x.squareRoot()` is eight scalar libm calls on Linux).
@inlinable @inline(__always)
func squareRoot8(_ x: Float8) -> Float8 { cvm_sqrt8(x) }

/// Lane masks (all bits set or clear) from packed compares; Swift's `.>` and
/// `replacing(with:where:)` are a branch per lane.
@usableFromInline typealias Mask8 = SIMD8<Int32>

/// Lanes where x > y.
@inlinable @inline(__always)
func greater8(_ x: Float8, _ y: Float8) -> Mask8 { cvm_greater8(x, y) }

/// Lanes where (value, row) precedes (best, bestRow) in a first-maximum search in row-major order.
@inlinable @inline(__always)
func firstMaximum8(_ value: Float8, _ best: Float8, row: Float8, bestRow: Float8) -> Mask8 {
  cvm_first_maximum8(value, best, row, bestRow)
}

/// Lane by lane, mask ? a : b.
@inlinable @inline(__always)
func select8(_ mask: Mask8, _ a: Float8, _ b: Float8) -> Float8 { cvm_select8(mask, a, b) }

/// Calls `vector` for each block of eight covering 0..<count, the last one overlapping the one
/// before it when count is not a multiple of eight, so there is no scalar remainder; for bodies
/// that may run twice on the same index (they write what they read from elsewhere). Needs count ≥ 8.
@inlinable @inline(__always)
func forEightOverlapping(_ count: Int, _ vector: (Int) -> Void) {
  var i = 0
  while i + 8 <= count {
    vector(i)
    i += 8
  }
  if i < count { vector(count - 8) }
}

/// Calls `vector` for each whole block of eight from 0 and `scalar` for each index after them.
@inlinable @inline(__always)
func forEightAndRest(_ count: Int, vector: (Int) -> Void, scalar: (Int) -> Void) {
  var i = 0
  while i + 8 <= count {
    vector(i)
    i += 8
  }
  while i < count {
    scalar(i)
    i += 1
  }
}

/// Σ x[i], with eight running sums (a float sum loop is otherwise one dependent add after
/// another: the compiler may not reorder float additions to vectorise it).
@inlinable
func vectorSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
  var lanes = Float8()
  var i = 0
  while i + 8 <= count {
    lanes += x.load8(i)
    i += 8
  }
  var sum = lanes.sum()
  while i < count {
    sum += x[i]
    i += 1
  }
  return sum
}

/// Σ (x[i] − mean)², eight lanes at a time.
@inlinable
func vectorSumOfSquaredDeviations(_ x: UnsafePointer<Float>, count: Int, mean: Float) -> Float {
  var lanes = Float8()
  var i = 0
  let mean8 = Float8(repeating: mean)
  while i + 8 <= count {
    let d = x.load8(i) - mean8
    lanes += d * d
    i += 8
  }
  var sum = lanes.sum()
  while i < count {
    sum += (x[i] - mean) * (x[i] - mean)
    i += 1
  }
  return sum
}

/// (Σ g[i], Σ g[i]·(x[i] − mean)), eight lanes at a time: the two sums of a batch-norm backward.
@inlinable
func vectorGradientSums(
  _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float
)
  -> (sum: Float, weighted: Float)
{
  var sums = Float8()
  var weighted = Float8()
  var i = 0
  let mean8 = Float8(repeating: mean)
  while i + 8 <= count {
    let gi = g.load8(i)
    sums += gi
    weighted += gi * (x.load8(i) - mean8)
    i += 8
  }
  var (a, b) = (sums.sum(), weighted.sum())
  while i < count {
    a += g[i]
    b += g[i] * (x[i] - mean)
    i += 1
  }
  return (a, b)
}

/// The lanes of a and b alternating: a₀ b₀ a₁ b₁ … a₇ b₇.
@inlinable @inline(__always)
func interleave8(_ a: Float8, _ b: Float8) -> SIMD16<Float> { cvm_interleave8(a, b) }

/// The four vectors' lanes in turn: a₀ b₀ c₀ d₀ a₁ b₁ c₁ d₁ … (cell k of lane l at 4l + k).
@inlinable @inline(__always)
func interleave8(_ a: Float8, _ b: Float8, _ c: Float8, _ d: Float8) -> SIMD32<Float> {
  cvm_interleave16(cvm_interleave8(a, c), cvm_interleave8(b, d))
}

/// The three vectors' lanes in turn in the first 24 lanes (cell k of lane l at 3l + k), zero after.
@inlinable @inline(__always)
func interleave8(_ a: Float8, _ b: Float8, _ c: Float8) -> SIMD32<Float> {
  cvm_interleave3(a, b, c)
}

/// Every third lane of x from lanes 0 to 6: vector k is x[k], x[k + 3], … x[k + 21] (the inverse of
/// the three-way `interleave8` in its first three).
@inlinable @inline(__always)
func everyThirdLane(_ x: SIMD32<Float>) -> Float8x7 {
  (
    cvm_every_third_from0(x), cvm_every_third_from1(x), cvm_every_third_from2(x),
    cvm_every_third_from3(x), cvm_every_third_from4(x), cvm_every_third_from5(x),
    cvm_every_third_from6(x)
  )
}
