// L1 loss: l_i = |pred_i - target_i|, dl/dp = sign(d) (0 at d == 0, as
// PyTorch), on the elementwise-loss skeleton (elementwise_loss.h).
// Precision: d is exact in double; |d| and the reduction are double, rounded
// to float once.
#include <cmath>
#include "ops/elementwise_loss.h"

namespace fastmlp {

void l1_loss(const float* pred, const float* target, index_t n, Reduction reduction, float* loss,
             float* dpred) {
  auto op = [](index_t, double p, double t, double s, double* g) {
    const double d = p - t;
    *g = sign(d) * s;
    return std::fabs(d);
  };
  elementwise_loss(op, pred, target, n, reduction, loss, dpred);
}

}  // namespace fastmlp
