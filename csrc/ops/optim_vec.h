// The loop shared by the optimizers' per-element algorithms (adam_vec.h,
// rmsprop_vec.h, adagrad_vec.h), templated on a vector type V (one float per
// lane: optim_scalar.h's Scalar1 on the generic path and for tails, __m256 /
// __m512 wrappers in optim_avx2.cpp / optim_avx512.cpp). The algorithms use
// only IEEE add/sub/mul/div/sqrt and compares/selects, in the same order on
// every V, so all paths give the same bits when compiled without FP
// contraction (the ISA files use -ffp-contract=off; the baseline has no FMA).
// No inline code of the baseline: safe to include from ISA-specific files.
//
// V provides: type f, W (lanes), kMasked, set1, load, store, load_n, store_n
// (masked, first n lanes; used only when kMasked), add, sub, mul, div, sqrt, neg
// (sign flip), and
// torch_max(old, v) = (old or v NaN) ? old + v : (v > old ? v : old).
#pragma once
#include "ops/optim_isa.h"

namespace fastmlp {
namespace optim_detail {

// blk.run(i, ld, st) for the full vectors of [b, e); with V::kMasked the tail
// as one masked vector too. Returns where it stopped.
template <class V, class Blk>
index_t vec_range(const Blk& blk, index_t b, index_t e) {
  auto ld = [](const float* a) { return V::load(a); };
  auto st = [](float* a, typename V::f x) { V::store(a, x); };
  index_t i = b;
  for (; i + V::W <= e; i += V::W) blk.run(i, ld, st);
  if constexpr (V::kMasked) {
    if (i < e) {
      const int n = int(e - i);
      blk.run(i, [n](const float* a) { return V::load_n(a, n); },
              [n](float* a, typename V::f x) { V::store_n(a, x, n); });
      i = e;
    }
  }
  return i;
}

}  // namespace optim_detail
}  // namespace fastmlp
