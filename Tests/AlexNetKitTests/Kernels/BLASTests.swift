import AlexNetKit
import TestSupport
import Testing

/// The product in row blocks that keeps Winograd's batch-1 products on OpenBLAS's direct path.
/// Every machine runs these; the convolutions take the row blocks only under an AVX-512 kernel set
/// (the Winograd tests at AlexNet's shapes then go through them).
@Suite struct BLASTests {
  @Test(arguments: [(7, 9, 11, 1), (7, 9, 11, 3), (33, 5, 17, 8), (16, 4, 3, 16), (5, 6, 7, 9)])
  func rowBlocksAgreeWithTripleLoop(_ shape: (Int, Int, Int, Int)) {
    let (m, n, k, rows) = shape
    var rng = SeededGenerator(seed: UInt64(m * 1000 + rows))
    let a = rng.floats(m * k)
    let b = rng.floats(k * n)
    var blocks = [Float](repeating: .nan, count: m * n)
    var naive = [Float](repeating: 0, count: m * n)
    BLAS.sgemm(a, b, into: &blocks, m: m, n: n, k: k, rowsPerCall: rows)
    BLAS.sgemmNaive(a, b, into: &naive, m: m, n: n, k: k)
    #expect(
      maxRelativeError(
        Tensor(shape: [m, n], scalars: blocks), Tensor(shape: [m, n], scalars: naive)) <= 1e-5)
  }

  /// Blocks stay within the direct path's limit and as even as they can be, and products that
  /// are small already, or whose blocks would be thin, stay whole.
  @Test func rowsPerCallKeepsProductsDirect() {
    // AlexNet's conv4 by F(2×2) at batch 1: 256 filters, 49 tiles, 384 channels.
    #expect(BLAS.rowsPerCall(m: 256, n: 49, k: 384, direct: true) == 52)
    #expect(BLAS.rowsPerCall(m: 256, n: 49, k: 384, direct: false) == 256)
    #expect(BLAS.rowsPerCall(m: 64, n: 196, k: 48, direct: true) == 64)
    #expect(BLAS.rowsPerCall(m: 256, n: 1568, k: 384, direct: true) == 256)
    var rng = SeededGenerator(seed: 9)
    for _ in 0..<300 {
      let m = Int.random(in: 1...2048, using: &rng)
      let n = Int.random(in: 1...512, using: &rng)
      let k = Int.random(in: 1...1024, using: &rng)
      let rows = BLAS.rowsPerCall(m: m, n: n, k: k, direct: true)
      // Calls of ⌈m / c⌉ rows each for c calls, when those are direct and thick enough.
      func evenRows(_ calls: Int) -> Int? {
        let rows = (m + calls - 1) / calls
        let fits = rows * n * k <= BLAS.directProductLimit && rows >= BLAS.minimumDirectRows
        return fits ? rows : nil
      }
      let fewest = (2...Swift.max(2, m)).first { evenRows($0) != nil }
      if m * n * k <= BLAS.directProductLimit || fewest == nil {
        #expect(rows == m, "\(m)×\(n)×\(k): \(rows) rows")
      } else if let fewest {
        #expect(rows == evenRows(fewest), "\(m)×\(n)×\(k): \(rows) rows, \(fewest) calls")
      }
    }
  }
}
