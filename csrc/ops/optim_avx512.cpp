// The optimizers' fused passes (adam_vec.h, rmsprop_vec.h, adagrad_vec.h) on
// AVX-512F: 16 floats per vector, the tail as one masked vector. Compiled with
// the AVX-512 flags and -ffp-contract=off: bitwise the scalar path. Includes
// no baseline inline code (common.h).
#include <immintrin.h>
#include "ops/adagrad_vec.h"
#include "ops/adam_vec.h"
#include "ops/rmsprop_vec.h"
#include "ops/simd_avx512.h"

namespace fastmlp {
namespace {
using avx512::V512;  // ops/simd_avx512.h
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
