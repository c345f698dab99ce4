// One optimizer step of one parameter, its per-step scalars formed once, and
// applicable to any sub-ranges of the parameter's elements. The updates of
// sgd_update, adam_update / adamw_update, rmsprop_update and adagrad_update
// (kernels.h) are elementwise: element i's new value depends only on element
// i of the parameter, the gradient and the state, and on the step's scalars. So
// running one step range by range, in any order and on any threads, gives
// exactly the bits of one pass. The kernels run through it (sgd.cpp, adam.cpp,
// rmsprop.cpp, adagrad.cpp), and so does the fused epoch's per-block update
// right after each block of the weight gradient (train/train_step.cpp).
// Baseline code only (the ISA paths are reached through optim_isa.h).
#pragma once
#include "ops/optim_isa.h"

namespace fastmlp {

// The most state arrays an optimizer step uses.
constexpr int kMaxOptimState = 3;

// torch.optim.SGD's scalars (sgd.cpp: one baseline loop, no per-ISA path).
struct SgdScalars {
  float lr, momentum, damp1 /* 1 - dampening */, weight_decay, sign /* -1 if maximize */;
};

struct OptimStep {
  // Elements [b, e) of p (param), g (grad) and the state arrays s[0..2], all
  // indexed alike; s's meaning per kind is ParamSlot::state's (train/train.h):
  //   SGD: momentum_buffer (momentum != 0);
  //   Adam, AdamW: exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad);
  //   RMSprop: square_avg, momentum_buffer (momentum > 0), grad_avg (centered);
  //   Adagrad: state_sum.
  // Arrays a variant does not use may be nullptr and are not touched.
  using RangeFn = void (*)(const OptimStep& k, float* p, const float* g, float* const* s,
                           index_t b, index_t e);
  RangeFn range = nullptr;
  int variant = 0;  // the kind's variant index (optim_isa.h)
  Isa isa = Isa::Generic;
  SgdScalars sgd{};    // the kind's scalars (only its own are set)
  AdamScalars adam{};
  RmspropScalars rmsprop{};
  AdagradScalars adagrad{};

  void run(float* p, const float* g, float* const* s, index_t b, index_t e) const {
    range(*this, p, g, s, b, e);
  }
};

// The step of sgd_update / adam_pass / rmsprop_update / adagrad_update
// (kernels.h; the same arguments but the arrays and n), on the active ISA path.
OptimStep sgd_step(float lr, float momentum, float dampening, float weight_decay, bool nesterov, bool maximize,
                   bool first_step);
OptimStep adam_step(double lr, double beta1, double beta2, double eps, double weight_decay,
                    bool amsgrad, bool maximize, double step, bool decoupled);
OptimStep rmsprop_step(double lr, double alpha, double eps, double weight_decay, double momentum,
                       bool centered, bool maximize);
OptimStep adagrad_step(double lr, double lr_decay, double weight_decay, double eps, bool maximize,
                       double step);

// Up to six float streams in, five out: below this many elements a parallel
// region costs more than the step it splits (optim_step_apply, and the fused
// epoch's per-block updates of one parameter).
constexpr index_t kOptimParallelMin = index_t(1) << 15;

// k over all n elements: contiguous thread ranges (split_range), in a parallel
// region when n >= kOptimParallelMin. Bitwise the same at any thread count.
void optim_step_apply(const OptimStep& k, float* p, const float* g, float* const* s, index_t n);

}  // namespace fastmlp
