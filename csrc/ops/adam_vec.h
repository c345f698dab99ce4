// Adam's per-element algorithm, templated on a vector type V (one float per
// lane; V = a scalar wrapper in adam.cpp, __m256 / __m512 in adam_avx2.cpp /
// adam_avx512.cpp). Only IEEE add/sub/mul/div/sqrt and compares/selects, in the
// same order on every V, so all paths give the same bits when compiled without
// FP contraction (the ISA files use -ffp-contract=off; the baseline has no FMA).
// No inline code of the baseline: safe to include from ISA-specific files.
//
// V provides: type f, W (lanes), set1, load, store, add, sub, mul, div, sqrt,
// and torch_max(old, v) = (old or v NaN) ? old + v : (v > old ? v : old).
#pragma once
#include <array>
#include <utility>
#include "ops/adam_isa.h"

namespace fastmlp {
namespace adam_detail {

// Per element, in this order (torch's _single_tensor_adam on float32 tensors):
//   g  = sign * grad;  Adam: g = g + wd * p;  AdamW: p = p * decay
//   m  = |w1| < 0.5 ? m + w1 * (g - m) : g - (g - m) * w1c        (at::lerp)
//   v  = v * beta2 + (c2 * g) * g                                  (mul_, addcmul_)
//   mx = maximum(mx, v) (NaN propagates), when amsgrad; s = amsgrad ? mx : v
//   denom = sqrt(s) / bc2_sqrt + eps
//   p  = p + (neg_step_size * m) / denom                           (addcdiv_)
template <class V, bool WD, bool Decoupled, bool Ams, bool SmallW>
struct Block {
  typename V::f sign, wd, decay, w1, w1c, beta2, c2, bc2, eps, nss;
  explicit Block(const AdamScalars& k)
      : sign(V::set1(k.sign)), wd(V::set1(k.wd)), decay(V::set1(k.decay)), w1(V::set1(k.w1)),
        w1c(V::set1(k.w1c)), beta2(V::set1(k.beta2)), c2(V::set1(k.c2)), bc2(V::set1(k.bc2_sqrt)),
        eps(V::set1(k.eps)), nss(V::set1(k.neg_step_size)) {}

  // Elements [i, i + W) when Ld/St are the full-vector load/store, or a masked part.
  template <class Ld, class St>
  void run(float* p, const float* gr, float* m, float* v, float* mx, index_t i, Ld ld, St st) const {
    using f = typename V::f;
    f g = V::mul(sign, ld(gr + i));  // exact negation or identity
    f pi = ld(p + i);
    if constexpr (WD) {
      if constexpr (Decoupled) pi = V::mul(pi, decay);
      else g = V::add(g, V::mul(wd, pi));
    }
    const f mo = ld(m + i);
    const f d = V::sub(g, mo);
    const f mi = SmallW ? V::add(mo, V::mul(w1, d)) : V::sub(g, V::mul(d, w1c));
    st(m + i, mi);
    const f vi = V::add(V::mul(ld(v + i), beta2), V::mul(V::mul(c2, g), g));
    st(v + i, vi);
    f s = vi;
    if constexpr (Ams) {
      s = V::torch_max(ld(mx + i), vi);
      st(mx + i, s);
    }
    const f denom = V::add(V::div(V::sqrt(s), bc2), eps);
    st(p + i, V::add(pi, V::div(V::mul(nss, mi), denom)));
  }
};

// Full vectors of [b, e); with V::kMasked the tail as one masked vector too.
// Returns where it stopped.
template <class V, bool WD, bool Decoupled, bool Ams, bool SmallW>
index_t range(float* p, const float* gr, float* m, float* v, float* mx, index_t b, index_t e,
              const AdamScalars& k) {
  const Block<V, WD, Decoupled, Ams, SmallW> blk(k);
  auto ld = [](const float* a) { return V::load(a); };
  auto st = [](float* a, typename V::f x) { V::store(a, x); };
  index_t i = b;
  for (; i + V::W <= e; i += V::W) blk.run(p, gr, m, v, mx, i, ld, st);
  if constexpr (V::kMasked) {
    if (i < e) {
      const int n = int(e - i);
      blk.run(p, gr, m, v, mx, i, [n](const float* a) { return V::load_n(a, n); },
              [n](float* a, typename V::f x) { V::store_n(a, x, n); });
      i = e;
    }
  }
  return i;
}

using RangeFn = index_t (*)(float*, const float*, float*, float*, float*, index_t, index_t,
                            const AdamScalars&);

template <class V, int... K>
constexpr std::array<RangeFn, sizeof...(K)> make_table(std::integer_sequence<int, K...>) {
  return {{&range<V, (K & 8) != 0, (K & 4) != 0, (K & 2) != 0, (K & 1) != 0>...}};
}

// The kAdamVariants instantiations for V, indexed as adam_isa.h says.
template <class V>
constexpr auto table() {
  return make_table<V>(std::make_integer_sequence<int, kAdamVariants>{});
}

}  // namespace adam_detail
}  // namespace fastmlp
