// elu_forward / elu_backward (kernels.h, Activations; backward from the output,
// PyTorch's is_result form).
#include "common.h"

namespace fastmlp {
void elu_forward(const float* x, float* y, index_t n, float alpha) {
  activation_forward_parallel({Activation::Elu, alpha}, x, y, n);
}
void elu_backward(const float* dout, const float* y, float* dx, index_t n, float alpha) {
  activation_backward_parallel({Activation::Elu, alpha}, dout, y, dx, n);
}
}  // namespace fastmlp
