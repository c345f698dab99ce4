// The AVX-512F vector type of the vectorised ops (activation_vecmath.h, the
// optimizers' *_vec.h): 16 floats, tails through masked loads and stores.
// Include only from translation units compiled with the AVX-512 flags; it has
// internal linkage (an unnamed namespace) so no other build can pick it up.
#pragma once
#include <immintrin.h>

namespace fastmlp {
namespace avx512 {
namespace {
struct V512 {
  using f = __m512;
  using i = __m512i;
  using m = __mmask16;
  static constexpr int W = 16;
  static constexpr bool kMasked = true;  // tails as one masked vector
  static f set1(float v) { return _mm512_set1_ps(v); }
  static i seti(int v) { return _mm512_set1_epi32(v); }
  static f load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, f v) { _mm512_storeu_ps(p, v); }
  // A non-temporal store (p 64-byte aligned) and the fence that orders such stores.
  static void stream(float* p, f v) { _mm512_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static m first(int n) { return (__mmask16)((1u << n) - 1u); }
  static f load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_n(float* p, f v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  static f add(f a, f b) { return _mm512_add_ps(a, b); }
  static f sub(f a, f b) { return _mm512_sub_ps(a, b); }
  static f mul(f a, f b) { return _mm512_mul_ps(a, b); }
  static f div(f a, f b) { return _mm512_div_ps(a, b); }
  static f sqrt(f a) { return _mm512_sqrt_ps(a); }
  static f neg(f a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
  // max_ps(v, old) is v > old ? v : old; unordered lanes take old + v (NaN).
  static f torch_max(f old, f v) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(old, v, _CMP_UNORD_Q), _mm512_max_ps(v, old),
                                _mm512_add_ps(old, v));
  }
  static f fma(f a, f b, f c) { return _mm512_fmadd_ps(a, b, c); }
  static f min(f a, f b) { return _mm512_min_ps(a, b); }
  static f max(f a, f b) { return _mm512_max_ps(a, b); }
  static f abs(f a) { return from_bits(iand(bits(a), seti(0x7fffffff))); }
  static f round(f a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static m lt(f a, f b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static m le(f a, f b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static m gt(f a, f b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static m eq(f a, f b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static m isnan(f a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static f select(m k, f a, f b) { return _mm512_mask_blend_ps(k, b, a); }
  static i to_int(f a) { return _mm512_cvtps_epi32(a); }
  static f to_float(i a) { return _mm512_cvtepi32_ps(a); }
  static i bits(f a) { return _mm512_castps_si512(a); }
  static f from_bits(i a) { return _mm512_castsi512_ps(a); }
  static i iadd(i a, i b) { return _mm512_add_epi32(a, b); }
  static i isub(i a, i b) { return _mm512_sub_epi32(a, b); }
  static i iand(i a, i b) { return _mm512_and_si512(a, b); }
  static i ior(i a, i b) { return _mm512_or_si512(a, b); }
  static i shl23(i a) { return _mm512_slli_epi32(a, 23); }
  static i sra23(i a) { return _mm512_srai_epi32(a, 23); }
};
}  // namespace
}  // namespace avx512
}  // namespace fastmlp
