// Winograd's F(3×3, 5×5) (Lavin and Gray 2016's construction with interpolation points 0, ±1, ±2,
// 1/2, ∞): a 3×3 block of outputs of a 5×5 correlation is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 7×7
// input tile d, 49 multiplications for 9 outputs where F(2×2, 5×5) takes 36 for 4: 1.8 times fewer
// products, and as much less transformed data. AlexNet's conv2 planes (27x27) are nine blocks
// across, none sticking out (F(2×2)'s fourteen compute 28x28). Bᵀ is Vᵀ⁻¹ for V the points'
// Vandermonde matrix (with ∞'s row), each row scaled to small integers and G's row by the inverse;
// the point 1/2 keeps the rounding at F(2×2, 5×5)'s (`Winograd6x6Tests`, the kernels benchmark).
//
//        ⎡4 -8  -5  10   1  -2   0⎤        ⎡ 1/4     0      0      0      0  ⎤
//        ⎢0  4  -4  -9   1   2   0⎥        ⎢-1/6   -1/6   -1/6   -1/6   -1/6 ⎥
//        ⎢0  4 -12   7   3  -2   0⎥        ⎢-1/18   1/18  -1/18   1/18  -1/18⎥
//   Bᵀ = ⎢0  2  -3  -4   3   2   0⎥    G = ⎢ 1/72   1/36   1/18   1/9    2/9 ⎥
//        ⎢0  2  -5   0   5  -2   0⎥        ⎢1/120  -1/60   1/30  -1/15   2/15⎥
//        ⎢0  4   0  -5   0   1   0⎥        ⎢32/45  16/45   8/45   4/45   2/45⎥
//        ⎣0 -4   8   5 -10  -1   2⎦        ⎣  0      0      0      0     1/2 ⎦
//
//        ⎡1  1  1  1  1   1   0⎤
//   Aᵀ = ⎢0  1 -1  2 -2  1/2  0⎥
//        ⎣0  1  1  4  4  1/4  1⎦

