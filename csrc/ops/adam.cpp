// torch.optim.Adam's and AdamW's update for one parameter, one fused float32
// pass: param, grad, exp_avg, exp_avg_sq (n,) flat, max_exp_avg_sq (n,) when
// amsgrad (the bindings reject overlaps). adamw_update is the same pass with
// the decoupled decay (csrc/ops/adamw.cpp binds the name to adam_pass here).
// Elementwise on contiguous thread ranges: bitwise the same at any thread count.
#include <array>
#include <cmath>
#include <utility>
#include "common.h"

namespace fastmlp {
namespace {

// Five float streams in, four out: below this a parallel region does not pay.
constexpr index_t kParallelMin = index_t(1) << 15;

// The float32 scalars of one step, formed as torch/optim/adam.py forms them:
// from Python floats (double here), cast to float where a tensor op takes them.
struct Scalars {
  float wd;          // Adam: grad.add(param, alpha=weight_decay)
  float decay;       // AdamW: param.mul_(1 - lr*weight_decay)
  float w1, w1c;     // exp_avg.lerp_(grad, w1): w1 = 1 - beta1, w1c = 1 - w1 (float)
  float beta2, c2;   // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=c2 = 1 - beta2)
  float bc2_sqrt;    // (1 - beta2**step) ** 0.5
  float eps;
  float neg_step_size;  // -(lr / (1 - beta1**step))
  float sign;           // -1 if maximize
};

// Per element, in this order (torch's _single_tensor_adam on float32 tensors):
//   g  = sign * grad;  Adam: g = g + wd * p;  AdamW: p = p * decay
//   m  = |w1| < 0.5 ? m + w1 * (g - m) : g - (g - m) * w1c        (at::lerp)
//   v  = v * beta2 + (c2 * g) * g                                  (mul_, addcmul_)
//   mx = maximum(mx, v) (NaN propagates), when amsgrad; s = amsgrad ? mx : v
//   denom = sqrt(s) / bc2_sqrt + eps
//   p  = p + (neg_step_size * m) / denom                           (addcdiv_)
template <bool WD, bool Decoupled, bool Ams, bool SmallW>
void adam_range(float* __restrict p, const float* __restrict gr, float* __restrict m,
                float* __restrict v, float* __restrict mx, index_t b, index_t e, const Scalars& k) {
  for (index_t i = b; i < e; ++i) {
    float g = k.sign * gr[i];  // exact negation or identity
    float pi = p[i];
    if constexpr (WD) {
      if constexpr (Decoupled) pi = pi * k.decay;
      else g = g + k.wd * pi;
    }
    const float d = g - m[i];
    const float mi = SmallW ? m[i] + k.w1 * d : g - d * k.w1c;
    m[i] = mi;
    const float vi = v[i] * k.beta2 + (k.c2 * g) * g;
    v[i] = vi;
    float s = vi;
    if constexpr (Ams) {
      const float old = mx[i];
      s = (old != old || vi != vi) ? old + vi : (vi > old ? vi : old);  // torch.maximum
      mx[i] = s;
    }
    const float denom = std::sqrt(s) / k.bc2_sqrt + k.eps;
    p[i] = pi + (k.neg_step_size * mi) / denom;
  }
}

using RangeFn = void (*)(float*, const float*, float*, float*, float*, index_t, index_t,
                         const Scalars&);

template <int... K>
constexpr std::array<RangeFn, sizeof...(K)> make_table(std::integer_sequence<int, K...>) {
  return {{&adam_range<(K & 8) != 0, (K & 4) != 0, (K & 2) != 0, (K & 1) != 0>...}};
}
constexpr auto kTable = make_table(std::make_integer_sequence<int, 16>{});

}  // namespace

void adam_pass(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
               float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool maximize, double step, bool decoupled) {
  // The step's scalars in double, as PyTorch computes them from Python floats.
  const double bias_correction1 = 1.0 - std::pow(beta1, step);
  const double bias_correction2 = 1.0 - std::pow(beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);  // Python's ** 0.5
  const float w1 = float(1.0 - beta1);
  Scalars k;
  k.wd = float(weight_decay);
  k.decay = float(1.0 - lr * weight_decay);
  k.w1 = w1;
  k.w1c = 1.0f - w1;
  k.beta2 = float(beta2);
  k.c2 = float(1.0 - beta2);
  k.bc2_sqrt = float(bias_correction2_sqrt);
  k.eps = float(eps);
  k.neg_step_size = float(-step_size);
  k.sign = maximize ? -1.0f : 1.0f;
  const RangeFn fn = kTable[(weight_decay != 0.0) * 8 + decoupled * 4 + amsgrad * 2 +
                            (std::fabs(w1) < 0.5f) * 1];
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    fn(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, b, e, k);
  });
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool amsgrad, bool maximize, double step) {
  adam_pass(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, lr, beta1, beta2, eps,
            weight_decay, amsgrad, maximize, step, false);
}

}  // namespace fastmlp
