import TestSupport
import Testing

@testable import AlexNetKit

/// F(3×3, 5×5)'s own transforms on 7×7 tiles three columns apart; the convolution-level claims
/// (random shapes, finite differences, AlexNet's layers, cached filters) are `WinogradTests`',
/// made of every variant.
@Suite struct Winograd7x7Tests {
  /// The eight-lane transforms against the matrix products Bᵀ d B, G g Gᵀ and Aᵀ m A.
  @Test func transformsMatchTheirMatrixForms() {
    var rng = SeededGenerator(seed: 35)
    // Seven rows hold eight overlapping 7×7 tiles, the l-th from column 3l; the transform reads
    // 32 floats of each row.
    let rowLength = 32
    let rows = rng.floats(7 * rowLength)
    var v = [Float](repeating: 0, count: 49 * 8)
    var scratch = [Float](repeating: 0, count: 49 * 8)
    rows.withUnsafeBufferPointer { r in
      v.withUnsafeMutableBufferPointer { v in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd3x3Kernel5InputTransform8(
            rows: r.baseAddress!, rowLength: rowLength, scratch: scratch.baseAddress!,
            output: v.baseAddress!, stride: 8)
        }
      }
    }
    for lane in 0..<8 {
      let tile = (0..<7).map { i in
        Array(rows[(rowLength * i + 3 * lane)..<(rowLength * i + 3 * lane + 7)])
      }
      let expected = winograd3x3Kernel5InputTileNaive(tile)
      for xi in 0..<49 {
        #expect(abs(v[8 * xi + lane] - expected[xi / 7][xi % 7]) <= 1e-4, "lane \(lane) ξ \(xi)")
      }
    }
    let kernel = rng.floats(25)
    var u = [Float](repeating: 0, count: 49)
    for flipped in [false, true] {
      kernel.withUnsafeBufferPointer { k in
        u.withUnsafeMutableBufferPointer {
          winograd3x3Kernel5FilterTransform(
            k.baseAddress!, flipped: flipped, output: $0.baseAddress!, stride: 1)
        }
      }
      let g: [[Float]] = (0..<5).map { i in
        (0..<5).map { c in flipped ? kernel[(4 - i) * 5 + 4 - c] : kernel[i * 5 + c] }
      }
      let expected = winograd3x3Kernel5FilterTileNaive(g)
      for xi in 0..<49 { #expect(abs(u[xi] - expected[xi / 7][xi % 7]) <= 1e-5, "ξ \(xi)") }
    }
    let m = rng.floats(49 * 8)
    var y = [Float](repeating: 0, count: 9 * 8)
    m.withUnsafeBufferPointer { m in
      y.withUnsafeMutableBufferPointer { y in
        scratch.withUnsafeMutableBufferPointer { scratch in
          winograd3x3Kernel5OutputTransform8(
            input: m.baseAddress!, stride: 8, scratch: scratch.baseAddress!,
            output: y.baseAddress!)
        }
      }
    }
    for lane in 0..<8 {
      let tile: [[Float]] = (0..<7).map { i in (0..<7).map { c in m[8 * (7 * i + c) + lane] } }
      let expected = winograd3x3Kernel5OutputTileNaive(tile)
      for i in 0..<3 {
        for k in 0..<3 { #expect(abs(y[8 * (3 * i + k) + lane] - expected[i][k]) <= 1e-4) }
      }
    }
  }

  /// The matrices compute the convolution: one tile's Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 3×3 valid
  /// correlation of the 7×7 tile with the 5×5 kernel, computed directly.
  @Test func oneTileIsACorrelation() {
    var rng = SeededGenerator(seed: 36)
    let d = (0..<7).map { _ in rng.floats(7) }
    let g = (0..<5).map { _ in rng.floats(5) }
    let u = winograd3x3Kernel5FilterTileNaive(g)
    let v = winograd3x3Kernel5InputTileNaive(d)
    let product = (0..<7).map { i in (0..<7).map { j in u[i][j] * v[i][j] } }
    let y = winograd3x3Kernel5OutputTileNaive(product)
    for i in 0..<3 {
      for k in 0..<3 {
        var direct: Float = 0
        for a in 0..<5 { for b in 0..<5 { direct += d[i + a][k + b] * g[a][b] } }
        #expect(abs(y[i][k] - direct) <= 1e-4, "output (\(i), \(k))")
      }
    }
  }

  /// A row of eight 3×3 blocks stored whole (24 floats) or cut at the plane's edge, and dealt
  /// back into its cells.
  @Test func blockRowsStoreAndDeal() {
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
