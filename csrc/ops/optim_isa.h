// The optimizers' per-step float32 scalars and the per-ISA entry points of
// their fused passes (adam.cpp, rmsprop.cpp, adagrad.cpp dispatch on
// active_isa()). Declarations only: included by the ISA-specific files
// optim_avx2.cpp / optim_avx512.cpp.
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

// The same for torch/optim/rmsprop.py.
struct RmspropScalars {
  float wd;         // grad.add(param, alpha=weight_decay)
  float alpha, c;   // square_avg.mul_(alpha).addcmul_(grad, grad, value=c = 1 - alpha)
  float w, wc;      // grad_avg.lerp_(grad, w = 1 - alpha): wc = 1 - w (float), at::lerp's other branch
  float eps;
  float momentum;   // buf.mul_(momentum)
  float neg_lr;     // -lr: param.add_(buf, alpha=-lr) / param.addcdiv_(grad, avg, value=-lr)
  float sign;       // -1 if maximize
};

// The same for torch/optim/adagrad.py.
struct AdagradScalars {
  float wd;       // grad.add(param, alpha=weight_decay)
  float eps;      // std.add_(eps)
  float neg_clr;  // addcdiv_'s value=-clr
  float sign;     // -1 if maximize
};

// The variant index of adam_vec.h / rmsprop_vec.h (16 each): see their tables;
// adagrad_vec.h's is weight decay (2).
constexpr int kAdamVariants = 16, kRmspropVariants = 16, kAdagradVariants = 2;

// Elements [b, e) of the pass (the *_vec.h algorithm, bitwise the scalar's);
// each returns the index it stopped at (the caller does [returned, e) in scalar).
// Pointers a variant does not use (mx without amsgrad, buf without momentum,
// ga uncentered) are not touched.
#define FASTMLP_OPTIM_ISA(suffix)                                                                 \
  index_t adam_range_##suffix(int variant, float* p, const float* g, float* m, float* v,          \
                              float* mx, index_t b, index_t e, const AdamScalars& k);             \
  index_t rmsprop_range_##suffix(int variant, float* p, const float* g, float* v, float* buf,     \
                                 float* ga, index_t b, index_t e, const RmspropScalars& k);       \
  index_t adagrad_range_##suffix(int variant, float* p, const float* g, float* s, index_t b,      \
                                 index_t e, const AdagradScalars& k);
FASTMLP_OPTIM_ISA(avx2)
FASTMLP_OPTIM_ISA(avx512)
#undef FASTMLP_OPTIM_ISA

}  // namespace fastmlp
