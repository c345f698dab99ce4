// Softmax cross-entropy with class-index targets: loss and dlogits in one
// pass per row (logits (N,C), target (N,), weight (C,) or nullptr).
//
// Precision. exp is the active path's vector exp (vec_exp, kernels.h: within
// 1.0 ulp on every path) of the float difference d_c = x_c - max; the row sum of exps, its log (std::log(double)),
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
#include "ops/cross_entropy_chunks.h"

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

// A row's values before its exps: the max m, d_t = x_t - m, and (label
// smoothing) sum_c w_c * d_c.
struct RowPre {
  float m, dt;
  double wd;
};

// Reads the whole row x (so dx may alias it afterwards).
RowPre row_pre(const float* x, std::int64_t t, const Row& P) {
  const index_t C = P.C;
  const float* w = P.weight;
  RowPre r{row_max(x, C), 0.0f, 0.0};
  const float m = r.m;
  r.dt = x[t] - m;
  if (P.eps != 0.0) {
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (w)
      lane_sum(lanes, C, [&](index_t c) { return double(w[c]) * double(x[c] - m); });
    else
      lane_sum(lanes, C, [&](index_t c) { return double(x[c] - m); });
    r.wd = combine(lanes);
  }
  return r;
}

// The row's loss from s = sum_c exp(d_c) (double); when dx != nullptr, dx
// holds the exps e_c and becomes the row's gradient.
double row_post(double s, std::int64_t t, const RowPre& r, float* dx, const Row& P) {
  const index_t C = P.C;
  const float* w = P.weight;
  const bool smooth = P.eps != 0.0;
  const double logs = std::log(s);
  const double wt = w ? double(w[t]) : 1.0;
  const double coef = (1.0 - P.eps) * wt;
  // -log p_t = logs - d_t;  sum_c w_c * -log p_c = logs * wsum - sum_c w_c d_c.
  // The smoothing term is skipped when eps == 0 (as PyTorch: no 0 * inf).
  double loss = coef * (logs - double(r.dt));
  if (smooth) loss += P.eps / double(C) * (logs * P.wsum - r.wd);
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

// sum_c e_c of a row's exps, in 8 fixed lanes (lanes continue across blocks).
inline void exp_lane_sum(double lanes[8], const float* e, index_t n) {
  lane_sum(lanes, n, [&](index_t j) { return double(e[j]); });
}

// Loss of one row (double); writes the row's gradient when dx != nullptr.
// dx may alias x: row_pre reads the whole row before dx is written.
double row_loss(const float* x, std::int64_t t, float* dx, const Row& P) {
  const index_t C = P.C;
  if (t == P.ignore_index) {
    if (dx) std::memset(dx, 0, size_t(C) * sizeof(float));
    return 0.0;
  }
  const RowPre r = row_pre(x, t, P);
  // sum_c exp(d_c): the differences go to dx (or a stack block), are
  // exponentiated there in place by one vector call, then lane-summed.
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float block[kExpBlock];
  for (index_t c0 = 0; c0 < C; c0 += kExpBlock) {
    const index_t nb = std::min(kExpBlock, C - c0);
    float* e = dx ? dx + c0 : block;
    for (index_t j = 0; j < nb; ++j) e[j] = x[c0 + j] - r.m;
    vec_exp(e, e, nb);
    exp_lane_sum(lanes, e, nb);
  }
  return row_post(combine(lanes), t, r, dx, P);
}

// Rows [i0, i1) (at most kRowsPerChunk) with their gradients dx (rows of C
// floats, contiguous; C <= kExpBlock): row_loss's arithmetic, but the exps of
// all the rows in one vector call (a row's short exp is latency bound; the
// rows' are independent). loss[i - i0] gets row i's loss. The same bits as
// row_loss row by row: every exp, sum and rounding is the same.
void chunk_loss(const float* x, const std::int64_t* target, float* dx, index_t i0, index_t i1,
                const Row& P, double* loss) {
  const index_t C = P.C;
  RowPre pre[kRowsPerChunk];
  for (index_t i = i0; i < i1; ++i) {
    const float* xr = x + i * C;
    float* er = dx + i * C;
    if (target[i] == P.ignore_index) {
      std::memset(er, 0, size_t(C) * sizeof(float));
      continue;
    }
    const RowPre r = pre[i - i0] = row_pre(xr, target[i], P);
    for (index_t c = 0; c < C; ++c) er[c] = xr[c] - r.m;
  }
  vec_exp(dx + i0 * C, dx + i0 * C, (i1 - i0) * C);
  for (index_t i = i0; i < i1; ++i) {
    float* er = dx + i * C;
    if (target[i] == P.ignore_index) {  // its zeros became exp(0): zeros again
      std::memset(er, 0, size_t(C) * sizeof(float));
      loss[i - i0] = 0.0;
      continue;
    }
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    exp_lane_sum(lanes, er, C);
    loss[i - i0] = row_post(combine(lanes), target[i], pre[i - i0], er, P);
  }
}

}  // namespace

