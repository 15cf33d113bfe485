import Dispatch
import Foundation

/// The project's own parallel loops (im2col, pooling, LRN, decoding): contiguous chunks over at
/// most `threadCount` threads. They never wrap a BLAS call, whose pool is OpenBLAS's own, so the
/// two never compete for the same cores at once.
public enum Parallel {
  nonisolated(unsafe) static var configuredThreadCount = ProcessInfo.processInfo.activeProcessorCount

  /// Threads for our loops; defaults to the active processor count.
  public static var threadCount: Int {
    get { configuredThreadCount }
    set { configuredThreadCount = max(1, newValue) }
  }

  /// Sets both our loops' and OpenBLAS's thread counts (the `--threads` option).
  public static func setThreadCount(_ count: Int) {
    threadCount = count
    BLASRuntime.threadCount = count
  }

  /// Calls `body` on contiguous, disjoint ranges that cover 0..<count, in parallel when there is
  /// enough work (at least `minimumChunk` items per thread). Returns when all are done.
  @inlinable
  public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = Swift.min(threadCount, Swift.max(1, count / Swift.max(1, minimumChunk)))
    if chunks == 1 {
      body(0..<count)
      return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
      body((chunk * count / chunks)..<((chunk + 1) * count / chunks))
    }
  }
}
