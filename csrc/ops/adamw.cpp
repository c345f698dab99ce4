// torch.optim.AdamW's update: adam_pass (csrc/ops/adam.cpp) with the decoupled
// weight decay, param *= 1 - lr*weight_decay before the moments (kernels.h).
#include "kernels.h"

namespace fastmlp {

void adamw_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                  float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2,
                  double eps, double weight_decay, bool amsgrad, bool maximize, double step) {
  adam_pass(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, lr, beta1, beta2, eps,
            weight_decay, amsgrad, maximize, step, true);
}

}  // namespace fastmlp
