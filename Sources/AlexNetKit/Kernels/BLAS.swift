import COpenBLAS
import Foundation

/// The project's one doorway to OpenBLAS: every matrix product goes through `sgemm`, so leading
/// dimensions are worked out in one place (as Caffe's `caffe_cpu_gemm`) and the kernel set is
/// chosen (see `BLASRuntime`) before the first call.
public enum BLAS {
  /// Adds a call's core time (its duration times OpenBLAS's threads) to `profile`.
  @usableFromInline
  static func record(since started: ContinuousClock.Instant, in profile: GEMMProfile) {
    profile.add((ContinuousClock.now - started) * BLASRuntime.threadCount)
  }

  /// C ← alpha·op(A)·op(B) + beta·C for row-major Float32 matrices, where op(A) is m×k and op(B)
  /// is k×n. Leading dimensions default to the packed row lengths; pass them to work on a block
  /// of a larger matrix.
  @inlinable
  public static func sgemm(
    _ a: UnsafePointer<Float>, transposeA: Bool = false, lda: Int? = nil,
    _ b: UnsafePointer<Float>, transposeB: Bool = false, ldb: Int? = nil,
    into c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
    m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
  ) {
    BLASRuntime.ensureConfigured()
    guard m > 0, n > 0 else { return }
    // The profile of this call's scope, if any (see `ComputeContext.profile`).
    let profile = ComputeContext.current.profile
    let started = profile == nil ? nil : ContinuousClock.now
    defer { if let profile, let started { record(since: started, in: profile) } }
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha,
      a, Int32(lda ?? (transposeA ? m : k)),
      b, Int32(ldb ?? (transposeB ? k : n)),
      beta, c, Int32(ldc ?? n))
  }

  /// OpenBLAS's AVX-512 kernel sets multiply a product of at most this many multiply-adds (m·n·k,
  /// A not transposed) straight from its operands, on the calling thread (its
  /// `sgemm_small_kernel_permit`); a larger product is first copied into the kernels' layout, A
  /// in full on every call.
  public static let directProductLimit = 1_000_000

  /// Rows of A (and C) per call that keep a single-threaded m×n×k product on OpenBLAS's direct
  /// path, in as few calls of as even a size as can be, or m when it already is, when `direct`
  /// is false (the kernel set has no such path, or OpenBLAS runs several threads, which the path
  /// would leave idle), or when calls would get fewer than `minimumDirectRows` rows. A Winograd
  /// product at batch 1 uses each of its filter values for 49 tiles only, so copying them costs
  /// about a third of the arithmetic: AlexNet's conv4 by F(2×2), 16 products of 256×49×384 on one
  /// thread with the filters cold, took 2.36 ms in single calls against 1.80 ms in calls of 43-52
  /// rows (Zen 4, Cooperlake kernels); with the Haswell kernels, which lack the path, the same
  /// split took 2.72 ms.
  public static func rowsPerCall(
    m: Int, n: Int, k: Int,
    direct: Bool = BLASRuntime.multipliesSmallProductsDirectly && BLASRuntime.threadCount == 1
  ) -> Int {
    guard direct, m * n * k > directProductLimit else { return m }
    let rowsWithinLimit = directProductLimit / Swift.max(1, n * k)
    guard rowsWithinLimit >= minimumDirectRows else { return m }
    let calls = (m + rowsWithinLimit - 1) / rowsWithinLimit
    let rows = (m + calls - 1) / calls
    return rows >= minimumDirectRows ? rows : m
  }

  /// Below this many rows a call's fixed costs outweigh the copy it saves.
  public static let minimumDirectRows = 32

  /// `sgemm` (A and B not transposed, beta 0) as calls of at most `rowsPerCall` rows of A and C.
  @inlinable
  public static func sgemm(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, rowsPerCall: Int
  ) {
    precondition(rowsPerCall > 0, "sgemm: rowsPerCall \(rowsPerCall), expected at least 1")
    for first in stride(from: 0, to: m, by: rowsPerCall) {
      sgemm(
        a + first * k, b, into: c + first * n, m: Swift.min(rowsPerCall, m - first), n: n, k: k)
    }
  }

  /// y ← alpha·op(A)·x + beta·y for a row-major m×n Float32 matrix A (op(A) is n×m when
  /// transposed), contiguous vectors. A matrix-vector product reads A once, at memory speed;
  /// OpenBLAS's sgemm with one row packs all of A first and runs about 3x slower (fc6 at batch 1:
  /// 7.5 against 21.8 ms here).
  @inlinable
  public static func sgemv(
    _ a: UnsafePointer<Float>, transpose: Bool = false, m: Int, n: Int, _ x: UnsafePointer<Float>,
    into y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0
  ) {
    BLASRuntime.ensureConfigured()
    guard m > 0, n > 0 else { return }
    // The profile of this call's scope, if any (see `ComputeContext.profile`).
    let profile = ComputeContext.current.profile
    let started = profile == nil ? nil : ContinuousClock.now
    defer { if let profile, let started { record(since: started, in: profile) } }
    cblas_sgemv(
      CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(n),
      x, 1, beta, y, 1)
  }

  /// The textbook triple loop for the same product, without transposes: the reference the GEMM
  /// tests and the benchmark compare against.
  public static func sgemmNaive(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var sum: Float = 0
        for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
        c[i * n + j] = sum
      }
    }
  }
}
