// Mean squared error: l_i = (pred_i - target_i)^2, on the elementwise-loss
// skeleton (elementwise_loss.h: chunking, reduction order, aliasing).
//
// Precision: d = pred - target, d*d and the reduction are double (exact
// difference, one rounding per square); loss/dpred are rounded to float once.
// dl/dp = 2d; the mean's gradient d * (2/n) is d * (2 * (1/n)), the same bits
// (scaling by 2 is exact).
#include "ops/elementwise_loss.h"

namespace fastmlp {

void mse_loss(const float* pred, const float* target, index_t n, Reduction reduction, float* loss,
              float* dpred) {
  auto op = [](index_t, double p, double t, double s, double* g) {
    const double d = p - t;
    *g = d * (2.0 * s);
    return d * d;
  };
  elementwise_loss(op, pred, target, n, reduction, loss, dpred);
}

}  // namespace fastmlp
