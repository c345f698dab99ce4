// Softmax over the last dimension: y = exp(x - max) / sum(exp(x - max)),
// x, y (rows, C). The row pass and its precision/determinism contract are
// row_softmax.h's.
#include "ops/row_softmax.h"

namespace fastmlp {

void softmax(const float* x, float* y, index_t rows, index_t C) { row_softmax<false>(x, y, rows, C); }

}  // namespace fastmlp
