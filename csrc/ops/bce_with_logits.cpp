// Binary cross-entropy with logits (torch.nn.BCEWithLogitsLoss), on the
// elementwise-loss skeleton (elementwise_loss.h). With x = logits_i, t = target_i,
// w = weight[i % nw] (1 without), pw = pos_weight[i % npw] (1 without):
//   c = 1 + (pw - 1) t                                  (PyTorch's log_weight)
//   l = w ((1 - t) x + c (log1p(exp(-|x|)) + max(-x, 0)))    (the second factor is
//       softplus(-x) = -log sigmoid(x), never exp of a positive number)
//   dl/dx = w (c sigmoid(x) - pw t)                     (PyTorch's backward)
// weight/pos_weight of nw/npw elements are broadcast over the trailing
// dimensions: their shapes are trailing parts of the logits' shape (checked by
// the caller), so element i takes entry i % nw. The modulo costs an integer
// division per element; fine for a loss (one pass over the output).
// Precision: double throughout, scalar std::exp/std::log1p (no vector math:
// a loss pass is small next to the GEMMs), one rounding to float per output.
// The sum (1 - t) x + c softplus(-x) can cancel (t = 0, x << 0): its double
// error is ~1e-16 of the terms' size, far below float's rounding of the terms.
#include <algorithm>
#include <cmath>
#include "ops/elementwise_loss.h"

namespace fastmlp {

void bce_with_logits(const float* logits, const float* target, index_t n, const float* weight,
                     index_t nw, const float* pos_weight, index_t npw, Reduction reduction,
                     float* loss, float* dlogits) {
  auto op = [=](index_t i, double x, double t, double s, double* g) {
    const double w = weight ? double(weight[i % nw]) : 1.0;
    const double pw = pos_weight ? double(pos_weight[i % npw]) : 1.0;
    const double c = 1.0 + (pw - 1.0) * t;
    const double e = std::exp(-std::fabs(x));            // in (0, 1]
    const double sig = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    *g = w * (c * sig - pw * t) * s;
    return w * ((1.0 - t) * x + c * (std::log1p(e) + std::max(-x, 0.0)));
  };
  elementwise_loss(op, logits, target, n, reduction, loss, dlogits);
}

}  // namespace fastmlp
