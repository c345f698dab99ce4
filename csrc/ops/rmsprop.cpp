// torch.optim.RMSprop's update for one parameter, one fused float32 pass:
// param, grad, square_avg (n,) flat; momentum_buffer (n,) when momentum > 0,
// grad_avg (n,) when centered (the bindings reject overlaps).
// Elementwise (ops/optim_step.h): bitwise the same at any thread count.
#include <cmath>
#include "common.h"
#include "cpu/by_isa.h"
#include "ops/optim_scalar.h"
#include "ops/optim_step.h"
#include "ops/rmsprop_vec.h"

namespace fastmlp {
namespace {

constexpr auto kScalarTable = rmsprop_detail::table<Scalar1>();

// Elements [b, e) on the step's ISA path: the vector entry point, then the scalar rest.
void rmsprop_range(const OptimStep& k, float* p, const float* g, float* const* s, index_t b,
                   index_t e) {
  float *v = s[0], *buf = s[1], *ga = s[2];
  using Range = decltype(&rmsprop_range_avx2);
  if (const Range vec = FASTMLP_BY_ISA(k.isa, Range(nullptr), rmsprop_range_avx2, rmsprop_range_avx512))
    b = vec(k.variant, p, g, v, buf, ga, b, e, k.rmsprop);
  if (b < e) kScalarTable[k.variant](p, g, v, buf, ga, b, e, k.rmsprop);
}

}  // namespace

OptimStep rmsprop_step(double lr, double alpha, double eps, double weight_decay, double momentum,
                       bool centered, bool maximize) {
  const float w = float(1.0 - alpha);
  OptimStep st;
  RmspropScalars& k = st.rmsprop;
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
  st.variant = (weight_decay != 0.0) * 8 + centered * 4 + mom * 2 +
               (centered && std::fabs(w) < 0.5f) * 1;
  st.isa = active_isa();
  st.range = rmsprop_range;
  return st;
}

void rmsprop_update(float* param, const float* grad, float* square_avg, float* momentum_buffer,
                    float* grad_avg, index_t n, double lr, double alpha, double eps,
                    double weight_decay, double momentum, bool centered, bool maximize) {
  float* const s[kMaxOptimState] = {square_avg, momentum_buffer, grad_avg};
  optim_step_apply(rmsprop_step(lr, alpha, eps, weight_decay, momentum, centered, maximize), param,
                   grad, s, n);
}

}  // namespace fastmlp
