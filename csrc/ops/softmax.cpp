// Softmax over the last dimension: y = exp(x - max) / sum(exp(x - max)),
// x, y (rows, C). The row pass and its precision/determinism contract are
// row_softmax.h's.
#include "ops/row_softmax.h"

namespace fastmlp {

void softmax(const float* x, float* y, index_t rows, index_t C) { row_softmax<false>(x, y, rows, C); }

}  // namespace fastmlp

namespace fastmlp {

// dx = y * (dout - sum(dout * y)) over each row (row_softmax.h's backward).
void softmax_backward(const float* dout, const float* y, float* dx, index_t rows, index_t C) {
  row_softmax_backward<false>(dout, y, dx, rows, C);
}

}  // namespace fastmlp
