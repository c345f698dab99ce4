// torch.optim.Adagrad's update for one parameter, one fused float32 pass:
// param, grad, state_sum (n,) flat (the bindings reject overlaps).
// Elementwise on contiguous thread ranges: bitwise the same at any thread count.
#include <cmath>
#include "common.h"
#include "cpu/by_isa.h"
#include "ops/adagrad_vec.h"
#include "ops/optim_scalar.h"

namespace fastmlp {
namespace {

// Three float streams in, two out: below this a parallel region does not pay.
constexpr index_t kParallelMin = index_t(1) << 15;

constexpr auto kScalarTable = adagrad_detail::table<Scalar1>();

// Elements [b, e) on the ISA path: the vector entry point, then the scalar rest.
void adagrad_range(int variant, Isa isa, float* p, const float* g, float* s, index_t b, index_t e,
                   const AdagradScalars& k) {
  using Range = decltype(&adagrad_range_avx2);
  if (const Range vec = FASTMLP_BY_ISA(isa, Range(nullptr), adagrad_range_avx2, adagrad_range_avx512))
    b = vec(variant, p, g, s, b, e, k);
  if (b < e) kScalarTable[variant](p, g, s, b, e, k);
}

}  // namespace

void adagrad_update(float* param, const float* grad, float* state_sum, index_t n, double lr,
                    double lr_decay, double weight_decay, double eps, bool maximize,
                    double step) {
  // clr in double, as torch computes it from Python floats; addcdiv_ takes value=-clr.
  const double clr = lr / (1.0 + (step - 1.0) * lr_decay);
  AdagradScalars k;
  k.wd = float(weight_decay);
  k.eps = float(eps);
  k.neg_clr = float(-clr);
  k.sign = maximize ? -1.0f : 1.0f;
  const int variant = weight_decay != 0.0;
  const Isa isa = active_isa();
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    adagrad_range(variant, isa, param, grad, state_sum, b, e, k);
  });
}

}  // namespace fastmlp
