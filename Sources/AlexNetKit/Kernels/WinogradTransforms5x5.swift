// Winograd's F(2×2, 5×5) (Lavin and Gray 2016's construction, interpolation points 0, ±1, ±2, ∞
// as F(4×4, 3×3)): a 2×2 block of outputs of a 5×5 correlation is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the
// 6×6 input tile d, 36 multiplications instead of 100. Bᵀ depends only on the points, so it is
// F(4×4, 3×3)'s; G evaluates the kernel polynomial at the points (scaled as F(4×4)'s G) and Aᵀ the
// two outputs'. AlexNet's conv2 (5×5, stride 1, 27×27 planes) is a third of a training step.
//
//                                                       ⎡ 1/4    0     0     0     0  ⎤
//                                                       ⎢-1/6  -1/6  -1/6  -1/6  -1/6 ⎥
//   Bᵀ: as F(4×4, 3×3)      Aᵀ = ⎡1  1  1  1  1  0⎤  G = ⎢-1/6   1/6  -1/6   1/6  -1/6 ⎥
//                               ⎣0  1 -1  2 -2  1⎦      ⎢1/24  1/12   1/6   1/3   2/3 ⎥
//                                                       ⎢1/24 -1/12   1/6  -1/3   2/3 ⎥
//                                                       ⎣  0     0     0     0     1  ⎦

/// F(2×2, 5×5)'s matrices, row-major, for the references and tests.
public enum Winograd5x5Matrices {
  public static let filter: [[Float]] = [
    [1 / 4, 0, 0, 0, 0], [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3],
    [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3], [0, 0, 0, 0, 1],
  ]
  public static let outputTransposed: [[Float]] = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]]
}

/// Reference F(2×2, 5×5) filter transform of one 5×5 kernel: G g Gᵀ.
public func winograd5x5FilterTileNaive(_ g: [[Float]]) -> [[Float]] {
  sandwich(Winograd5x5Matrices.filter, g, Winograd5x5Matrices.filter)
}

/// Reference F(2×2, 5×5) output transform of one 6×6 product tile: Aᵀ m A.
public func winograd5x5OutputTileNaive(_ m: [[Float]]) -> [[Float]] {
  sandwich(Winograd5x5Matrices.outputTransposed, m, Winograd5x5Matrices.outputTransposed)
}

// MARK: - Fast transforms, eight tiles at a time

/// Bᵀ d B for eight 6×6 tiles two columns apart (lane l is the tile whose left column is 2l; row r
/// of the tiles starts at `rows + r·rowLength`, each at least 20 floats from the first tile's
/// left edge): the even and odd lanes of 16-float loads at 0, 2 and 4 are the tiles' columns 0-5.
@inlinable @inline(__always)
func winograd5x5InputTransform8(
  rows: UnsafePointer<Float>, rowLength: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, stride: Int
) {
  winograd6x6InputTransform8(
    rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: stride
  ) { row in
    let first = UnsafeRawPointer(row).loadUnaligned(as: SIMD16<Float>.self)
    let second = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD16<Float>.self)
    let third = UnsafeRawPointer(row + 4).loadUnaligned(as: SIMD16<Float>.self)
    return (
      first.evenHalf, first.oddHalf, second.evenHalf, second.oddHalf, third.evenHalf,
      third.oddHalf
    )
  }
}

/// Aᵀ x for one column x of six (eight lanes).
@inlinable @inline(__always)
func winograd5x5OutputRows(_ x: Float8x6) -> (Float8, Float8) {
  let sum = x.1 + x.2
  return (x.0 + sum + x.3 + x.4, x.1 - x.2 + 2 * (x.3 - x.4) + x.5)
}

/// Aᵀ m A for eight tiles whose 36 values sit at `input + ξ·stride` (eight lanes each), through
/// `scratch` (12 × 8 floats): writes output (i, k) of lane l to `output[8·(2i + k) + l]`.
@inlinable @inline(__always)
func winograd5x5OutputTransform8(
  input: UnsafePointer<Float>, stride: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>
) {
  winograd6x6OutputTransform8(
    input: input, stride: stride, scratch: scratch, output: output, side: 2
  ) { x, store in
    let y = winograd5x5OutputRows(x)
    store(0, y.0)
    store(1, y.1)
  }
}

/// G g Gᵀ of one 5×5 kernel `g` (row-major, or read flipped when `flipped`), written to
/// `output + ξ·stride` for the 36 positions.
@inlinable @inline(__always)
func winograd5x5FilterTransform(
  _ g: UnsafePointer<Float>, flipped: Bool, output: UnsafeMutablePointer<Float>, stride: Int
) {
  // G x for one column (or row) x of five: the kernel polynomial at 0, 1, −1, 2, −2 and its
  // leading coefficient, scaled as G's rows.
  @inline(__always) func gx(_ a: Float, _ b: Float, _ c: Float, _ d: Float, _ e: Float)
    -> (Float, Float, Float, Float, Float, Float)
  {
    let (even, odd) = (a + c + e, b + d)
    let (evenTwo, oddTwo) = (a + 4 * c + 16 * e, 2 * b + 8 * d)
    return (
      a / 4, -(even + odd) / 6, -(even - odd) / 6, (evenTwo + oddTwo) / 24,
      (evenTwo - oddTwo) / 24, e
    )
  }
  @inline(__always) func w(_ r: Int, _ c: Int) -> Float {
    flipped ? g[(4 - r) * 5 + 4 - c] : g[r * 5 + c]
  }
  @inline(__always) func column(_ c: Int) -> (Float, Float, Float, Float, Float, Float) {
    gx(w(0, c), w(1, c), w(2, c), w(3, c), w(4, c))
  }
  // G g a column at a time, then each of its six rows times Gᵀ.
  let (c0, c1, c2, c3, c4) = (column(0), column(1), column(2), column(3), column(4))
  @inline(__always) func row(_ r: Int, _ a: Float, _ b: Float, _ c: Float, _ d: Float, _ e: Float) {
    let t = gx(a, b, c, d, e)
    let base = output + 6 * r * stride
    base[0] = t.0
    base[stride] = t.1
    base[2 * stride] = t.2
    base[3 * stride] = t.3
    base[4 * stride] = t.4
    base[5 * stride] = t.5
  }
  row(0, c0.0, c1.0, c2.0, c3.0, c4.0)
  row(1, c0.1, c1.1, c2.1, c3.1, c4.1)
  row(2, c0.2, c1.2, c2.2, c3.2, c4.2)
  row(3, c0.3, c1.3, c2.3, c3.3, c4.3)
  row(4, c0.4, c1.4, c2.4, c3.4, c4.4)
  row(5, c0.5, c1.5, c2.5, c3.5, c4.5)
}
