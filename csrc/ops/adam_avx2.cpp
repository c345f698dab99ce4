// Adam's fused pass (adam_vec.h) on AVX2: 8 floats per vector, full vectors
// only (adam.cpp does the tail in scalar). Compiled with -mavx2 and
// -ffp-contract=off: bitwise the scalar path. Includes no baseline inline code.
#include <immintrin.h>
#include "ops/adam_vec.h"

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
  // max_ps(v, old) is v > old ? v : old; unordered lanes take old + v (NaN).
  static f torch_max(f old, f v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, old), _mm256_add_ps(old, v),
                            _mm256_cmp_ps(old, v, _CMP_UNORD_Q));
  }
};
constexpr auto kTable = adam_detail::table<V256>();
}  // namespace

index_t adam_range_avx2(int variant, float* p, const float* g, float* m, float* v, float* mx,
                        index_t b, index_t e, const AdamScalars& k) {
  return kTable[variant](p, g, m, v, mx, b, e, k);
}

}  // namespace fastmlp
