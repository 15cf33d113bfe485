import TestSupport
import Testing

@testable import AlexNetKit

/// The own transforms of the variants on larger tiles: F(4×4, 3×3) (6×6 tiles four columns apart),
/// F(2×2, 5×5) (6×6, two apart; F(4×4)'s Bᵀ) and F(3×3, 5×5) (7×7, three apart); the
/// convolution-level claims (random shapes, finite differences, AlexNet's layers, cached filters)
/// are `WinogradTests`', made of every variant.
@Suite struct WinogradLargeTileTests {
  static let variants: [WinogradVariant] = [.f4x4, .f2x2Kernel5, .f3x3Kernel5]

  static func inputTileNaive(_ variant: WinogradVariant, _ d: [[Float]]) -> [[Float]] {
    variant == .f3x3Kernel5 ? winograd3x3Kernel5InputTileNaive(d) : winograd4x4InputTileNaive(d)
  }

  static func filterTileNaive(_ variant: WinogradVariant, _ g: [[Float]]) -> [[Float]] {
    switch variant {
    case .f4x4: winograd4x4FilterTileNaive(g)
    case .f3x3Kernel5: winograd3x3Kernel5FilterTileNaive(g)
    default: winograd5x5FilterTileNaive(g)
    }
  }

  static func outputTileNaive(_ variant: WinogradVariant, _ m: [[Float]]) -> [[Float]] {
    switch variant {
    case .f4x4: winograd4x4OutputTileNaive(m)
    case .f3x3Kernel5: winograd3x3Kernel5OutputTileNaive(m)
    default: winograd5x5OutputTileNaive(m)
    }
  }

  /// Bᵀ d B of eight tiles from rows of `rowLength` floats, by the variant's eight-lane transform:
  /// α² × 8 floats.
  static func inputTransform8(_ variant: WinogradVariant, rows: [Float], rowLength: Int) -> [Float]
  {
    var v = [Float](repeating: 0, count: variant.positions * 8)
    var scratch = v
    rows.withUnsafeBufferPointer { r in
      v.withUnsafeMutableBufferPointer { v in
        scratch.withUnsafeMutableBufferPointer { scratch in
          let (rows, scratch, output) = (r.baseAddress!, scratch.baseAddress!, v.baseAddress!)
          switch variant {
          case .f4x4:
            winograd4x4InputTransform8(
              rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: 8)
          case .f3x3Kernel5:
            winograd3x3Kernel5InputTransform8(
              rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: 8)
          default:
            winograd5x5InputTransform8(
              rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: 8)
          }
        }
      }
    }
    return v
  }

  /// G g Gᵀ of one kernel by the variant's transform: α² floats.
  static func filterTransform(_ variant: WinogradVariant, _ kernel: [Float], flipped: Bool)
    -> [Float]
  {
    var u = [Float](repeating: 0, count: variant.positions)
    kernel.withUnsafeBufferPointer { k in
      u.withUnsafeMutableBufferPointer {
        let (g, output) = (k.baseAddress!, $0.baseAddress!)
        switch variant {
        case .f4x4:
          winograd4x4FilterTransform(g, flipped: flipped, output: output, stride: 1)
        case .f3x3Kernel5:
          winograd3x3Kernel5FilterTransform(g, flipped: flipped, output: output, stride: 1)
        default:
          winograd5x5FilterTransform(g, flipped: flipped, output: output, stride: 1)
        }
      }
    }
    return u
  }

  /// Aᵀ m A of eight tiles (ξ × 8 lanes) by the variant's eight-lane transform: m² × 8 floats.
  static func outputTransform8(_ variant: WinogradVariant, _ m: [Float]) -> [Float] {
    let side = variant.outputTile
    var y = [Float](repeating: 0, count: side * side * 8)
    var scratch = [Float](repeating: 0, count: variant.inputTile * side * 8)
    m.withUnsafeBufferPointer { m in
      y.withUnsafeMutableBufferPointer { y in
        scratch.withUnsafeMutableBufferPointer { scratch in
          let (input, scratch, output) = (m.baseAddress!, scratch.baseAddress!, y.baseAddress!)
          switch variant {
          case .f4x4:
            winograd4x4OutputTransform8(input: input, stride: 8, scratch: scratch, output: output)
          case .f3x3Kernel5:
            winograd3x3Kernel5OutputTransform8(
              input: input, stride: 8, scratch: scratch, output: output)
          default:
            winograd5x5OutputTransform8(input: input, stride: 8, scratch: scratch, output: output)
          }
        }
      }
    }
    return y
  }

