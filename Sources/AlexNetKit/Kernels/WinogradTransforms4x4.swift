// Winograd's F(4×4, 3×3) (Lavin and Gray 2016, §4.2, interpolation points 0, ±1, ±2, ∞): a 4×4
// block of outputs of a 3×3 correlation is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 6×6 input tile d,
// 36 multiplications instead of 144 (F(2×2)'s 16 for 36 outputs: 2.25 times fewer, here 4).
// The larger constants (up to 8 in Aᵀ, 1/24 in G) cost accuracy: see the error rows of the
// kernels benchmark.
//
//        ⎡4  0 -5  0  1  0⎤        ⎡ 1/4    0     0 ⎤
//        ⎢0 -4 -4  1  1  0⎥        ⎢-1/6  -1/6  -1/6⎥        ⎡1  1  1  1  1  0⎤
//   Bᵀ = ⎢0  4 -4 -1  1  0⎥    G = ⎢-1/6   1/6  -1/6⎥   Aᵀ = ⎢0  1 -1  2 -2  0⎥
//        ⎢0 -2 -1  2  1  0⎥        ⎢1/24  1/12  1/6 ⎥        ⎢0  1  1  4  4  0⎥
//        ⎢0  2 -1 -2  1  0⎥        ⎢1/24 -1/12  1/6 ⎥        ⎣0  1 -1  8 -8  1⎦
//        ⎣0  4  0 -5  0  1⎦        ⎣  0     0     1 ⎦

/// Which of Lavin and Gray's minimal filtering algorithms a Winograd convolution uses: F(m×m, r×r)
/// computes an m×m block of outputs of an r×r kernel from an (m+r−1)×(m+r−1) input tile with
/// (m+r−1)² multiplications, i.e. (m+r−1)² matrix products per group.
public enum WinogradVariant: Sendable, CaseIterable {
  /// F(2×2, 3×3): 4×4 tiles, 16 products, 2.25 times fewer multiplications than direct.
  case f2x2
  /// F(4×4, 3×3): 6×6 tiles, 36 products, 4 times fewer (planes cut into 4×4 blocks).
  case f4x4
  /// F(2×2, 5×5) (WinogradTransforms5x5.swift): 6×6 tiles, 36 products, 100/36 = 2.8 times fewer.
  case f2x2Kernel5
  /// F(3×3, 5×5) (WinogradTransforms3x3Kernel5.swift): 7×7 tiles, 49 products, 225/49 = 4.6
  /// times fewer.
  case f3x3Kernel5

  /// m: the side of an output block.
  public var outputTile: Int {
    switch self {
    case .f2x2, .f2x2Kernel5: 2
    case .f3x3Kernel5: 3
    case .f4x4: 4
    }
  }
  /// r: the side of the kernels it computes.
  public var kernel: Int { self == .f2x2Kernel5 || self == .f3x3Kernel5 ? 5 : 3 }
  /// m + r − 1: the side of an input tile.
  public var inputTile: Int { outputTile + kernel - 1 }
  /// (m + r − 1)²: the tile positions ξ, one matrix product each.
  public var positions: Int { inputTile * inputTile }

  /// Whether this variant computes `g`: stride 1 and its kernel size (any padding and groups).
  public func supports(_ g: ConvGeometry) -> Bool { g.stride == 1 && g.kernel == kernel }
}

/// F(4×4, 3×3)'s matrices, row-major, for the references and tests.
public enum Winograd4x4Matrices {
  public static let inputTransposed: [[Float]] = [
    [4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1],
  ]
  public static let filter: [[Float]] = [
    [1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1],
  ]
  public static let outputTransposed: [[Float]] = [
    [1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1],
  ]
}

/// Reference F(4×4) input transform of one 6×6 tile: Bᵀ d B.
public func winograd4x4InputTileNaive(_ d: [[Float]]) -> [[Float]] {
  sandwich(Winograd4x4Matrices.inputTransposed, d, Winograd4x4Matrices.inputTransposed)
}

/// Reference F(4×4) filter transform of one 3×3 kernel: G g Gᵀ.
public func winograd4x4FilterTileNaive(_ g: [[Float]]) -> [[Float]] {
  sandwich(Winograd4x4Matrices.filter, g, Winograd4x4Matrices.filter)
}

