// RMSprop's per-element algorithm on optim_vec.h's vector type V (see there
// for the bitwise contract). Safe to include from ISA-specific files.
#pragma once
#include <array>
#include <utility>
#include "ops/optim_vec.h"

namespace fastmlp {
namespace rmsprop_detail {

// Per element, in this order (torch's _single_tensor_rmsprop on float32 tensors):
//   g   = sign * grad;  g = g + wd * p                              (weight_decay != 0)
//   v   = v * alpha + (c * g) * g                                   (mul_, addcmul_)
//   centered: ga = |w| < 0.5 ? ga + w * (g - ga) : g - (g - ga) * wc (at::lerp)
//             avg = sqrt(v + (-ga) * ga) + eps                       (addcmul value=-1, sqrt_, add_)
//   else:     avg = sqrt(v) + eps
//   momentum > 0: buf = buf * momentum + g / avg;  p = p + neg_lr * buf   (addcdiv_, add_)
//   else:         p = p + (neg_lr * g) / avg                         (addcdiv_)
template <class V, bool WD, bool Centered, bool Mom, bool SmallW>
struct Block {
  float* p; const float* gr; float* v; float* buf; float* ga;
  typename V::f sign, wd, alpha, c, w, wc, eps, momentum, neg_lr;
  Block(float* p_, const float* gr_, float* v_, float* buf_, float* ga_, const RmspropScalars& k)
      : p(p_), gr(gr_), v(v_), buf(buf_), ga(ga_), sign(V::set1(k.sign)), wd(V::set1(k.wd)),
        alpha(V::set1(k.alpha)), c(V::set1(k.c)), w(V::set1(k.w)), wc(V::set1(k.wc)),
        eps(V::set1(k.eps)), momentum(V::set1(k.momentum)), neg_lr(V::set1(k.neg_lr)) {}

  template <class Ld, class St>
  void run(index_t i, Ld ld, St st) const {
    using f = typename V::f;
    f g = V::mul(sign, ld(gr + i));  // exact negation or identity
    if constexpr (WD) g = V::add(g, V::mul(wd, ld(p + i)));
    const f vi = V::add(V::mul(ld(v + i), alpha), V::mul(V::mul(c, g), g));
    st(v + i, vi);
    f avg;
    if constexpr (Centered) {
      const f go = ld(ga + i);
      const f d = V::sub(g, go);
      const f gi = SmallW ? V::add(go, V::mul(w, d)) : V::sub(g, V::mul(d, wc));
      st(ga + i, gi);
      // (-1 * ga) * ga as torch's addcmul value=-1: an exact negation (sign flip) first.
      avg = V::add(V::sqrt(V::add(vi, V::mul(V::neg(gi), gi))), eps);
    } else {
      avg = V::add(V::sqrt(vi), eps);
    }
    if constexpr (Mom) {
      const f bi = V::add(V::mul(ld(buf + i), momentum), V::div(g, avg));
      st(buf + i, bi);
      st(p + i, V::add(ld(p + i), V::mul(neg_lr, bi)));
    } else {
      st(p + i, V::add(ld(p + i), V::div(V::mul(neg_lr, g), avg)));
    }
  }
};

template <class V, bool WD, bool Centered, bool Mom, bool SmallW>
index_t range(float* p, const float* gr, float* v, float* buf, float* ga, index_t b, index_t e,
              const RmspropScalars& k) {
  return optim_detail::vec_range<V>(Block<V, WD, Centered, Mom, SmallW>(p, gr, v, buf, ga, k), b, e);
}

using RangeFn = index_t (*)(float*, const float*, float*, float*, float*, index_t, index_t,
                            const RmspropScalars&);

template <class V, int... K>
constexpr std::array<RangeFn, sizeof...(K)> make_table(std::integer_sequence<int, K...>) {
  return {{&range<V, (K & 8) != 0, (K & 4) != 0, (K & 2) != 0, (K & 1) != 0>...}};
}

// Indexed weight decay * 8 + centered * 4 + (momentum > 0) * 2 + (centered and |w| < 0.5).
template <class V>
constexpr auto table() {
  return make_table<V>(std::make_integer_sequence<int, kRmspropVariants>{});
}

}  // namespace rmsprop_detail
}  // namespace fastmlp
