// Huber loss (torch.nn.HuberLoss), on the elementwise-loss skeleton
// (elementwise_loss.h): with d = pred - target, delta > 0 (checked by the caller),
//   l = 0.5 d^2                   if |d| < delta
//       delta (|d| - 0.5 delta)   otherwise
//   dl/dp = d if |d| < delta else delta sign(d)   (= clamp(d, -delta, delta))
// Precision: d exact in double, delta used as given (double); one rounding to
// float per output. No cancellation: |d| - 0.5 delta >= |d| / 2 on its branch.
#include <cmath>
#include "ops/elementwise_loss.h"

namespace fastmlp {

void huber_loss(const float* pred, const float* target, index_t n, double delta, Reduction reduction,
                float* loss, float* dpred) {
  auto op = [delta](index_t, double p, double t, double s, double* g) {
    const double d = p - t, a = std::fabs(d);
    if (a < delta) {
      *g = d * s;
      return 0.5 * d * d;
    }
    *g = delta * sign(d) * s;
    return delta * (a - 0.5 * delta);
  };
  elementwise_loss(op, pred, target, n, reduction, loss, dpred);
}

}  // namespace fastmlp
