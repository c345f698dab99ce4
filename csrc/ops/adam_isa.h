// Adam's per-step float32 scalars and the per-ISA entry points of its fused
// pass (adam.cpp dispatches on active_isa()). Declarations only: included by
// the ISA-specific files adam_avx2.cpp / adam_avx512.cpp.
#pragma once
#include "kernels.h"

namespace fastmlp {

// The float32 scalars of one step, formed as torch/optim/adam.py forms them:
// from Python floats (double in adam.cpp), cast to float where a tensor op takes them.
struct AdamScalars {
  float wd;          // Adam: grad.add(param, alpha=weight_decay)
  float decay;       // AdamW: param.mul_(1 - lr*weight_decay)
  float w1, w1c;     // exp_avg.lerp_(grad, w1): w1 = 1 - beta1, w1c = 1 - w1 (float)
  float beta2, c2;   // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=c2 = 1 - beta2)
  float bc2_sqrt;    // (1 - beta2**step) ** 0.5
  float eps;
  float neg_step_size;  // -(lr / (1 - beta1**step))
  float sign;           // -1 if maximize
};

// The variant index of adam_vec.h's adam_block: weight decay * 8 + decoupled * 4 +
// amsgrad * 2 + (|w1| < 0.5).
constexpr int kAdamVariants = 16;

// Elements [b, e) of the pass (adam_vec.h's algorithm, bitwise the scalar's);
// returns the index it stopped at (the caller does [returned, e) in scalar).
// mx is read and written only for the amsgrad variants.
index_t adam_range_avx2(int variant, float* p, const float* g, float* m, float* v, float* mx,
                        index_t b, index_t e, const AdamScalars& k);
index_t adam_range_avx512(int variant, float* p, const float* g, float* m, float* v, float* mx,
                          index_t b, index_t e, const AdamScalars& k);

}  // namespace fastmlp
