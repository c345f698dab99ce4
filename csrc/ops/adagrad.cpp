// torch.optim.Adagrad's update for one parameter, one fused float32 pass:
// param, grad, state_sum (n,) flat (the bindings reject overlaps).
// Elementwise (ops/optim_step.h): bitwise the same at any thread count.
#include <cmath>
#include "common.h"
#include "cpu/by_isa.h"
#include "ops/adagrad_vec.h"
#include "ops/optim_scalar.h"
#include "ops/optim_step.h"

namespace fastmlp {
namespace {

constexpr auto kScalarTable = adagrad_detail::table<Scalar1>();

// Elements [b, e) on the step's ISA path: the vector entry point, then the scalar rest.
void adagrad_range(const OptimStep& k, float* p, const float* g, float* const* s, index_t b,
                   index_t e) {
  using Range = decltype(&adagrad_range_avx2);
  if (const Range vec = FASTMLP_BY_ISA(k.isa, Range(nullptr), adagrad_range_avx2, adagrad_range_avx512))
    b = vec(k.variant, p, g, s[0], b, e, k.adagrad);
  if (b < e) kScalarTable[k.variant](p, g, s[0], b, e, k.adagrad);
}

}  // namespace

OptimStep adagrad_step(double lr, double lr_decay, double weight_decay, double eps, bool maximize,
                       double step) {
  // clr in double, as torch computes it from Python floats; addcdiv_ takes value=-clr.
  const double clr = lr / (1.0 + (step - 1.0) * lr_decay);
  OptimStep st;
  AdagradScalars& k = st.adagrad;
  k.wd = float(weight_decay);
  k.eps = float(eps);
  k.neg_clr = float(-clr);
  k.sign = maximize ? -1.0f : 1.0f;
  st.variant = weight_decay != 0.0;
  st.isa = active_isa();
  st.range = adagrad_range;
  return st;
}

void adagrad_update(float* param, const float* grad, float* state_sum, index_t n, double lr,
                    double lr_decay, double weight_decay, double eps, bool maximize,
                    double step) {
  float* const s[kMaxOptimState] = {state_sum, nullptr, nullptr};
  optim_step_apply(adagrad_step(lr, lr_decay, weight_decay, eps, maximize, step), param, grad, s, n);
}

}  // namespace fastmlp
