// torch.optim.SGD's update for one parameter, one fused float32 pass:
// param, grad, momentum_buffer (n,) flat (the bindings reject overlaps).
// Elementwise (ops/optim_step.h): bitwise the same at any thread count.
#include <array>
#include <utility>
#include "common.h"
#include "ops/optim_step.h"

namespace fastmlp {
namespace {

template <bool WD, bool Mom, bool First, bool Nest>
void sgd_range(float* __restrict p, const float* __restrict gr, float* __restrict buf, index_t b,
               index_t e, const SgdScalars& h) {
  const float lr = h.lr, mom = h.momentum, damp1 = h.damp1, wd = h.weight_decay, sign = h.sign;
  for (index_t i = b; i < e; ++i) {
    float g = sign * gr[i];  // exact negation or identity
    if constexpr (WD) g += wd * p[i];
    if constexpr (Mom) {
      const float v = First ? g : mom * buf[i] + damp1 * g;  // no dampening on step 1
      buf[i] = v;
      g = Nest ? g + mom * v : v;
    }
    p[i] -= lr * g;
  }
}

using RangeFn = void (*)(float*, const float*, float*, index_t, index_t, const SgdScalars&);

template <int... K>
constexpr std::array<RangeFn, sizeof...(K)> make_table(std::integer_sequence<int, K...>) {
  return {{&sgd_range<(K & 8) != 0, (K & 4) != 0, (K & 2) != 0, (K & 1) != 0>...}};
}
constexpr auto kTable = make_table(std::make_integer_sequence<int, 16>{});

void sgd_step_range(const OptimStep& k, float* p, const float* g, float* const* s, index_t b, index_t e) {
  kTable[k.variant](p, g, s[0], b, e, k.sgd);
}

}  // namespace

OptimStep sgd_step(float lr, float momentum, float dampening, float weight_decay, bool nesterov, bool maximize,
                   bool first_step) {
  OptimStep st;
  // 1 - dampening as PyTorch forms it (a double scalar, cast to float once).
  st.sgd = {lr, momentum, float(1.0 - double(dampening)), weight_decay, maximize ? -1.0f : 1.0f};
  const bool mom = momentum != 0.0f;
  st.variant = (weight_decay != 0.0f) * 8 + mom * 4 + (mom && first_step) * 2 + (mom && nesterov) * 1;
  st.isa = active_isa();
  st.range = sgd_step_range;
  return st;
}

void sgd_update(float* param, const float* grad, float* momentum_buffer, index_t n, float lr,
                float momentum, float dampening, float weight_decay, bool nesterov, bool maximize,
                bool first_step) {
  float* const s[kMaxOptimState] = {momentum_buffer, nullptr, nullptr};
  optim_step_apply(sgd_step(lr, momentum, dampening, weight_decay, nesterov, maximize, first_step), param, grad,
                   s, n);
}

}  // namespace fastmlp
