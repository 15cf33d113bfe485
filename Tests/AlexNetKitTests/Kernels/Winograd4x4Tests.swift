import TestSupport
import Testing

@testable import AlexNetKit

/// F(4×4, 3×3)'s own transforms on 6×6 tiles; the convolution-level claims (random shapes,
/// finite differences, AlexNet's layers, cached filters) are `WinogradTests`', made of both variants.
@Suite struct Winograd4x4Tests {
  /// The eight-lane transforms against the matrix products Bᵀ d B, G g Gᵀ and Aᵀ m A.
  @Test func transformsMatchTheirMatrixForms() {
    var rng = SeededGenerator(seed: 15)
    // Six rows of 34 floats hold eight overlapping 6×6 tiles, the l-th from column 4l.
    let rows = rng.floats(6 * 34)
    var v = [Float](repeating: 0, count: 36 * 8)
    var scratch = [Float](repeating: 0, count: 36 * 8)
    rows.withUnsafeBufferPointer { r in
      v.withUnsafeMutableBufferPointer { v in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd4x4InputTransform8(
            rows: r.baseAddress!, rowLength: 34, scratch: scratch.baseAddress!,
            output: v.baseAddress!, stride: 8)
        }
      }
    }
    for lane in 0..<8 {
      let tile = (0..<6).map { r in Array(rows[(34 * r + 4 * lane)..<(34 * r + 4 * lane + 6)]) }
      let expected = winograd4x4InputTileNaive(tile)
      for xi in 0..<36 { #expect(abs(v[8 * xi + lane] - expected[xi / 6][xi % 6]) <= 1e-5) }
    }
    let kernel = rng.floats(9)
    var u = [Float](repeating: 0, count: 36)
    for flipped in [false, true] {
      kernel.withUnsafeBufferPointer { k in
        u.withUnsafeMutableBufferPointer {
          winograd4x4FilterTransform(
            k.baseAddress!, flipped: flipped, output: $0.baseAddress!, stride: 1)
        }
      }
      func cell(_ r: Int, _ c: Int) -> Float {
        flipped ? kernel[(2 - r) * 3 + 2 - c] : kernel[r * 3 + c]
      }
      let g: [[Float]] = (0..<3).map { r in (0..<3).map { c in cell(r, c) } }
      let expected = winograd4x4FilterTileNaive(g)
      for xi in 0..<36 { #expect(abs(u[xi] - expected[xi / 6][xi % 6]) <= 1e-6) }
    }
    let m = rng.floats(36 * 8)
    var y = [Float](repeating: 0, count: 16 * 8)
    m.withUnsafeBufferPointer { m in
      y.withUnsafeMutableBufferPointer { y in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd4x4OutputTransform8(
            input: m.baseAddress!, stride: 8, scratch: scratch.baseAddress!,
            output: y.baseAddress!)
        }
      }
    }
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<6).map { r in (0..<6).map { c in m[8 * (6 * r + c) + lane] } }
      let expected = winograd4x4OutputTileNaive(tile)
      for i in 0..<4 {
        for k in 0..<4 { #expect(abs(y[8 * (4 * i + k) + lane] - expected[i][k]) <= 1e-4) }
      }
    }
  }

  /// The matrices are Lavin and Gray's: one tile's Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 4×4 valid
  /// correlation of the 6×6 tile with the kernel, computed directly.
  @Test func oneTileIsACorrelation() {
    var rng = SeededGenerator(seed: 16)
    let d = (0..<6).map { _ in rng.floats(6) }
    let g = (0..<3).map { _ in rng.floats(3) }
    let u = winograd4x4FilterTileNaive(g)
    let v = winograd4x4InputTileNaive(d)
    let product = (0..<6).map { i in (0..<6).map { j in u[i][j] * v[i][j] } }
    let y = winograd4x4OutputTileNaive(product)
    for i in 0..<4 {
      for k in 0..<4 {
        var direct: Float = 0
        for a in 0..<3 { for b in 0..<3 { direct += d[i + a][k + b] * g[a][b] } }
        #expect(abs(y[i][k] - direct) <= 1e-4, "output (\(i), \(k))")
      }
    }
  }
}
