import COpenBLAS

/// The project's one doorway to OpenBLAS: every matrix product goes through `sgemm`, so leading
/// dimensions are worked out in one place (as Caffe's `caffe_cpu_gemm`) and the kernel set is
/// chosen (see `BLASRuntime`) before the first call.
public enum BLAS {
  /// When on, `profiledTime` accumulates the wall time spent in `sgemm` (the benchmark's
  /// GEMM share). Off by default; a single-threaded caller's tool, not synchronised.
  nonisolated(unsafe) public static var profiling = false
  nonisolated(unsafe) public static var profiledTime: Duration = .zero

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
    let started = profiling ? ContinuousClock.now : nil
    defer { if let started { profiledTime += ContinuousClock.now - started } }
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha,
      a, Int32(lda ?? (transposeA ? m : k)),
      b, Int32(ldb ?? (transposeB ? k : n)),
      beta, c, Int32(ldc ?? n))
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
