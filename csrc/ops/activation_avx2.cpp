// The vector activations (activation_vecmath.h) on AVX2 + FMA: 8 floats per
// vector; a tail is computed as a zero-padded vector in a stack buffer (the
// same per-element arithmetic as the body). Compiled with -mavx2 -mfma and
// -ffp-contract=off (only the explicit FMAs, the same as the AVX-512 file's,
// so the two paths agree bitwise). Includes no baseline inline code (common.h).
#include <immintrin.h>
#include <cstdint>
#include "kernels.h"
#include "ops/activation_isa.h"

#define FASTMLP_VM_NS avx2
namespace fastmlp {
namespace avx2 {
namespace {
struct V256 {
  using f = __m256;
  using i = __m256i;
  using m = __m256;
  static constexpr int W = 8;
  static f set1(float v) { return _mm256_set1_ps(v); }
  static i seti(int v) { return _mm256_set1_epi32(v); }
  static f load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, f v) { _mm256_storeu_ps(p, v); }
  static f load_n(const float* p, int n) {
    alignas(32) float buf[8] = {};
    for (int k = 0; k < n; ++k) buf[k] = p[k];
    return _mm256_load_ps(buf);
  }
  static void store_n(float* p, f v, int n) {
    alignas(32) float buf[8];
    _mm256_store_ps(buf, v);
    for (int k = 0; k < n; ++k) p[k] = buf[k];
  }
  static f add(f a, f b) { return _mm256_add_ps(a, b); }
  static f sub(f a, f b) { return _mm256_sub_ps(a, b); }
  static f mul(f a, f b) { return _mm256_mul_ps(a, b); }
  static f div(f a, f b) { return _mm256_div_ps(a, b); }
  static f fma(f a, f b, f c) { return _mm256_fmadd_ps(a, b, c); }
  static f min(f a, f b) { return _mm256_min_ps(a, b); }
  static f max(f a, f b) { return _mm256_max_ps(a, b); }
  static f abs(f a) { return from_bits(iand(bits(a), seti(0x7fffffff))); }
  static f round(f a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static m lt(f a, f b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static m le(f a, f b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static m gt(f a, f b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static m eq(f a, f b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static m isnan(f a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  static f select(m k, f a, f b) { return _mm256_blendv_ps(b, a, k); }
  static i to_int(f a) { return _mm256_cvtps_epi32(a); }
  static f to_float(i a) { return _mm256_cvtepi32_ps(a); }
  static i bits(f a) { return _mm256_castps_si256(a); }
  static f from_bits(i a) { return _mm256_castsi256_ps(a); }
  static i iadd(i a, i b) { return _mm256_add_epi32(a, b); }
  static i isub(i a, i b) { return _mm256_sub_epi32(a, b); }
  static i iand(i a, i b) { return _mm256_and_si256(a, b); }
  static i ior(i a, i b) { return _mm256_or_si256(a, b); }
  static i shl23(i a) { return _mm256_slli_epi32(a, 23); }
  static i sra23(i a) { return _mm256_srai_epi32(a, 23); }
};
}  // namespace
using VEC = V256;
}  // namespace avx2
}  // namespace fastmlp
#include "ops/activation_vecmath.h"
#include "ops/activation_exports.h"
