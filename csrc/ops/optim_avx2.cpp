// The optimizers' fused passes (adam_vec.h, rmsprop_vec.h, adagrad_vec.h) on
// AVX2: 8 floats per vector, full vectors only (the callers do the tail in
// scalar). Compiled with -mavx2 and -ffp-contract=off: bitwise the scalar
// path. Includes no baseline inline code (common.h).
#include <immintrin.h>
#include "ops/adagrad_vec.h"
#include "ops/adam_vec.h"
#include "ops/rmsprop_vec.h"

namespace fastmlp {
namespace {
struct V256 {
  using f = __m256;
  static constexpr int W = 8;
  static constexpr bool kMasked = false;
  static f set1(float x) { return _mm256_set1_ps(x); }
  static f load(const float* a) { return _mm256_loadu_ps(a); }
  static void store(float* a, f x) { _mm256_storeu_ps(a, x); }
  static f load_n(const float*, int) { return _mm256_setzero_ps(); }  // unused: not kMasked
  static void store_n(float*, f, int) {}
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
};
constexpr auto kAdam = adam_detail::table<V256>();
constexpr auto kRmsprop = rmsprop_detail::table<V256>();
constexpr auto kAdagrad = adagrad_detail::table<V256>();
}  // namespace

index_t adam_range_avx2(int variant, float* p, const float* g, float* m, float* v, float* mx,
                        index_t b, index_t e, const AdamScalars& k) {
  return kAdam[variant](p, g, m, v, mx, b, e, k);
}
index_t rmsprop_range_avx2(int variant, float* p, const float* g, float* v, float* buf, float* ga,
                           index_t b, index_t e, const RmspropScalars& k) {
  return kRmsprop[variant](p, g, v, buf, ga, b, e, k);
}
index_t adagrad_range_avx2(int variant, float* p, const float* g, float* s, index_t b, index_t e,
                           const AdagradScalars& k) {
  return kAdagrad[variant](p, g, s, b, e, k);
}

}  // namespace fastmlp
