// softplus_forward / softplus_backward (kernels.h, Activations).
#include "common.h"

namespace fastmlp {
void softplus_forward(const float* x, float* y, index_t n, float beta, float threshold) {
  activation_forward_parallel({Activation::Softplus, beta, threshold}, x, y, n);
}
void softplus_backward(const float* dout, const float* x, float* dx, index_t n, float beta, float threshold) {
  activation_backward_parallel({Activation::Softplus, beta, threshold}, dout, x, dx, n);
}
}  // namespace fastmlp
