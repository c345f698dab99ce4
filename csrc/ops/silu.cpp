// silu_forward / silu_backward (kernels.h, Activations).
#include "common.h"

namespace fastmlp {
void silu_forward(const float* x, float* y, index_t n) { activation_forward_parallel({Activation::Silu}, x, y, n); }
void silu_backward(const float* dout, const float* x, float* dx, index_t n) {
  activation_backward_parallel({Activation::Silu}, dout, x, dx, n);
}
}  // namespace fastmlp
