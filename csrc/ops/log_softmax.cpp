// Log-softmax over the last dimension: y = x - max - log(sum(exp(x - max))),
// x, y (rows, C). The row pass and its precision/determinism contract are
// row_softmax.h's.
#include "ops/row_softmax.h"

namespace fastmlp {

void log_softmax(const float* x, float* y, index_t rows, index_t C) { row_softmax<true>(x, y, rows, C); }

}  // namespace fastmlp
