// Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray 2016, "Fast Algorithms for Convolutional
// Neural Networks"): a 2×2 block of outputs of a 3×3 correlation is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for
// the 4×4 input tile d, with 16 multiplications instead of 36. Summed over input channels, the
// elementwise products become 16 independent matrix products, one per tile position ξ, which is
// where the time goes (BLAS.sgemm); the transforms here only add and subtract.
//
//        ⎡1  0 -1  0⎤        ⎡ 1    0    0 ⎤        ⎡1  1  1  0⎤
//   Bᵀ = ⎢0  1  1  0⎥    G = ⎢1/2  1/2  1/2⎥   Aᵀ = ⎣0  1 -1 -1⎦
//        ⎢0 -1  1  0⎥        ⎢1/2 -1/2  1/2⎥
//        ⎣0  1  0 -1⎦        ⎣ 0    0    1 ⎦

/// The three transform matrices, row-major, for the references and tests.
public enum WinogradMatrices {
  public static let inputTransposed: [[Float]] = [
    [1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1],
  ]
  public static let filter: [[Float]] = [
    [1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1],
  ]
  public static let outputTransposed: [[Float]] = [[1, 1, 1, 0], [0, 1, -1, -1]]
}

/// L·X·Rᵀ for small dense matrices: the transforms written as the paper writes them.
func sandwich(_ left: [[Float]], _ x: [[Float]], _ right: [[Float]]) -> [[Float]] {
  let rows = left.count
  let columns = right.count
  let inner = x.count
  let innerColumns = x[0].count
  var result = [[Float]](repeating: [Float](repeating: 0, count: columns), count: rows)
  for i in 0..<rows {
    for j in 0..<columns {
      var sum: Float = 0
      for p in 0..<inner {
        for q in 0..<innerColumns { sum += left[i][p] * x[p][q] * right[j][q] }
      }
      result[i][j] = sum
    }
  }
  return result
}

/// Reference input transform of one 4×4 tile: Bᵀ d B.
public func winogradInputTileNaive(_ d: [[Float]]) -> [[Float]] {
  sandwich(WinogradMatrices.inputTransposed, d, WinogradMatrices.inputTransposed)
}

/// Reference filter transform of one 3×3 kernel: G g Gᵀ.
public func winogradFilterTileNaive(_ g: [[Float]]) -> [[Float]] {
  sandwich(WinogradMatrices.filter, g, WinogradMatrices.filter)
}

/// Reference output transform of one 4×4 product tile: Aᵀ m A.
public func winogradOutputTileNaive(_ m: [[Float]]) -> [[Float]] {
  sandwich(WinogradMatrices.outputTransposed, m, WinogradMatrices.outputTransposed)
}

// MARK: - Fast transforms, eight tiles at a time

/// Bᵀ d B for eight horizontally adjacent tiles whose rows start at `rows[r]` (four rows of the
/// zero-padded input, each at least 18 floats from the first tile's left edge): lane l is the
/// tile whose left column is 2l. Tiles overlap by two columns, so a row's 18 floats hold all eight,
/// and even/odd lanes of two 16-float loads give columns 0, 1 (from 0) and 2, 3 (from 2).
/// Writes the 16 transformed values to `output + ξ·stride` (eight lanes each).
@inlinable @inline(__always)
func winogradInputTransform8(
  rows: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
  output: UnsafeMutablePointer<Float>, stride: Int
) {
  func columns(_ row: UnsafePointer<Float>) -> (Float8, Float8, Float8, Float8) {
    let first = UnsafeRawPointer(row).loadUnaligned(as: SIMD16<Float>.self)
    let second = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD16<Float>.self)
    return (first.evenHalf, first.oddHalf, second.evenHalf, second.oddHalf)
  }
  let d0 = columns(rows.0)
  let d1 = columns(rows.1)
  let d2 = columns(rows.2)
  let d3 = columns(rows.3)
  // Rows first (Bᵀ d), then columns (· B), one column of the result at a time.
  let t0 = (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
  let t1 = (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
  let t2 = (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
  let t3 = (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
  @inline(__always) func store(_ t: (Float8, Float8, Float8, Float8), row i: Int) {
    let base = output + 4 * i * stride
    base.store8(t.0 - t.2, 0)
    (base + stride).store8(t.1 + t.2, 0)
    (base + 2 * stride).store8(t.2 - t.1, 0)
    (base + 3 * stride).store8(t.1 - t.3, 0)
  }
  store(t0, row: 0)
  store(t1, row: 1)
  store(t2, row: 2)
  store(t3, row: 3)
}

/// Aᵀ m A for eight tiles whose 16 values sit at `input + ξ·stride` (eight lanes each): the 2×2
/// outputs as (row 0 column 0, row 0 column 1, row 1 column 0, row 1 column 1), lane l for tile l.
@inlinable @inline(__always)
func winogradOutputTransform8(input: UnsafePointer<Float>, stride: Int) -> (
  Float8, Float8, Float8, Float8
) {
  @inline(__always) func m(_ xi: Int) -> Float8 { input.load8(xi * stride) }
  // Aᵀ m: two rows, each over the four columns of m.
  var s0 = (Float8(), Float8(), Float8(), Float8())
  var s1 = s0
  s0.0 = m(0) + m(4) + m(8)
  s1.0 = m(4) - m(8) - m(12)
  s0.1 = m(1) + m(5) + m(9)
  s1.1 = m(5) - m(9) - m(13)
  s0.2 = m(2) + m(6) + m(10)
  s1.2 = m(6) - m(10) - m(14)
  s0.3 = m(3) + m(7) + m(11)
  s1.3 = m(7) - m(11) - m(15)
  return (s0.0 + s0.1 + s0.2, s0.1 - s0.2 - s0.3, s1.0 + s1.1 + s1.2, s1.1 - s1.2 - s1.3)
}

/// G g Gᵀ of one 3×3 kernel `g` (row-major, nine floats, or read flipped when `flipped`: the
/// 180° rotation an input gradient convolves with), written to `output + ξ·stride`.
@inlinable @inline(__always)
func winogradFilterTransform(
  _ g: UnsafePointer<Float>, flipped: Bool, output: UnsafeMutablePointer<Float>,
  stride: Int
) {
  @inline(__always) func w(_ r: Int, _ c: Int) -> Float {
    flipped ? g[(2 - r) * 3 + 2 - c] : g[r * 3 + c]
  }
  // G g: four rows of three, one column at a time; then each row times Gᵀ.
  @inline(__always) func column(_ c: Int) -> (Float, Float, Float, Float) {
    let a = w(0, c)
    let b = w(1, c)
    let d = w(2, c)
    return (a, 0.5 * (a + b + d), 0.5 * (a - b + d), d)
  }
  let c0 = column(0)
  let c1 = column(1)
  let c2 = column(2)
  @inline(__always) func row(_ r: Int, _ a: Float, _ b: Float, _ d: Float) {
    output[(4 * r) * stride] = a
    output[(4 * r + 1) * stride] = 0.5 * (a + b + d)
    output[(4 * r + 2) * stride] = 0.5 * (a - b + d)
    output[(4 * r + 3) * stride] = d
  }
  row(0, c0.0, c1.0, c2.0)
  row(1, c0.1, c1.1, c2.1)
  row(2, c0.2, c1.2, c2.2)
  row(3, c0.3, c1.3, c2.3)
}
