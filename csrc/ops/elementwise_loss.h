// The skeleton every elementwise loss shares (mse, l1, huber, smooth_l1,
// bce_with_logits): pred, target (n,) flat -> loss and dpred in one pass.
// Include only from baseline op files (common.h's rule).
//
// An Op is a functor   double op(index_t i, double p, double t, double s, double* g)
// returning the loss l_i of element i (p = pred[i], t = target[i], widened to
// double) and writing *g = s * dl_i/dp_i, where s is 1/n for the mean and 1
// otherwise. The skeleton rounds l_i, *g to float once and reduces in double.
//
// Determinism: fixed 4096-element chunks, each summed with 8 interleaved
// accumulators (element i -> accumulator (i - chunk start) % 8, combined in a
// fixed tree), then the chunk partials in order: the same additions at any
// thread count.
// Aliasing: dpred may be pred or target exactly (element i is read before it
// is written); loss (reduction None) must not overlap any input.
#pragma once
#include <algorithm>
#include "common.h"

namespace fastmlp {
namespace elementwise_loss_detail {

constexpr index_t kChunk = 4096;  // multiple of 8
constexpr index_t kParallelMin = index_t(1) << 15;

inline double* partials(index_t n) {  // grow-only, per calling thread
  static thread_local AlignedBuffer<double> buf;
  return buf.reserve(size_t(n));
}

// Elements [b, e): returns the sum of l_i (0 when PerElem writes them to loss).
template <bool Grad, bool PerElem, class Op>
double chunk(const Op& op, const float* p, const float* t, index_t b, index_t e, double s,
             float* loss, float* g) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  index_t i = b;
  auto one = [&](index_t j, int k) {
    double gj;
    const double l = op(j, double(p[j]), double(t[j]), s, &gj);
    if constexpr (PerElem) loss[j] = float(l);
    else acc[k] += l;
    if constexpr (Grad) g[j] = float(gj);
  };
  for (; i + 8 <= e; i += 8)
    for (int k = 0; k < 8; ++k) one(i + k, k);
  for (int k = 0; i < e; ++i, ++k) one(i, k);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace elementwise_loss_detail

// loss: None -> (n,) per-element losses; Mean/Sum -> loss[0] (the mean of
// nothing is 0/0 = NaN, as PyTorch). dpred (n,) or nullptr: the gradient of
// the reduced loss (None: of sum_i l_i).
template <class Op>
void elementwise_loss(const Op& op, const float* pred, const float* target, index_t n,
                      Reduction reduction, float* loss, float* dpred) {
  namespace d = elementwise_loss_detail;
  const bool per_elem = reduction == Reduction::None;
  const double s = reduction == Reduction::Mean && n > 0 ? 1.0 / double(n) : 1.0;
  auto fn = dpred ? (per_elem ? &d::chunk<true, true, Op> : &d::chunk<true, false, Op>)
                  : (per_elem ? &d::chunk<false, true, Op> : &d::chunk<false, false, Op>);
  const index_t nchunks = (n + d::kChunk - 1) / d::kChunk;
  double* part = per_elem ? nullptr : d::partials(nchunks);
  parallel_or_inline(threads_if(n >= d::kParallelMin), [&](int th, int nt) {
    index_t k0, k1;
    split_range(nchunks, th, nt, 1, &k0, &k1);
    for (index_t k = k0; k < k1; ++k) {
      const double v = fn(op, pred, target, k * d::kChunk, std::min(n, (k + 1) * d::kChunk), s,
                          loss, dpred);
      if (!per_elem) part[k] = v;
    }
  });
  if (per_elem) return;
  double total = 0.0;
  for (index_t k = 0; k < nchunks; ++k) total += part[k];
  loss[0] = float(reduction == Reduction::Mean ? total / double(n) : total);
}

// sign(d) as np.sign: -1, 0 or 1, NaN for NaN (PyTorch's L1 gradient is 0 at 0).
inline double sign(double d) { return d > 0 ? 1.0 : d < 0 ? -1.0 : d == 0 ? 0.0 : d; }

}  // namespace fastmlp