namespace {

// The per-row constants; *denom = the mean's denominator (sum of the kept
// targets' weights; 0 for Sum/None). It scales every gradient row, so it comes
// first: a cheap sequential pass over target.
Row row_setup(const std::int64_t* target, index_t N, index_t C, const float* weight,
              std::int64_t ignore_index, float label_smoothing, Reduction reduction, double* denom) {
  Row P{weight, C, ignore_index, double(label_smoothing), double(C), 1.0};
  if (weight && P.eps != 0.0) {
    P.wsum = 0.0;
    for (index_t c = 0; c < C; ++c) P.wsum += double(weight[c]);
  }
  *denom = 0.0;
  if (reduction == Reduction::Mean) {
    for (index_t i = 0; i < N; ++i)
      if (target[i] != ignore_index) *denom += weight ? double(weight[target[i]]) : 1.0;
    // PyTorch's 0/0: a zero denominator makes the loss and kept rows' gradients NaN.
    P.scale = *denom != 0.0 ? 1.0 / *denom : std::numeric_limits<double>::quiet_NaN();
  }
  return P;
}

// Chunks [k0, k1) of kRowsPerChunk rows: per-row losses into loss (None) or
// each chunk's row-order sum into part[k] (Mean/Sum), and their dlogits rows.
void chunks(const float* logits, const std::int64_t* target, index_t N, const Row& P, bool per_row,
            index_t k0, index_t k1, double* part, float* loss, float* dlogits) {
  for (index_t k = k0; k < k1; ++k) {
    const index_t i0 = k * kRowsPerChunk, i1 = std::min(N, (k + 1) * kRowsPerChunk);
    double acc = 0.0;
    double chunk[kRowsPerChunk];
    const bool batched = dlogits && P.C <= kExpBlock;
    if (batched) chunk_loss(logits, target, dlogits, i0, i1, P, chunk);
    for (index_t i = i0; i < i1; ++i) {
      const double l = batched ? chunk[i - i0]
                               : row_loss(logits + i * P.C, target[i], dlogits ? dlogits + i * P.C : nullptr, P);
      if (per_row)
        loss[i] = float(l);
      else
        acc += l;
    }
    if (!per_row) part[k] = acc;
  }
}

}  // namespace

void cross_entropy_chunks(const float* logits, const std::int64_t* target, index_t N, index_t C,
                          const float* weight, std::int64_t ignore_index, float label_smoothing,
                          Reduction reduction, index_t k0, index_t k1, double* part, float* dlogits) {
  double denom;
  const Row P = row_setup(target, N, C, weight, ignore_index, label_smoothing, reduction, &denom);
  chunks(logits, target, N, P, false, k0, k1, part, nullptr, dlogits);
}

index_t cross_entropy_n_chunks(index_t N) { return (N + kRowsPerChunk - 1) / kRowsPerChunk; }

namespace {

// The chunks' partials summed in chunk order, then reduced (denom: row_setup's).
float reduce_parts(const double* part, index_t N, double denom, Reduction reduction) {
  double total = 0.0;
  for (index_t k = 0; k < cross_entropy_n_chunks(N); ++k) total += part[k];
  if (reduction == Reduction::Mean)
    total = denom != 0.0 ? total / denom : std::numeric_limits<double>::quiet_NaN();
  return float(total);
}

}  // namespace

float cross_entropy_total(const double* part, index_t N, const std::int64_t* target, const float* weight,
                          std::int64_t ignore_index, Reduction reduction) {
  double denom;
  row_setup(target, N, 1, weight, ignore_index, 0.0f, reduction, &denom);
  return reduce_parts(part, N, denom, reduction);
}

index_t cross_entropy_chunk_rows() { return kRowsPerChunk; }

void cross_entropy(const float* logits, const std::int64_t* target, index_t N, index_t C,
                   const float* weight, std::int64_t ignore_index, float label_smoothing,
                   Reduction reduction, float* loss, float* dlogits) {
  double denom;
  const Row P = row_setup(target, N, C, weight, ignore_index, label_smoothing, reduction, &denom);
  const index_t nchunks = cross_entropy_n_chunks(N);
  const bool per_row = reduction == Reduction::None;
  double* part = per_row ? nullptr : partials(nchunks);
  parallel_or_inline(threads_if(N * C >= kParallelMin && nchunks > 1), [&](int th, int nth) {
    index_t k0, k1;
    split_range(nchunks, th, nth, 1, &k0, &k1);
    chunks(logits, target, N, P, per_row, k0, k1, part, loss, dlogits);
  });
  if (per_row) return;
  loss[0] = reduce_parts(part, N, denom, reduction);  // (row_setup's denom: one pass over target)
}

}  // namespace fastmlp
