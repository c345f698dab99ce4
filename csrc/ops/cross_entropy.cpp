// Softmax cross-entropy with class-index targets: loss and dlogits in one
// pass per row (logits (N,C), target (N,), weight (C,) or nullptr).
//
// Precision. exp is std::exp(float) (glibc expf, < 1 ulp) of the float
// difference d_c = x_c - max; the row sum of exps, its log (std::log(double)),
// the per-row loss and every reduction are double. A row's loss is therefore
// within a few float ulp of (1 + |d_t|) of the exact value (d_t's float
// rounding dominates), and the sum/mean adds no float rounding at all.
// dlogits is float: p_c = e_c * (coef*scale/sum) is ~3 ulp, minus the target
// and smoothing terms (a few ulp of the largest term, absolute).
//
// Determinism. Rows are processed in parallel, but every sum has a fixed
// order: within a row, 8 fixed lanes (element c -> lane c % 8, vectorised);
// the reduction sums the per-row losses (double) in row order inside fixed
// 16-row chunks, then the chunk partials in order. Same bits at any thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include "common.h"

namespace fastmlp {
namespace {

constexpr index_t kRowsPerChunk = 16;
// Below this many logits a parallel region (several microseconds) costs more
// than the exps it would split (e.g. a 64x10 training batch stays serial).
constexpr index_t kParallelMin = index_t(1) << 13;

// Chunk partials: grow-only, per calling thread; no allocation in steady state.
double* partials(index_t n) {
  static thread_local AlignedBuffer<double> buf;
  return buf.reserve(size_t(n));
}

struct Row {
  const float* weight;  // (C,) or nullptr
  index_t C;
  std::int64_t ignore_index;
  double eps;           // label smoothing
  double wsum;          // sum_c w[c] (C without weights)
  double scale;         // 1 / mean's denominator, or 1 (NaN for a zero denominator)
};

// max_c x[c] over 8 independent lanes (vectorises: `a > b ? a : b` is maxps).
// max is exact, so the lane order changes nothing; a NaN may or may not win,
// but any NaN in the row makes exp(x_c - m) NaN and the whole row NaN anyway.
float row_max(const float* x, index_t C) {
  if (C < 16) {
    float m = x[0];
    for (index_t c = 1; c < C; ++c) m = x[c] > m ? x[c] : m;
    return m;
  }
  float lane[8];
  for (int k = 0; k < 8; ++k) lane[k] = x[k];
  index_t c = 8;
  for (; c + 8 <= C; c += 8)
    for (int k = 0; k < 8; ++k) lane[k] = x[c + k] > lane[k] ? x[c + k] : lane[k];
  for (; c < C; ++c) lane[0] = x[c] > lane[0] ? x[c] : lane[0];
  float m = lane[0];
  for (int k = 1; k < 8; ++k) m = lane[k] > m ? lane[k] : m;
  return m;
}

constexpr index_t kExpBlock = 256;  // a multiple of 8: lanes continue across blocks

// lanes[i % 8] += f(i) for i in [0, n), n consecutive from a multiple of 8:
// a fixed order (so deterministic) that still vectorises.
template <typename F>
inline void lane_sum(double lanes[8], index_t n, F f) {
  index_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lanes[k] += f(i + k);
  for (int k = 0; i < n; ++i, ++k) lanes[k] += f(i);
}

inline double combine(const double l[8]) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// Loss of one row (double); writes the row's gradient when dx != nullptr.
// dx may alias x: x[c] is read before dx[c] is written, x[t] before the loop.
double row_loss(const float* x, std::int64_t t, float* dx, const Row& P) {
  const index_t C = P.C;
  if (t == P.ignore_index) {
    if (dx) std::memset(dx, 0, size_t(C) * sizeof(float));
    return 0.0;
  }
  const float* w = P.weight;
  const float m = row_max(x, C);
  const float dt = x[t] - m;
  const bool smooth = P.eps != 0.0;
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  double wd = 0.0;  // sum_c w_c * d_c, read before dx (maybe x) is written
  if (smooth) {
    if (w)
      lane_sum(lanes, C, [&](index_t c) { return double(w[c]) * double(x[c] - m); });
    else
      lane_sum(lanes, C, [&](index_t c) { return double(x[c] - m); });
    wd = combine(lanes);
  }
  // sum_c exp(d_c): the exps go to dx (or a stack block), then a lane sum.
  // A call per element and nothing else in that loop: no accumulator is
  // spilled around the calls.
  for (int k = 0; k < 8; ++k) lanes[k] = 0.0;
  float block[kExpBlock];
  for (index_t c0 = 0; c0 < C; c0 += kExpBlock) {
    const index_t nb = std::min(kExpBlock, C - c0);
    float* e = dx ? dx + c0 : block;
    for (index_t j = 0; j < nb; ++j) e[j] = std::exp(x[c0 + j] - m);
    lane_sum(lanes, nb, [&](index_t j) { return double(e[j]); });
  }
  const double s = combine(lanes);
  const double logs = std::log(s);
  const double wt = w ? double(w[t]) : 1.0;
  const double coef = (1.0 - P.eps) * wt;
  // -log p_t = logs - d_t;  sum_c w_c * -log p_c = logs * wsum - sum_c w_c d_c.
  // The smoothing term is skipped when eps == 0 (as PyTorch: no 0 * inf).
  double loss = coef * (logs - double(dt));
  if (smooth) loss += P.eps / double(C) * (logs * P.wsum - wd);
  if (dx) {
    // dl/dx_c = (coef + eps/C * wsum) * p_c - eps/C * w_c - coef * [c == t], times scale.
    const float k = float((coef + P.eps / double(C) * P.wsum) * P.scale / s);
    if (smooth) {
      const float bw = float(P.eps / double(C) * P.scale);
      if (w)
        for (index_t c = 0; c < C; ++c) dx[c] = dx[c] * k - bw * w[c];
      else
        for (index_t c = 0; c < C; ++c) dx[c] = dx[c] * k - bw;
    } else {
      for (index_t c = 0; c < C; ++c) dx[c] *= k;
    }
    dx[t] -= float(coef * P.scale);
  }
  return loss;
}

}  // namespace

void cross_entropy(const float* logits, const std::int64_t* target, index_t N, index_t C,
                   const float* weight, std::int64_t ignore_index, float label_smoothing,
                   Reduction reduction, float* loss, float* dlogits) {
  Row P{weight, C, ignore_index, double(label_smoothing), double(C), 1.0};
  if (weight && P.eps != 0.0) {
    P.wsum = 0.0;
    for (index_t c = 0; c < C; ++c) P.wsum += double(weight[c]);
  }
  // The mean's denominator (sum of the kept targets' weights) scales every
  // gradient row, so it comes first: a cheap sequential pass over target.
  double denom = 0.0;
  if (reduction == Reduction::Mean) {
    for (index_t i = 0; i < N; ++i)
      if (target[i] != ignore_index) denom += weight ? double(weight[target[i]]) : 1.0;
    // PyTorch's 0/0: a zero denominator makes the loss and kept rows' gradients NaN.
    P.scale = denom != 0.0 ? 1.0 / denom : std::numeric_limits<double>::quiet_NaN();
  }

  const index_t nchunks = (N + kRowsPerChunk - 1) / kRowsPerChunk;
  const bool per_row = reduction == Reduction::None;
  double* part = per_row ? nullptr : partials(nchunks);
  parallel_or_inline(threads_if(N * C >= kParallelMin && nchunks > 1), [&](int th, int nth) {
    index_t k0, k1;
    split_range(nchunks, th, nth, 1, &k0, &k1);
    for (index_t k = k0; k < k1; ++k) {
      const index_t i1 = std::min(N, (k + 1) * kRowsPerChunk);
      double acc = 0.0;
      for (index_t i = k * kRowsPerChunk; i < i1; ++i) {
        const double l = row_loss(logits + i * C, target[i], dlogits ? dlogits + i * C : nullptr, P);
        if (per_row)
          loss[i] = float(l);
        else
          acc += l;
      }
      if (!per_row) part[k] = acc;
    }
  });
  if (per_row) return;
  double total = 0.0;
  for (index_t k = 0; k < nchunks; ++k) total += part[k];
  if (reduction == Reduction::Mean)
    total = denom != 0.0 ? total / denom : std::numeric_limits<double>::quiet_NaN();
  loss[0] = float(total);
}

}  // namespace fastmlp
