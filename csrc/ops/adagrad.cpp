// torch.optim.Adagrad's update for one parameter, one fused float32 pass:
// param, grad, state_sum (n,) flat (the bindings reject overlaps).
// Elementwise on contiguous thread ranges: bitwise the same at any thread count.
#include <cmath>
#include "common.h"

namespace fastmlp {
namespace {

// Three float streams in, two out: below this a parallel region does not pay.
constexpr index_t kParallelMin = index_t(1) << 15;

// Per element, in this order (torch's _single_tensor_adagrad on float32 tensors):
//   g   = sign * grad;  g = g + wd * p                  (weight_decay != 0)
//   s   = s + g * g                                     (addcmul_(grad, grad, value=1))
//   p   = p + (neg_clr * g) / (sqrt(s) + eps)           (sqrt().add_(eps), addcdiv_)
template <bool WD>
void adagrad_range(float* __restrict p, const float* __restrict gr, float* __restrict s,
                   index_t b, index_t e, float wd, float eps, float neg_clr, float sign) {
  for (index_t i = b; i < e; ++i) {
    float g = sign * gr[i];  // exact negation or identity
    if constexpr (WD) g = g + wd * p[i];
    const float si = s[i] + g * g;
    s[i] = si;
    p[i] = p[i] + (neg_clr * g) / (std::sqrt(si) + eps);
  }
}

}  // namespace

void adagrad_update(float* param, const float* grad, float* state_sum, index_t n, double lr,
                    double lr_decay, double weight_decay, double eps, bool maximize,
                    double step) {
  // clr in double, as torch computes it from Python floats; addcdiv_ takes value=-clr.
  const double clr = lr / (1.0 + (step - 1.0) * lr_decay);
  const float wd = float(weight_decay), fe = float(eps), neg_clr = float(-clr);
  const float sign = maximize ? -1.0f : 1.0f;
  const bool with_wd = weight_decay != 0.0;
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    (with_wd ? adagrad_range<true> : adagrad_range<false>)(param, grad, state_sum, b, e, wd, fe,
                                                           neg_clr, sign);
  });
}

}  // namespace fastmlp
