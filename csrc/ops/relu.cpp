// relu_forward / relu_backward (kernels.h): the vector activation code of
// ops/activation_vecmath.h (Fn::Relu), the same as the GEMM epilogue's and
// the fused epoch's, split into contiguous ranges (results never depend on
// the thread count).
#include "common.h"

namespace fastmlp {

void relu_forward(const float* x, float* y, index_t n) {
  // y may alias x: each element is read before it is written.
  activation_forward_parallel({Activation::Relu}, x, y, n);
}

void relu_backward(const float* dout, const float* y, float* dx, index_t n) {
  // dx may alias dout (or y): elementwise, read before written.
  activation_backward_parallel({Activation::Relu}, dout, y, dx, n);
}

}  // namespace fastmlp
