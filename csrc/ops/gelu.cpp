// gelu_forward / gelu_backward (kernels.h, Activations): the erf form, or the
// tanh approximation (Activation::GeluTanh) when approximate_tanh.
#include "common.h"

namespace fastmlp {
namespace {
ActivationSpec gelu_spec(bool approximate_tanh) {
  return {approximate_tanh ? Activation::GeluTanh : Activation::Gelu};
}
}  // namespace
void gelu_forward(const float* x, float* y, index_t n, bool approximate_tanh) {
  activation_forward_parallel(gelu_spec(approximate_tanh), x, y, n);
}
void gelu_backward(const float* dout, const float* x, float* dx, index_t n, bool approximate_tanh) {
  activation_backward_parallel(gelu_spec(approximate_tanh), dout, x, dx, n);
}
}  // namespace fastmlp
