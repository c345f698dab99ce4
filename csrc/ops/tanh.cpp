// tanh_forward / tanh_backward (kernels.h, Activations; the vector tanh of ops/activation_vecmath.h).
#include "common.h"

namespace fastmlp {
void tanh_forward(const float* x, float* y, index_t n) { activation_forward_parallel({Activation::Tanh}, x, y, n); }
void tanh_backward(const float* dout, const float* y, float* dx, index_t n) {
  activation_backward_parallel({Activation::Tanh}, dout, y, dx, n);
}
}  // namespace fastmlp