/// Reference F(4×4) output transform of one 6×6 product tile: Aᵀ m A.
public func winograd4x4OutputTileNaive(_ m: [[Float]]) -> [[Float]] {
  sandwich(Winograd4x4Matrices.outputTransposed, m, Winograd4x4Matrices.outputTransposed)
}

// MARK: - Fast transforms, eight tiles at a time

@usableFromInline typealias Float8x6 = (Float8, Float8, Float8, Float8, Float8, Float8)

/// Bᵀ x for one column x of six (eight lanes), sharing the sums the rows have in common.
@inlinable @inline(__always)
func winograd4x4InputRows(_ x: Float8x6) -> Float8x6 {
  let four: Float8 = .init(repeating: 4)
  let five: Float8 = .init(repeating: 5)
  let twice = 2 * (x.3 - x.1)
  let middle = x.4 - x.2
  return (
    four * x.0 - five * x.2 + x.4,
    x.3 + x.4 - four * (x.1 + x.2),
    x.4 - x.3 + four * (x.1 - x.2),
    middle + twice,
    middle - twice,
    four * x.1 - five * x.3 + x.5
  )
}

/// Aᵀ x for one column x of six (eight lanes).
@inlinable @inline(__always)
func winograd4x4OutputRows(_ x: Float8x6) -> (Float8, Float8, Float8, Float8) {
  let sum = x.1 + x.2
  let difference = x.1 - x.2
  let outerSum = x.3 + x.4
  let outerDifference = x.3 - x.4
  return (
    x.0 + sum + outerSum, difference + 2 * outerDifference, sum + 4 * outerSum,
    difference + 8 * outerDifference + x.5
  )
}

/// Bᵀ d B for eight horizontally adjacent 6×6 tiles of the zero-padded input: row r of the tiles
/// starts at `rows + r·rowLength` (each at least 34 floats from the first tile's left edge); lane
/// l is the tile whose left column is 4l. Tiles overlap by two columns, and the lanes of two
/// 32-float loads, every fourth from 0, 1, 2, 3 of the first and 2, 3 of the one two floats on,
/// are the tiles' columns 0-5.
@inlinable @inline(__always)
func winograd4x4InputTransform8(
  rows: UnsafePointer<Float>, rowLength: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, stride: Int
) {
  winograd6x6InputTransform8(
    rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: stride
  ) { row in
    let first = UnsafeRawPointer(row).loadUnaligned(as: SIMD32<Float>.self)
    let second = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD32<Float>.self)
    return (
      first.evenHalf.evenHalf, first.oddHalf.evenHalf, first.evenHalf.oddHalf,
      first.oddHalf.oddHalf, second.evenHalf.oddHalf, second.oddHalf.oddHalf
    )
  }
}

/// Bᵀ d B for eight 6×6 tiles whose rows `columns` gathers (row r of the tiles starts at
/// `rows + r·rowLength`; `columns` returns the six tile columns of a row, one tile per lane):
/// writes the 36 values to `output + ξ·stride` (eight lanes each), passing through `scratch`
/// (36 × 8 floats): d B a row at a time, then Bᵀ a column at a time. F(4×4, 3×3) and
/// F(2×2, 5×5) share Bᵀ (the same interpolation points); only the tiles' spacing differs.
@inlinable @inline(__always)
func winograd6x6InputTransform8(
  rows: UnsafePointer<Float>, rowLength: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, stride: Int, columns: (UnsafePointer<Float>) -> Float8x6
) {
  for r in 0..<6 {
    // (d B)[r][k] = Σⱼ Bᵀ[k][j] d[r][j]: the row transformed as a column.
    let t = winograd4x4InputRows(columns(rows + r * rowLength))
    let base = scratch + 48 * r
    base.store8(t.0, 0)
    base.store8(t.1, 8)
    base.store8(t.2, 16)
    base.store8(t.3, 24)
    base.store8(t.4, 32)
    base.store8(t.5, 40)
  }
  for k in 0..<6 {
    let column = scratch + 8 * k
    let v = winograd4x4InputRows(
      (
        column.load8(0), column.load8(48), column.load8(96), column.load8(144),
        column.load8(192), column.load8(240)
      ))
    let base = output + k * stride
    base.store8(v.0, 0)
    (base + 6 * stride).store8(v.1, 0)
    (base + 12 * stride).store8(v.2, 0)
    (base + 18 * stride).store8(v.3, 0)
    (base + 24 * stride).store8(v.4, 0)
    (base + 30 * stride).store8(v.5, 0)
  }
}

