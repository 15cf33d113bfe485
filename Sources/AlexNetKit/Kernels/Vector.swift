/// Eight floats at a time through unaligned loads and stores. The compiler's auto-vectoriser gives
/// up on loops that read one pointer and write another it cannot prove distinct, or that mix
/// square roots and divisions with stores; these helpers make such loops vector code regardless
/// (two SSE registers on the baseline x86-64 target the package builds for without unsafe flags).
@usableFromInline typealias Float8 = SIMD8<Float>

extension UnsafePointer where Pointee == Float {
  @inlinable @inline(__always)
  func load8(_ offset: Int) -> SIMD8<Float> {
    UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
  }
}

extension UnsafeMutablePointer where Pointee == Float {
  @inlinable @inline(__always)
  func load8(_ offset: Int) -> SIMD8<Float> {
    UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
  }

  @inlinable @inline(__always)
  func store8(_ value: SIMD8<Float>, _ offset: Int) {
    UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: SIMD8<Float>.self)
  }
}

/// Calls `vector` for each whole block of eight from 0 and `scalar` for each index after them.
@inlinable @inline(__always)
func forEightAndRest(_ count: Int, vector: (Int) -> Void, scalar: (Int) -> Void) {
  var i = 0
  while i + 8 <= count {
    vector(i)
    i += 8
  }
  while i < count {
    scalar(i)
    i += 1
  }
}
