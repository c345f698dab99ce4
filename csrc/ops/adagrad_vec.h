// Adagrad's per-element algorithm on optim_vec.h's vector type V (see there
// for the bitwise contract). Safe to include from ISA-specific files.
#pragma once
#include <array>
#include "ops/optim_vec.h"

namespace fastmlp {
namespace adagrad_detail {

// Per element, in this order (torch's _single_tensor_adagrad on float32 tensors):
//   g   = sign * grad;  g = g + wd * p                  (weight_decay != 0)
//   s   = s + g * g                                     (addcmul_(grad, grad, value=1))
//   p   = p + (neg_clr * g) / (sqrt(s) + eps)           (sqrt().add_(eps), addcdiv_)
template <class V, bool WD>
struct Block {
  float* p; const float* gr; float* s;
  typename V::f sign, wd, eps, neg_clr;
  Block(float* p_, const float* gr_, float* s_, const AdagradScalars& k)
      : p(p_), gr(gr_), s(s_), sign(V::set1(k.sign)), wd(V::set1(k.wd)), eps(V::set1(k.eps)),
        neg_clr(V::set1(k.neg_clr)) {}

  template <class Ld, class St>
  void run(index_t i, Ld ld, St st) const {
    using f = typename V::f;
    f g = V::mul(sign, ld(gr + i));  // exact negation or identity
    const f pi = ld(p + i);
    if constexpr (WD) g = V::add(g, V::mul(wd, pi));
    const f si = V::add(ld(s + i), V::mul(g, g));
    st(s + i, si);
    st(p + i, V::add(pi, V::div(V::mul(neg_clr, g), V::add(V::sqrt(si), eps))));
  }
};

template <class V, bool WD>
index_t range(float* p, const float* gr, float* s, index_t b, index_t e, const AdagradScalars& k) {
  return optim_detail::vec_range<V>(Block<V, WD>(p, gr, s, k), b, e);
}

using RangeFn = index_t (*)(float*, const float*, float*, index_t, index_t, const AdagradScalars&);

// Indexed (weight_decay != 0).
template <class V>
constexpr std::array<RangeFn, kAdagradVariants> table() {
  return {{&range<V, false>, &range<V, true>}};
}

}  // namespace adagrad_detail
}  // namespace fastmlp
