import TestSupport
import Testing

@testable import AlexNetKit

/// F(2×2, 5×5)'s own transforms on 6×6 tiles two columns apart; the convolution-level claims
/// (random shapes, finite differences, AlexNet's conv2, cached filters) are `WinogradTests`'.
@Suite struct Winograd5x5Tests {
  /// The eight-lane transforms against the matrix products Bᵀ d B, G g Gᵀ and Aᵀ m A.
  @Test func transformsMatchTheirMatrixForms() {
    var rng = SeededGenerator(seed: 25)
    // Six rows of 20 floats hold eight overlapping 6×6 tiles, the l-th from column 2l.
    let rows = rng.floats(6 * 20)
    var v = [Float](repeating: 0, count: 36 * 8)
    var scratch = [Float](repeating: 0, count: 36 * 8)
    rows.withUnsafeBufferPointer { r in
      v.withUnsafeMutableBufferPointer { v in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd5x5InputTransform8(
            rows: r.baseAddress!, rowLength: 20, scratch: scratch.baseAddress!,
            output: v.baseAddress!, stride: 8)
        }
      }
    }
    for lane in 0..<8 {
      let tile = (0..<6).map { r in Array(rows[(20 * r + 2 * lane)..<(20 * r + 2 * lane + 6)]) }
      let expected = winograd4x4InputTileNaive(tile)
      for xi in 0..<36 { #expect(abs(v[8 * xi + lane] - expected[xi / 6][xi % 6]) <= 1e-5) }
    }
    let kernel = rng.floats(25)
    var u = [Float](repeating: 0, count: 36)
    for flipped in [false, true] {
      kernel.withUnsafeBufferPointer { k in
        u.withUnsafeMutableBufferPointer {
          winograd5x5FilterTransform(
            k.baseAddress!, flipped: flipped, output: $0.baseAddress!, stride: 1)
        }
      }
      func cell(_ r: Int, _ c: Int) -> Float {
        flipped ? kernel[(4 - r) * 5 + 4 - c] : kernel[r * 5 + c]
      }
      let g: [[Float]] = (0..<5).map { r in (0..<5).map { c in cell(r, c) } }
      let expected = winograd5x5FilterTileNaive(g)
      for xi in 0..<36 { #expect(abs(u[xi] - expected[xi / 6][xi % 6]) <= 1e-5) }
    }
    let m = rng.floats(36 * 8)
    var y = [Float](repeating: 0, count: 4 * 8)
    m.withUnsafeBufferPointer { m in
      y.withUnsafeMutableBufferPointer { y in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd5x5OutputTransform8(
            input: m.baseAddress!, stride: 8, scratch: scratch.baseAddress!,
            output: y.baseAddress!)
        }
      }
    }
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<6).map { r in (0..<6).map { c in m[8 * (6 * r + c) + lane] } }
      let expected = winograd5x5OutputTileNaive(tile)
      for i in 0..<2 {
        for k in 0..<2 { #expect(abs(y[8 * (2 * i + k) + lane] - expected[i][k]) <= 1e-4) }
      }
    }
  }

  /// The matrices compute the convolution: one tile's Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 2×2 valid
  /// correlation of the 6×6 tile with the 5×5 kernel, computed directly.
  @Test func oneTileIsACorrelation() {
    var rng = SeededGenerator(seed: 26)
    let d = (0..<6).map { _ in rng.floats(6) }
    let g = (0..<5).map { _ in rng.floats(5) }
    let u = winograd5x5FilterTileNaive(g)
    let v = winograd4x4InputTileNaive(d)
    let product = (0..<6).map { i in (0..<6).map { j in u[i][j] * v[i][j] } }
    let y = winograd5x5OutputTileNaive(product)
    for i in 0..<2 {
      for k in 0..<2 {
        var direct: Float = 0
        for a in 0..<5 { for b in 0..<5 { direct += d[i + a][k + b] * g[a][b] } }
        #expect(abs(y[i][k] - direct) <= 1e-4, "output (\(i), \(k))")
      }
    }
  }
}
