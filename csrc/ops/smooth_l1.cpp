// Smooth L1 loss (torch.nn.SmoothL1Loss), on the elementwise-loss skeleton
// (elementwise_loss.h): with d = pred - target, beta >= 0 (checked by the caller),
//   l = 0.5 d^2 / beta      if |d| < beta
//       |d| - 0.5 beta      otherwise          (beta == 0: |d|, the L1 loss)
//   dl/dp = d / beta if |d| < beta else sign(d)   (0 at d == 0 when beta == 0,
//   as PyTorch, which runs l1_loss then: never 0/0)
// Precision: d exact in double, beta used as given (double); one rounding to
// float per output. No cancellation: |d| - 0.5 beta >= |d| / 2 on its branch.
#include <cmath>
#include "ops/elementwise_loss.h"

namespace fastmlp {

void smooth_l1_loss(const float* pred, const float* target, index_t n, double beta,
                    Reduction reduction, float* loss, float* dpred) {
  auto op = [beta](index_t, double p, double t, double s, double* g) {
    const double d = p - t, a = std::fabs(d);
    if (a < beta) {
      *g = d / beta * s;
      return 0.5 * d * d / beta;
    }
    *g = sign(d) * s;
    return a - 0.5 * beta;
  };
  elementwise_loss(op, pred, target, n, reduction, loss, dpred);
}

}  // namespace fastmlp
