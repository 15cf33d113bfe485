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
