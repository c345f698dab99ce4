// sigmoid_forward / sigmoid_backward (kernels.h, Activations; the vector exp of ops/activation_vecmath.h).
#include "common.h"

namespace fastmlp {
void sigmoid_forward(const float* x, float* y, index_t n) {
  activation_forward_parallel({Activation::Sigmoid}, x, y, n);
}
void sigmoid_backward(const float* dout, const float* y, float* dx, index_t n) {
  activation_backward_parallel({Activation::Sigmoid}, dout, y, dx, n);
}
}  // namespace fastmlp