/// F(3×3, 5×5)'s matrices, row-major, for the references and tests.
public enum Winograd3x3Kernel5Matrices {
  public static let inputTransposed: [[Float]] = [
    [4, -8, -5, 10, 1, -2, 0], [0, 4, -4, -9, 1, 2, 0], [0, 4, -12, 7, 3, -2, 0],
    [0, 2, -3, -4, 3, 2, 0], [0, 2, -5, 0, 5, -2, 0], [0, 4, 0, -5, 0, 1, 0],
    [0, -4, 8, 5, -10, -1, 2],
  ]
  public static let filter: [[Float]] = [
    [1 / 4, 0, 0, 0, 0], [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
    [-1 / 18, 1 / 18, -1 / 18, 1 / 18, -1 / 18], [1 / 72, 1 / 36, 1 / 18, 1 / 9, 2 / 9],
    [1 / 120, -1 / 60, 1 / 30, -1 / 15, 2 / 15], [32 / 45, 16 / 45, 8 / 45, 4 / 45, 2 / 45],
    [0, 0, 0, 0, 1 / 2],
  ]
  public static let outputTransposed: [[Float]] = [
    [1, 1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1 / 2, 0], [0, 1, 1, 4, 4, 1 / 4, 1],
  ]
}

/// Reference F(3×3, 5×5) input transform of one 7×7 tile: Bᵀ d B.
public func winograd3x3Kernel5InputTileNaive(_ d: [[Float]]) -> [[Float]] {
  sandwich(
    Winograd3x3Kernel5Matrices.inputTransposed, d, Winograd3x3Kernel5Matrices.inputTransposed)
}

/// Reference F(3×3, 5×5) filter transform of one 5×5 kernel: G g Gᵀ.
public func winograd3x3Kernel5FilterTileNaive(_ g: [[Float]]) -> [[Float]] {
  sandwich(Winograd3x3Kernel5Matrices.filter, g, Winograd3x3Kernel5Matrices.filter)
}

/// Reference F(3×3, 5×5) output transform of one 7×7 product tile: Aᵀ m A.
public func winograd3x3Kernel5OutputTileNaive(_ m: [[Float]]) -> [[Float]] {
  sandwich(
    Winograd3x3Kernel5Matrices.outputTransposed, m, Winograd3x3Kernel5Matrices.outputTransposed)
}

// MARK: - Fast transforms, eight tiles at a time

@usableFromInline typealias Float8x7 = (Float8, Float8, Float8, Float8, Float8, Float8, Float8)

/// Bᵀ x for one column x of seven (eight lanes).
@inlinable @inline(__always)
func winograd3x3Kernel5InputRows(_ x: Float8x7) -> Float8x7 {
  @inline(__always) func c(_ value: Float) -> Float8 { Float8(repeating: value) }
  // Rows 0 and 6 are the same combination one column apart, negated.
  @inline(__always) func outer(
    _ a: Float8, _ b: Float8, _ d: Float8, _ e: Float8, _ f: Float8,
    _ g: Float8
  ) -> Float8 {
    c(4) * a - c(8) * b - c(5) * d + c(10) * e + f - 2 * g
  }
  return (
    outer(x.0, x.1, x.2, x.3, x.4, x.5),
    c(4) * (x.1 - x.2) - c(9) * x.3 + x.4 + 2 * x.5,
    c(4) * x.1 - c(12) * x.2 + c(7) * x.3 + c(3) * x.4 - 2 * x.5,
    2 * (x.1 + x.5) - c(3) * (x.2 - x.4) - c(4) * x.3,
    2 * (x.1 - x.5) + c(5) * (x.4 - x.2),
    c(4) * x.1 - c(5) * x.3 + x.5,
    -outer(x.1, x.2, x.3, x.4, x.5, x.6)
  )
}

/// Aᵀ x for one column x of seven (eight lanes): three values.
@inlinable @inline(__always)
func winograd3x3Kernel5OutputRows(_ x: Float8x7) -> (Float8, Float8, Float8) {
  let (sum, difference) = (x.1 + x.2, x.1 - x.2)
  let (outerSum, outerDifference) = (x.3 + x.4, x.3 - x.4)
  return (
    x.0 + sum + outerSum + x.5, difference + 2 * outerDifference + 0.5 * x.5,
    sum + 4 * outerSum + 0.25 * x.5 + x.6
  )
}

/// Bᵀ d B for eight horizontally adjacent 7×7 tiles of the zero-padded input: row r of the tiles
/// starts at `rows + r·rowLength` (each at least 32 floats from the first tile's left edge); lane
/// l is the tile whose left column is 3l, so every third lane of one 32-float load from column k
/// (`everyThirdLane`) is the tiles' column k. Writes the 49 values to `output + ξ·stride` (eight
/// lanes each) through `scratch` (49 × 8 floats): d B a row at a time, then Bᵀ a column at a time.
@inlinable @inline(__always)
func winograd3x3Kernel5InputTransform8(
  rows: UnsafePointer<Float>, rowLength: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, stride: Int
) {
  for r in 0..<7 {
    let row = UnsafeRawPointer(rows + r * rowLength).loadUnaligned(as: SIMD32<Float>.self)
    let t = winograd3x3Kernel5InputRows(everyThirdLane(row))
    let base = scratch + 56 * r
    base.store8(t.0, 0)
    base.store8(t.1, 8)
    base.store8(t.2, 16)
    base.store8(t.3, 24)
    base.store8(t.4, 32)
    base.store8(t.5, 40)
    base.store8(t.6, 48)
  }
  for k in 0..<7 {
    let column = scratch + 8 * k
    let v = winograd3x3Kernel5InputRows(
      (
        column.load8(0), column.load8(56), column.load8(112), column.load8(168),
        column.load8(224), column.load8(280), column.load8(336)
      ))
    let base = output + k * stride
    base.store8(v.0, 0)
    (base + 7 * stride).store8(v.1, 0)
    (base + 14 * stride).store8(v.2, 0)
    (base + 21 * stride).store8(v.3, 0)
    (base + 28 * stride).store8(v.4, 0)
    (base + 35 * stride).store8(v.5, 0)
    (base + 42 * stride).store8(v.6, 0)
  }
}

/// Aᵀ m A for eight tiles whose 49 values sit at `input + ξ·stride` (eight lanes each), through
/// `scratch` (21 × 8 floats): writes output (i, k) of lane l to `output[8·(3i + k) + l]`.
@inlinable @inline(__always)
func winograd3x3Kernel5OutputTransform8(
  input: UnsafePointer<Float>, stride: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>
) {
  for r in 0..<7 {
    let row = input + 7 * r * stride
    // (m A)[r][k] = Σⱼ Aᵀ[k][j] m[r][j].
    let y = winograd3x3Kernel5OutputRows(
      (
        row.load8(0), row.load8(stride), row.load8(2 * stride), row.load8(3 * stride),
        row.load8(4 * stride), row.load8(5 * stride), row.load8(6 * stride)
      ))
    scratch.store8(y.0, 24 * r)
    scratch.store8(y.1, 24 * r + 8)
    scratch.store8(y.2, 24 * r + 16)
  }
  for k in 0..<3 {
    let column = scratch + 8 * k
    let y = winograd3x3Kernel5OutputRows(
      (
        column.load8(0), column.load8(24), column.load8(48), column.load8(72), column.load8(96),
        column.load8(120), column.load8(144)
      ))
    output.store8(y.0, 8 * k)
    output.store8(y.1, 8 * (3 + k))
    output.store8(y.2, 8 * (6 + k))
  }
}

/// G g Gᵀ of one 5×5 kernel `g` (row-major, or read flipped when `flipped`), written to
/// `output + ξ·stride` for the 49 positions.
@inlinable @inline(__always)
func winograd3x3Kernel5FilterTransform(
  _ g: UnsafePointer<Float>, flipped: Bool, output: UnsafeMutablePointer<Float>, stride: Int
) {
  typealias Seven = (Float, Float, Float, Float, Float, Float, Float)
  // G x for one column (or row) x of five: the kernel polynomial at 0, 1, −1, 2, −2, 1/2 and its
  // leading coefficient, scaled as G's rows.
  @inline(__always) func gx(_ a: Float, _ b: Float, _ c: Float, _ d: Float, _ e: Float) -> Seven {
    let (even, odd) = (a + c + e, b + d)
    let (evenTwo, oddTwo) = (a + 4 * c + 16 * e, 2 * b + 8 * d)
    return (
      a / 4, -(even + odd) / 6, -(even - odd) / 18, (evenTwo + oddTwo) / 72,
      (evenTwo - oddTwo) / 120, (32 * a + 16 * b + 8 * c + 4 * d + 2 * e) / 45, e / 2
    )
  }
  @inline(__always) func w(_ r: Int, _ c: Int) -> Float {
    flipped ? g[(4 - r) * 5 + 4 - c] : g[r * 5 + c]
  }
  @inline(__always) func column(_ c: Int) -> Seven {
    gx(w(0, c), w(1, c), w(2, c), w(3, c), w(4, c))
  }
  // G g a column at a time, then each of its seven rows times Gᵀ.
  let columns = (column(0), column(1), column(2), column(3), column(4))
  withUnsafeBytes(of: columns) { raw in
    // columns.c.r is float 7c + r.
    let t = raw.bindMemory(to: Float.self).baseAddress!
    for r in 0..<7 {
      let row = gx(t[r], t[7 + r], t[14 + r], t[21 + r], t[28 + r])
      let base = output + 7 * r * stride
      base[0] = row.0
      base[stride] = row.1
      base[2 * stride] = row.2
      base[3 * stride] = row.3
      base[4 * stride] = row.4
      base[5 * stride] = row.5
      base[6 * stride] = row.6
    }
  }
}
