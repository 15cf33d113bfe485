import TestSupport
import Testing

@testable import AlexNetKit

/// The own transforms of the variants on 6×6 tiles, F(4×4, 3×3) (tiles four columns apart) and
/// F(2×2, 5×5) (two apart), which share Bᵀ; the convolution-level claims (random shapes, finite
/// differences, AlexNet's layers, cached filters) are `WinogradTests`', made of every variant.
@Suite struct Winograd6x6Tests {
  static let variants: [WinogradVariant] = [.f4x4, .f2x2Kernel5]

  static func filterTileNaive(_ variant: WinogradVariant, _ g: [[Float]]) -> [[Float]] {
    variant == .f4x4 ? winograd4x4FilterTileNaive(g) : winograd5x5FilterTileNaive(g)
  }

  static func outputTileNaive(_ variant: WinogradVariant, _ m: [[Float]]) -> [[Float]] {
    variant == .f4x4 ? winograd4x4OutputTileNaive(m) : winograd5x5OutputTileNaive(m)
  }

  /// Bᵀ d B of eight tiles from rows of `rowLength` floats, by the variant's eight-lane transform.
  static func inputTransform8(_ variant: WinogradVariant, rows: [Float], rowLength: Int) -> [Float]
  {
    var v = [Float](repeating: 0, count: 36 * 8)
    var scratch = [Float](repeating: 0, count: 36 * 8)
    rows.withUnsafeBufferPointer { r in
      v.withUnsafeMutableBufferPointer { v in
        scratch.withUnsafeMutableBufferPointer { scratch in
          let (rows, scratch, output) = (r.baseAddress!, scratch.baseAddress!, v.baseAddress!)
          if variant == .f4x4 {
            winograd4x4InputTransform8(
              rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: 8)
          } else {
            winograd5x5InputTransform8(
              rows: rows, rowLength: rowLength, scratch: scratch, output: output, stride: 8)
          }
        }
      }
    }
    return v
  }

  /// Aᵀ m A of eight tiles (ξ × 8 lanes) by the variant's eight-lane transform: m² × 8 floats.
  static func outputTransform8(_ variant: WinogradVariant, _ m: [Float]) -> [Float] {
    let side = variant.outputTile
    var y = [Float](repeating: 0, count: side * side * 8)
    var scratch = [Float](repeating: 0, count: 36 * 8)
    m.withUnsafeBufferPointer { m in
      y.withUnsafeMutableBufferPointer { y in
        scratch.withUnsafeMutableBufferPointer { scratch in
          let (input, scratch, output) = (m.baseAddress!, scratch.baseAddress!, y.baseAddress!)
          if variant == .f4x4 {
            winograd4x4OutputTransform8(input: input, stride: 8, scratch: scratch, output: output)
          } else {
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
    var rng = SeededGenerator(seed: variant == .f4x4 ? 15 : 25)
    let (side, r) = (variant.outputTile, variant.kernel)
    // Six rows hold eight overlapping 6×6 tiles, the l-th from column m·l.
    let rowLength = 8 * side + r - 1
    let rows = rng.floats(6 * rowLength)
    let v = Self.inputTransform8(variant, rows: rows, rowLength: rowLength)
    for lane in 0..<8 {
      let tile = (0..<6).map { i in
        Array(rows[(rowLength * i + side * lane)..<(rowLength * i + side * lane + 6)])
      }
      let expected = winograd4x4InputTileNaive(tile)
      for xi in 0..<36 { #expect(abs(v[8 * xi + lane] - expected[xi / 6][xi % 6]) <= 1e-5) }
    }
    let kernel = rng.floats(r * r)
    var u = [Float](repeating: 0, count: 36)
    for flipped in [false, true] {
      kernel.withUnsafeBufferPointer { k in
        u.withUnsafeMutableBufferPointer {
          if variant == .f4x4 {
            winograd4x4FilterTransform(
              k.baseAddress!, flipped: flipped, output: $0.baseAddress!, stride: 1)
          } else {
            winograd5x5FilterTransform(
              k.baseAddress!, flipped: flipped, output: $0.baseAddress!, stride: 1)
          }
        }
      }
      let g: [[Float]] = (0..<r).map { i in
        (0..<r).map { c in flipped ? kernel[(r - 1 - i) * r + r - 1 - c] : kernel[i * r + c] }
      }
      let expected = Self.filterTileNaive(variant, g)
      for xi in 0..<36 { #expect(abs(u[xi] - expected[xi / 6][xi % 6]) <= 1e-5) }
    }
    let m = rng.floats(36 * 8)
    let y = Self.outputTransform8(variant, m)
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<6).map { i in (0..<6).map { c in m[8 * (6 * i + c) + lane] } }
      let expected = Self.outputTileNaive(variant, tile)
      for i in 0..<side {
        for k in 0..<side { #expect(abs(y[8 * (side * i + k) + lane] - expected[i][k]) <= 1e-4) }
      }
    }
  }

  /// The matrices compute the convolution: one tile's Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the m×m valid
  /// correlation of the 6×6 tile with the r×r kernel, computed directly.
  @Test(arguments: variants)
  func oneTileIsACorrelation(_ variant: WinogradVariant) {
    var rng = SeededGenerator(seed: variant == .f4x4 ? 16 : 26)
    let (side, r) = (variant.outputTile, variant.kernel)
    let d = (0..<6).map { _ in rng.floats(6) }
    let g = (0..<r).map { _ in rng.floats(r) }
    let u = Self.filterTileNaive(variant, g)
    let v = winograd4x4InputTileNaive(d)
    let product = (0..<6).map { i in (0..<6).map { j in u[i][j] * v[i][j] } }
    let y = Self.outputTileNaive(variant, product)
    for i in 0..<side {
      for k in 0..<side {
        var direct: Float = 0
        for a in 0..<r { for b in 0..<r { direct += d[i + a][k + b] * g[a][b] } }
        #expect(abs(y[i][k] - direct) <= 1e-4, "output (\(i), \(k))")
      }
    }
  }
}