/// Aᵀ m A for eight tiles whose 36 values sit at `input + ξ·stride` (eight lanes each), through
/// `scratch` (24 × 8 floats): writes output (i, k) of lane l to `output[8·(4i + k) + l]`.
@inlinable @inline(__always)
func winograd4x4OutputTransform8(
  input: UnsafePointer<Float>, stride: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>
) {
  winograd6x6OutputTransform8(
    input: input, stride: stride, scratch: scratch, output: output, side: 4
  ) { x, store in
    let y = winograd4x4OutputRows(x)
    store(0, y.0)
    store(1, y.1)
    store(2, y.2)
    store(3, y.3)
  }
}

/// Aᵀ m A for eight 6×6 tiles whose 36 values sit at `input + ξ·stride` (eight lanes each), with
/// `rows` computing Aᵀ x of one column x of six as `side` values (`store(i, value)`), through
/// `scratch` (6·side × 8 floats): writes output (i, k) of lane l to `output[8·(side·i + k) + l]`.
/// F(4×4, 3×3) and F(2×2, 5×5) differ only in Aᵀ.
@inlinable @inline(__always)
func winograd6x6OutputTransform8(
  input: UnsafePointer<Float>, stride: Int, scratch: UnsafeMutablePointer<Float>,
  output: UnsafeMutablePointer<Float>, side: Int,
  rows: (Float8x6, (Int, Float8) -> Void) -> Void
) {
  for r in 0..<6 {
    let row = input + 6 * r * stride
    // (m A)[r][k] = Σⱼ Aᵀ[k][j] m[r][j].
    rows(
      (
        row.load8(0), row.load8(stride), row.load8(2 * stride), row.load8(3 * stride),
        row.load8(4 * stride), row.load8(5 * stride)
      )
    ) { k, value in scratch.store8(value, 8 * (side * r + k)) }
  }
  for k in 0..<side {
    let column = scratch + 8 * k
    let step = 8 * side
    rows(
      (
        column.load8(0), column.load8(step), column.load8(2 * step), column.load8(3 * step),
        column.load8(4 * step), column.load8(5 * step)
      )
    ) { i, value in output.store8(value, 8 * (side * i + k)) }
  }
}

/// G g Gᵀ of one 3×3 kernel `g` (row-major, or read flipped when `flipped`), written to
/// `output + ξ·stride` for the 36 positions.
@inlinable @inline(__always)
func winograd4x4FilterTransform(
  _ g: UnsafePointer<Float>, flipped: Bool, output: UnsafeMutablePointer<Float>, stride: Int
) {
  @inline(__always) func w(_ r: Int, _ c: Int) -> Float {
    flipped ? g[(2 - r) * 3 + 2 - c] : g[r * 3 + c]
  }
  // G g a column at a time, then each of its six rows times Gᵀ (the same six combinations).
  @inline(__always) func gx(_ a: Float, _ b: Float, _ d: Float)
    -> (Float, Float, Float, Float, Float, Float)
  {
    let outer = a + d
    let inner = (a + 4 * d) / 24
    return (a / 4, -(outer + b) / 6, -(outer - b) / 6, inner + b / 12, inner - b / 12, d)
  }
  let c0 = gx(w(0, 0), w(1, 0), w(2, 0))
  let c1 = gx(w(0, 1), w(1, 1), w(2, 1))
  let c2 = gx(w(0, 2), w(1, 2), w(2, 2))
  @inline(__always) func row(_ r: Int, _ a: Float, _ b: Float, _ d: Float) {
    let t = gx(a, b, d)
    let base = output + 6 * r * stride
    base[0] = t.0
    base[stride] = t.1
    base[2 * stride] = t.2
    base[3 * stride] = t.3
    base[4 * stride] = t.4
    base[5 * stride] = t.5
  }
  row(0, c0.0, c1.0, c2.0)
  row(1, c0.1, c1.1, c2.1)
  row(2, c0.2, c1.2, c2.2)
  row(3, c0.3, c1.3, c2.3)
  row(4, c0.4, c1.4, c2.4)
  row(5, c0.5, c1.5, c2.5)
}
