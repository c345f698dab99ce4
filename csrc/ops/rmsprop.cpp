// torch.optim.RMSprop's update for one parameter, one fused float32 pass:
// param, grad, square_avg (n,) flat; momentum_buffer (n,) when momentum > 0,
// grad_avg (n,) when centered (the bindings reject overlaps).
// Elementwise on contiguous thread ranges: bitwise the same at any thread count.
#include <array>
#include <cmath>
#include <utility>
#include "common.h"

namespace fastmlp {
namespace {

// Up to six float streams in, five out: below this a parallel region does not pay.
constexpr index_t kParallelMin = index_t(1) << 15;

// The float32 scalars of one step, formed as torch/optim/rmsprop.py forms them:
// from Python floats (double here), cast to float where a tensor op takes them.
struct Scalars {
  float wd;         // grad.add(param, alpha=weight_decay)
  float alpha, c;   // square_avg.mul_(alpha).addcmul_(grad, grad, value=c = 1 - alpha)
  float w, wc;      // grad_avg.lerp_(grad, w = 1 - alpha): wc = 1 - w (float), at::lerp's other branch
  float eps;
  float momentum;   // buf.mul_(momentum)
  float neg_lr;     // -lr: param.add_(buf, alpha=-lr) / param.addcdiv_(grad, avg, value=-lr)
  float sign;       // -1 if maximize
};

// Per element, in this order (torch's _single_tensor_rmsprop on float32 tensors):
//   g   = sign * grad;  g = g + wd * p                              (weight_decay != 0)
//   v   = v * alpha + (c * g) * g                                   (mul_, addcmul_)
//   centered: ga = |w| < 0.5 ? ga + w * (g - ga) : g - (g - ga) * wc (at::lerp)
//             avg = sqrt(v - ga * ga) + eps                          (addcmul value=-1, sqrt_, add_)
//   else:     avg = sqrt(v) + eps
//   momentum > 0: buf = buf * momentum + g / avg;  p = p + neg_lr * buf   (addcdiv_, add_)
//   else:         p = p + (neg_lr * g) / avg                         (addcdiv_)
template <bool WD, bool Centered, bool Mom, bool SmallW>
void rmsprop_range(float* __restrict p, const float* __restrict gr, float* __restrict v,
                   float* __restrict buf, float* __restrict ga, index_t b, index_t e,
                   const Scalars& k) {
  for (index_t i = b; i < e; ++i) {
    float g = k.sign * gr[i];  // exact negation or identity
    if constexpr (WD) g = g + k.wd * p[i];
    const float vi = v[i] * k.alpha + (k.c * g) * g;
    v[i] = vi;
    float avg;
    if constexpr (Centered) {
      const float d = g - ga[i];
      const float gi = SmallW ? ga[i] + k.w * d : g - d * k.wc;
      ga[i] = gi;
      avg = std::sqrt(vi + (-gi) * gi) + k.eps;  // (-1 * ga) * ga: an exact negation first
    } else {
      avg = std::sqrt(vi) + k.eps;
    }
    if constexpr (Mom) {
      const float bi = buf[i] * k.momentum + g / avg;
      buf[i] = bi;
      p[i] = p[i] + k.neg_lr * bi;
    } else {
      p[i] = p[i] + (k.neg_lr * g) / avg;
    }
  }
}

using RangeFn = void (*)(float*, const float*, float*, float*, float*, index_t, index_t,
                         const Scalars&);

template <int... K>
constexpr std::array<RangeFn, sizeof...(K)> make_table(std::integer_sequence<int, K...>) {
  return {{&rmsprop_range<(K & 8) != 0, (K & 4) != 0, (K & 2) != 0, (K & 1) != 0>...}};
}
constexpr auto kTable = make_table(std::make_integer_sequence<int, 16>{});

}  // namespace

void rmsprop_update(float* param, const float* grad, float* square_avg, float* momentum_buffer,
                    float* grad_avg, index_t n, double lr, double alpha, double eps,
                    double weight_decay, double momentum, bool centered, bool maximize) {
  const float w = float(1.0 - alpha);
  Scalars k;
  k.wd = float(weight_decay);
  k.alpha = float(alpha);
  k.c = w;  // addcmul_'s value=1 - alpha and lerp_'s weight 1 - alpha: the same float
  k.w = w;
  k.wc = 1.0f - w;
  k.eps = float(eps);
  k.momentum = float(momentum);
  k.neg_lr = float(-lr);
  k.sign = maximize ? -1.0f : 1.0f;
  const bool mom = momentum > 0.0;  // torch branches on the Python float
  const RangeFn fn = kTable[(weight_decay != 0.0) * 8 + centered * 4 + mom * 2 +
                            (centered && std::fabs(w) < 0.5f) * 1];
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    fn(param, grad, square_avg, momentum_buffer, grad_avg, b, e, k);
  });
}

}  // namespace fastmlp
