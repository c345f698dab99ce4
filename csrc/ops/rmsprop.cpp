// torch.optim.RMSprop's update for one parameter, one fused float32 pass:
// param, grad, square_avg (n,) flat; momentum_buffer (n,) when momentum > 0,
// grad_avg (n,) when centered (the bindings reject overlaps).
// Elementwise on contiguous thread ranges: bitwise the same at any thread count.
#include <cmath>
#include "common.h"
#include "cpu/by_isa.h"
#include "ops/optim_scalar.h"
#include "ops/rmsprop_vec.h"

namespace fastmlp {
namespace {

// Up to six float streams in, five out: below this a parallel region does not pay.
constexpr index_t kParallelMin = index_t(1) << 15;

constexpr auto kScalarTable = rmsprop_detail::table<Scalar1>();

// Elements [b, e) on the ISA path: the vector entry point, then the scalar rest.
void rmsprop_range(int variant, Isa isa, float* p, const float* g, float* v, float* buf,
                   float* ga, index_t b, index_t e, const RmspropScalars& k) {
  using Range = decltype(&rmsprop_range_avx2);
  if (const Range vec = FASTMLP_BY_ISA(isa, Range(nullptr), rmsprop_range_avx2, rmsprop_range_avx512))
    b = vec(variant, p, g, v, buf, ga, b, e, k);
  if (b < e) kScalarTable[variant](p, g, v, buf, ga, b, e, k);
}

}  // namespace

void rmsprop_update(float* param, const float* grad, float* square_avg, float* momentum_buffer,
                    float* grad_avg, index_t n, double lr, double alpha, double eps,
                    double weight_decay, double momentum, bool centered, bool maximize) {
  const float w = float(1.0 - alpha);
  RmspropScalars k;
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
  const int variant = (weight_decay != 0.0) * 8 + centered * 4 + mom * 2 +
                      (centered && std::fabs(w) < 0.5f) * 1;
  const Isa isa = active_isa();
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    rmsprop_range(variant, isa, param, grad, square_avg, momentum_buffer, grad_avg, b, e, k);
  });
}

}  // namespace fastmlp