  /// The eight-lane transforms against the matrix products Bᵀ d B, G g Gᵀ and Aᵀ m A.
  @Test(arguments: variants)
  func transformsMatchTheirMatrixForms(_ variant: WinogradVariant) {
    var rng = SeededGenerator(
      seed: [WinogradVariant.f4x4: 15, .f2x2Kernel5: 25, .f3x3Kernel5: 35][variant]!)
    let (side, r, alpha) = (variant.outputTile, variant.kernel, variant.inputTile)
    // α rows hold eight overlapping α×α tiles, the l-th from column m·l (F(3×3, 5×5) reads 32
    // floats of each row).
    let rowLength = Swift.max(8 * side + r - 1, 32)
    let rows = rng.floats(alpha * rowLength)
    let v = Self.inputTransform8(variant, rows: rows, rowLength: rowLength)
    // F(3×3, 5×5)'s Bᵀ has entries up to 12: its sums of 49 products round further.
    let inputTolerance: Float = variant == .f3x3Kernel5 ? 1e-4 : 1e-5
    for lane in 0..<8 {
      let tile = (0..<alpha).map { i in
        Array(rows[(rowLength * i + side * lane)..<(rowLength * i + side * lane + alpha)])
      }
      let expected = Self.inputTileNaive(variant, tile)
      for xi in 0..<(alpha * alpha) {
        #expect(
          abs(v[8 * xi + lane] - expected[xi / alpha][xi % alpha]) <= inputTolerance,
          "lane \(lane) ξ \(xi)")
      }
    }
    let kernel = rng.floats(r * r)
    for flipped in [false, true] {
      let u = Self.filterTransform(variant, kernel, flipped: flipped)
      let g: [[Float]] = (0..<r).map { i in
        (0..<r).map { c in flipped ? kernel[(r - 1 - i) * r + r - 1 - c] : kernel[i * r + c] }
      }
      let expected = Self.filterTileNaive(variant, g)
      for xi in 0..<(alpha * alpha) {
        #expect(abs(u[xi] - expected[xi / alpha][xi % alpha]) <= 1e-5, "ξ \(xi)")
      }
    }
    let m = rng.floats(alpha * alpha * 8)
    let y = Self.outputTransform8(variant, m)
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<alpha).map { i in
        (0..<alpha).map { c in m[8 * (alpha * i + c) + lane] }
      }
      let expected = Self.outputTileNaive(variant, tile)
      for i in 0..<side {
        for k in 0..<side { #expect(abs(y[8 * (side * i + k) + lane] - expected[i][k]) <= 1e-4) }
      }
    }
  }

  /// The matrices compute the convolution: one tile's Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the m×m valid
  /// correlation of the α×α tile with the r×r kernel, computed directly.
  @Test(arguments: variants)
  func oneTileIsACorrelation(_ variant: WinogradVariant) {
    var rng = SeededGenerator(
      seed: [WinogradVariant.f4x4: 16, .f2x2Kernel5: 26, .f3x3Kernel5: 36][variant]!)
    let (side, r, alpha) = (variant.outputTile, variant.kernel, variant.inputTile)
    let d = (0..<alpha).map { _ in rng.floats(alpha) }
    let g = (0..<r).map { _ in rng.floats(r) }
    let u = Self.filterTileNaive(variant, g)
    let v = Self.inputTileNaive(variant, d)
    let product = (0..<alpha).map { i in (0..<alpha).map { j in u[i][j] * v[i][j] } }
    let y = Self.outputTileNaive(variant, product)
    for i in 0..<side {
      for k in 0..<side {
        var direct: Float = 0
        for a in 0..<r { for b in 0..<r { direct += d[i + a][k + b] * g[a][b] } }
        #expect(abs(y[i][k] - direct) <= 1e-4, "output (\(i), \(k))")
      }
    }
  }

  /// A row of eight 3×3 blocks stored whole (24 floats) or cut at the plane's edge, and dealt
  /// back into its cells.
  @Test func threeWideBlockRowsStoreAndDeal() {
    var rng = SeededGenerator(seed: 37)
    let cells = rng.floats(3 * 8)
    for count in [24, 23, 7, 1] {
      var row = [Float](repeating: -1, count: 32)
      cells.withUnsafeBufferPointer { c in
        row.withUnsafeMutableBufferPointer {
          storeBlockRow(c.baseAddress!, side: 3, to: $0.baseAddress!, count: count)
        }
      }
      for i in 0..<32 {
        let expected = i < count ? cells[8 * (i % 3) + i / 3] : -1
        #expect(row[i] == expected, "count \(count), float \(i)")
      }
    }
    let row = rng.floats(32)
    var dealt = [Float](repeating: 0, count: 24)
    row.withUnsafeBufferPointer { r in
      dealt.withUnsafeMutableBufferPointer {
        dealBlockRow(r.baseAddress!, side: 3, into: $0.baseAddress!)
      }
    }
    for lane in 0..<8 {
      for k in 0..<3 { #expect(dealt[8 * k + lane] == row[3 * lane + k]) }
    }
  }
}
