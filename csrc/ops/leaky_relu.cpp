// leaky_relu_forward / leaky_relu_backward (kernels.h, Activations).
#include "common.h"

namespace fastmlp {
void leaky_relu_forward(const float* x, float* y, index_t n, float negative_slope) {
  activation_forward_parallel({Activation::LeakyRelu, negative_slope}, x, y, n);
}
void leaky_relu_backward(const float* dout, const float* x, float* dx, index_t n, float negative_slope) {
  activation_backward_parallel({Activation::LeakyRelu, negative_slope}, dout, x, dx, n);
}
}  // namespace fastmlp
