// Adam's per-element algorithm on optim_vec.h's vector type V (see there for
// the bitwise contract). Safe to include from ISA-specific files.
#pragma once
#include <array>
#include <utility>
#include "ops/optim_vec.h"

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
  float* p; const float* gr; float* m; float* v; float* mx;
  typename V::f sign, wd, decay, w1, w1c, beta2, c2, bc2, eps, nss;
  Block(float* p_, const float* gr_, float* m_, float* v_, float* mx_, const AdamScalars& k)
      : p(p_), gr(gr_), m(m_), v(v_), mx(mx_), sign(V::set1(k.sign)), wd(V::set1(k.wd)),
        decay(V::set1(k.decay)), w1(V::set1(k.w1)), w1c(V::set1(k.w1c)), beta2(V::set1(k.beta2)),
        c2(V::set1(k.c2)), bc2(V::set1(k.bc2_sqrt)), eps(V::set1(k.eps)),
        nss(V::set1(k.neg_step_size)) {}

  template <class Ld, class St>
  void run(index_t i, Ld ld, St st) const {
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

template <class V, bool WD, bool Decoupled, bool Ams, bool SmallW>
index_t range(float* p, const float* gr, float* m, float* v, float* mx, index_t b, index_t e,
              const AdamScalars& k) {
  return optim_detail::vec_range<V>(Block<V, WD, Decoupled, Ams, SmallW>(p, gr, m, v, mx, k), b, e);
}

using RangeFn = index_t (*)(float*, const float*, float*, float*, float*, index_t, index_t,
                            const AdamScalars&);

template <class V, int... K>
constexpr std::array<RangeFn, sizeof...(K)> make_table(std::integer_sequence<int, K...>) {
  return {{&range<V, (K & 8) != 0, (K & 4) != 0, (K & 2) != 0, (K & 1) != 0>...}};
}

// Indexed weight decay * 8 + decoupled * 4 + amsgrad * 2 + (|w1| < 0.5).
template <class V>
constexpr auto table() {
  return make_table<V>(std::make_integer_sequence<int, kAdamVariants>{});
}

}  // namespace adam_detail
}  // namespace fastmlp
