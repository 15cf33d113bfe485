// Vector math that Swift cannot express as vector code.
//
// Swift's Float.squareRoot() calls the C library's sqrtf on Linux, which must set errno for a
// negative argument, so the compiler emits a scalar square root with a branch per element, even
// inside SIMD8<Float>.squareRoot(). Swift's SIMD comparisons and masked replacement are generic
// lane-by-lane code that stays scalar, with a branch per lane. Clang's vector operations lower to
// packed instructions. These functions are static inline in the header: Swift imports
// ext_vector_type(8) float as SIMD8<Float>, and the optimiser inlines them into the Swift loops.
#ifndef C_VECTOR_MATH_H
#define C_VECTOR_MATH_H

typedef float cvm_float8 __attribute__((ext_vector_type(8)));
typedef int cvm_int8 __attribute__((ext_vector_type(8)));

/// √x in each of eight lanes (IEEE, correctly rounded, as sqrtf).
static inline __attribute__((always_inline)) cvm_float8 cvm_sqrt8(cvm_float8 x) {
  return __builtin_elementwise_sqrt(x);
}

/// Lane by lane, all bits set where x > y (clear where either is NaN, as Swift's `>`).
static inline __attribute__((always_inline)) cvm_int8 cvm_greater8(cvm_float8 x, cvm_float8 y) { return x > y; }

/// Lane by lane, all bits set where (value, row) comes first in a search for the first maximum in
/// row-major order against (best, bestRow): value > best, or value == best in an earlier row.
static inline __attribute__((always_inline)) cvm_int8 cvm_first_maximum8(cvm_float8 value, cvm_float8 best,
                                                                         cvm_float8 row, cvm_float8 bestRow) {
  return (value > best) | ((value == best) & (row < bestRow));
}

/// Lane by lane, mask ? a : b, for masks of all bits set or clear.
static inline __attribute__((always_inline)) cvm_float8 cvm_select8(cvm_int8 mask, cvm_float8 a, cvm_float8 b) {
  return (cvm_float8)((mask & (cvm_int8)a) | (~mask & (cvm_int8)b));
}

typedef float cvm_float16 __attribute__((ext_vector_type(16)));
typedef float cvm_float32 __attribute__((ext_vector_type(32)));

/// The lanes of a and b alternating: a0 b0 a1 b1 … a7 b7 (Swift's SIMD types have no shuffle).
static inline __attribute__((always_inline)) cvm_float16 cvm_interleave8(cvm_float8 a, cvm_float8 b) {
  return __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
}

/// The lanes of a and b alternating: a0 b0 a1 b1 … a15 b15.
static inline __attribute__((always_inline)) cvm_float32 cvm_interleave16(cvm_float16 a, cvm_float16 b) {
  return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23, 8, 24, 9,
                                 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/// The lanes of a, b and c in turn: a0 b0 c0 a1 b1 c1 … a7 b7 c7 in the first 24 lanes (cell k of
/// lane l at 3l + k), zero after.
static inline __attribute__((always_inline)) cvm_float32 cvm_interleave3(cvm_float8 a, cvm_float8 b, cvm_float8 c) {
  cvm_float16 ab = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  cvm_float16 c0 = __builtin_shufflevector(c, (cvm_float8)0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return __builtin_shufflevector(ab, c0, 0, 8, 16, 1, 9, 17, 2, 10, 18, 3, 11, 19, 4, 12, 20, 5, 13, 21, 6,
                                 14, 22, 7, 15, 23, 24, 24, 24, 24, 24, 24, 24, 24);
}

/// Every third lane of x from lane `first` (0-6): x[first], x[first + 3], … x[first + 21]. One
/// function per start, since a shuffle's lanes are constants.
#define CVM_EVERY_THIRD(first)                                                                            \
  static inline __attribute__((always_inline)) cvm_float8 cvm_every_third_from##first(cvm_float32 x) {   \
    return __builtin_shufflevector(x, x, first, first + 3, first + 6, first + 9, first + 12, first + 15, \
                                   first + 18, first + 21);                                             \
  }
CVM_EVERY_THIRD(0)
CVM_EVERY_THIRD(1)
CVM_EVERY_THIRD(2)
CVM_EVERY_THIRD(3)
CVM_EVERY_THIRD(4)
CVM_EVERY_THIRD(5)
CVM_EVERY_THIRD(6)
#undef CVM_EVERY_THIRD

#endif
