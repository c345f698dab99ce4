// The AVX2 + FMA vector type of the vectorised ops (activation_vecmath.h, the
// optimizers' *_vec.h): 8 floats. Include only from translation units
// compiled with -mavx2 -mfma (the Avx2 path requires both); it has internal
// linkage (an unnamed namespace) so no other build can pick it up.
#pragma once
#include <immintrin.h>

namespace fastmlp {
namespace avx2 {
namespace {
struct V256 {
  using f = __m256;
  using i = __m256i;
  using m = __m256;
  // Tails through a zero-padded stack vector (load_n / store_n); the optimizers
  // finish theirs in scalar instead (kMasked false).
  static constexpr int W = 8;
  static constexpr bool kMasked = false;
  static f set1(float v) { return _mm256_set1_ps(v); }
  static i seti(int v) { return _mm256_set1_epi32(v); }
  static f load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, f v) { _mm256_storeu_ps(p, v); }
  // A non-temporal store (p 32-byte aligned) and the fence that orders such stores.
  static void stream(float* p, f v) { _mm256_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
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
  static f sqrt(f a) { return _mm256_sqrt_ps(a); }
  static f neg(f a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  // max_ps(v, old) is v > old ? v : old; unordered lanes take old + v (NaN).
  static f torch_max(f old, f v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, old), _mm256_add_ps(old, v),
                            _mm256_cmp_ps(old, v, _CMP_UNORD_Q));
  }
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
}  // namespace avx2
}  // namespace fastmlp
