// The optimizers' fused passes (adam_vec.h, rmsprop_vec.h, adagrad_vec.h) on
// AVX-512F: 16 floats per vector, the tail as one masked vector. Compiled with
// the AVX-512 flags and -ffp-contract=off: bitwise the scalar path. Includes
// no baseline inline code (common.h).
#include <immintrin.h>
#include "ops/adagrad_vec.h"
#include "ops/adam_vec.h"
#include "ops/rmsprop_vec.h"

namespace fastmlp {
namespace {
struct V512 {
  using f = __m512;
  static constexpr int W = 16;
  static constexpr bool kMasked = true;
  static __mmask16 first(int n) { return (__mmask16)((1u << n) - 1u); }
  static f set1(float x) { return _mm512_set1_ps(x); }
  static f load(const float* a) { return _mm512_loadu_ps(a); }
  static void store(float* a, f x) { _mm512_storeu_ps(a, x); }
  static f load_n(const float* a, int n) { return _mm512_maskz_loadu_ps(first(n), a); }
  static void store_n(float* a, f x, int n) { _mm512_mask_storeu_ps(a, first(n), x); }
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
};
constexpr auto kAdam = adam_detail::table<V512>();
constexpr auto kRmsprop = rmsprop_detail::table<V512>();
constexpr auto kAdagrad = adagrad_detail::table<V512>();
}  // namespace

index_t adam_range_avx512(int variant, float* p, const float* g, float* m, float* v, float* mx,
                          index_t b, index_t e, const AdamScalars& k) {
  return kAdam[variant](p, g, m, v, mx, b, e, k);
}
index_t rmsprop_range_avx512(int variant, float* p, const float* g, float* v, float* buf,
                             float* ga, index_t b, index_t e, const RmspropScalars& k) {
  return kRmsprop[variant](p, g, v, buf, ga, b, e, k);
}
index_t adagrad_range_avx512(int variant, float* p, const float* g, float* s, index_t b, index_t e,
                             const AdagradScalars& k) {
  return kAdagrad[variant](p, g, s, b, e, k);
}

}  // namespace fastmlp
