// Mean squared error: pred, target (n,) flat; loss and dpred in one pass.
//
// Precision: d = pred - target, d*d and the reduction are double (exact
// difference, one rounding per square); loss/dpred are rounded to float once.
// Determinism: fixed 4096-element chunks, each summed with 8 interleaved
// accumulators (element i -> accumulator (i - chunk start) % 8, combined in a
// fixed tree), then the chunk partials in order: the same additions at any
// thread count, and the inner loop still vectorises.
#include <algorithm>
#include "common.h"

namespace fastmlp {
namespace {

constexpr index_t kChunk = 4096;  // multiple of 8
constexpr index_t kParallelMin = index_t(1) << 15;

double* partials(index_t n) {  // grow-only, per calling thread
  static thread_local AlignedBuffer<double> buf;
  return buf.reserve(size_t(n));
}

// Elements [b, e): returns sum of squares (0 when PerElem writes them to loss).
// dpred/loss may alias pred/target exactly: element i is read before written.
template <bool Grad, bool PerElem>
double mse_chunk(const float* p, const float* t, index_t b, index_t e, double gs, float* loss,
                 float* g) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  index_t i = b;
  for (; i + 8 <= e; i += 8)
    for (int k = 0; k < 8; ++k) {
      const double d = double(p[i + k]) - double(t[i + k]);
      if constexpr (PerElem) loss[i + k] = float(d * d);
      else acc[k] += d * d;
      if constexpr (Grad) g[i + k] = float(d * gs);
    }
  for (int k = 0; i < e; ++i, ++k) {
    const double d = double(p[i]) - double(t[i]);
    if constexpr (PerElem) loss[i] = float(d * d);
    else acc[k] += d * d;
    if constexpr (Grad) g[i] = float(d * gs);
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

void mse_loss(const float* pred, const float* target, index_t n, Reduction reduction, float* loss,
              float* dpred) {
  const bool per_elem = reduction == Reduction::None;
  // d/dpred of the reduced loss: 2 d, over n for the mean.
  const double gs = reduction == Reduction::Mean && n > 0 ? 2.0 / double(n) : 2.0;
  auto fn = dpred ? (per_elem ? &mse_chunk<true, true> : &mse_chunk<true, false>)
                  : (per_elem ? &mse_chunk<false, true> : &mse_chunk<false, false>);
  const index_t nchunks = (n + kChunk - 1) / kChunk;
  double* part = per_elem ? nullptr : partials(nchunks);
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t k0, k1;
    split_range(nchunks, t, nt, 1, &k0, &k1);
    for (index_t k = k0; k < k1; ++k) {
      const double s = fn(pred, target, k * kChunk, std::min(n, (k + 1) * kChunk), gs, loss, dpred);
      if (!per_elem) part[k] = s;
    }
  });
  if (per_elem) return;
  double total = 0.0;
  for (index_t k = 0; k < nchunks; ++k) total += part[k];
  // mean of nothing: 0/0 = NaN, as PyTorch.
  loss[0] = float(reduction == Reduction::Mean ? total / double(n) : total);
}

}  // namespace fastmlp
