// Log-softmax over the last dimension: y = x - max - log(sum(exp(x - max))),
// x, y (rows, C). The row pass and its precision/determinism contract are
// row_softmax.h's.
#include "ops/row_softmax.h"

namespace fastmlp {

void log_softmax(const float* x, float* y, index_t rows, index_t C) { row_softmax<true>(x, y, rows, C); }

}  // namespace fastmlp

namespace fastmlp {

// dx = dout - exp(y) * sum(dout) over each row (row_softmax.h's backward).
void log_softmax_backward(const float* dout, const float* y, float* dx, index_t rows, index_t C) {
  row_softmax_backward<true>(dout, y, dx, rows, C);
}

}  // namespace fastmlp
