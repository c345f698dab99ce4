// torch.optim.Adam's and AdamW's update for one parameter, one fused float32
// pass: param, grad, exp_avg, exp_avg_sq (n,) flat, max_exp_avg_sq (n,) when
// amsgrad (the bindings reject overlaps). adamw_update is the same pass with
// the decoupled decay (csrc/ops/adamw.cpp binds the name to adam_pass here).
// Elementwise (ops/optim_step.h): bitwise the same at any thread count.
#include <cmath>
#include "common.h"
#include "cpu/by_isa.h"
#include "ops/adam_vec.h"
#include "ops/optim_step.h"
#include "ops/optim_scalar.h"

namespace fastmlp {
namespace {

constexpr auto kScalarTable = adam_detail::table<Scalar1>();

// Elements [b, e) on the step's ISA path: the vector entry point, then the scalar rest.
void adam_range(const OptimStep& k, float* p, const float* g, float* const* s, index_t b,
                index_t e) {
  float *m = s[0], *v = s[1], *mx = s[2];
  using Range = decltype(&adam_range_avx2);
  if (const Range vec = FASTMLP_BY_ISA(k.isa, Range(nullptr), adam_range_avx2, adam_range_avx512))
    b = vec(k.variant, p, g, m, v, mx, b, e, k.adam);
  if (b < e) kScalarTable[k.variant](p, g, m, v, mx, b, e, k.adam);
}

}  // namespace

OptimStep adam_step(double lr, double beta1, double beta2, double eps, double weight_decay,
                    bool amsgrad, bool maximize, double step, bool decoupled) {
  // The step's scalars in double, as PyTorch computes them from Python floats.
  const double bias_correction1 = 1.0 - std::pow(beta1, step);
  const double bias_correction2 = 1.0 - std::pow(beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);  // Python's ** 0.5
  const float w1 = float(1.0 - beta1);
  OptimStep st;
  AdamScalars& k = st.adam;
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
  st.variant = (weight_decay != 0.0) * 8 + decoupled * 4 + amsgrad * 2 + (std::fabs(w1) < 0.5f) * 1;
  st.isa = active_isa();
  st.range = adam_range;
  return st;
}

void adam_pass(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
               float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool maximize, double step, bool decoupled) {
  float* const s[kMaxOptimState] = {exp_avg, exp_avg_sq, max_exp_avg_sq};
  optim_step_apply(adam_step(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, step, decoupled),
                   param, grad, s, n);
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool amsgrad, bool maximize, double step) {
  adam_pass(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, lr, beta1, beta2, eps,
            weight_decay, amsgrad, maximize, step, false);
}

}  // namespace fastmlp
