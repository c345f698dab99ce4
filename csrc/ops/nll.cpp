// Negative log-likelihood with class-index targets (PyTorch's NLLLoss) on
// log-probabilities input (N,C): loss and dinput in one call.
//
// Precision: a row's loss -w[t] * x[t] is a product of two floats, exact in
// double; the reduction sums those in double in row order and divides by the
// mean's denominator (also a double sum in row order) once: the reduced loss
// is rounded to float once. dinput[i, t_i] = float(-w[t_i] / denom) (or
// -w[t_i] for "sum"/"none"), every other entry exactly 0.
//
// Determinism: the loss pass is sequential (N products); the gradient pass
// writes whole rows split over threads. Same bits at any thread count.
// Aliasing: dinput may be input itself: every x[i, t_i] is read by the loss
// pass before the gradient pass writes anything.
#include <cstring>
#include <limits>
#include "common.h"

namespace fastmlp {

void nll_loss(const float* input, const std::int64_t* target, index_t N, index_t C, const float* weight,
              std::int64_t ignore_index, Reduction reduction, float* loss, float* dinput) {
  double total = 0.0, denom = 0.0;
  for (index_t i = 0; i < N; ++i) {
    const std::int64_t t = target[i];
    double l = 0.0;
    if (t != ignore_index) {
      const double w = weight ? double(weight[t]) : 1.0;
      l = -w * double(input[i * C + t]);
      denom += w;
    }
    if (reduction == Reduction::None)
      loss[i] = float(l);
    else
      total += l;
  }
  // PyTorch's 0/0: a zero denominator makes the mean and the kept rows' gradients NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double scale = reduction != Reduction::Mean ? 1.0 : (denom != 0.0 ? 1.0 / denom : nan);
  if (reduction == Reduction::Sum) loss[0] = float(total);
  if (reduction == Reduction::Mean) loss[0] = float(denom != 0.0 ? total / denom : nan);
  if (!dinput) return;
  constexpr index_t kParallelMin = index_t(1) << 15;  // below: the zeroing is cheaper than a parallel region
  parallel_or_inline(threads_if(N * C >= kParallelMin && N > 1), [&](int th, int nth) {
    index_t r0, r1;
    split_range(N, th, nth, 1, &r0, &r1);
    if (r1 > r0) std::memset(dinput + r0 * C, 0, size_t((r1 - r0) * C) * sizeof(float));
    for (index_t i = r0; i < r1; ++i) {
      const std::int64_t t = target[i];
      if (t == ignore_index) continue;
      const double w = weight ? double(weight[t]) : 1.0;
      dinput[i * C + t] = float(-w * scale);
    }
  });
}

}  // namespace fastmlp
