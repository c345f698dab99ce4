// The row pass log_softmax and softmax share: x, y (rows, C) row-major, over
// the last dimension, stable (the row max is subtracted first).
// Include only from baseline op files (common.h's rule).
//
// Precision: d_c = x_c - max is exact in double; exp (std::exp, scalar: no
// vector math yet), the row sum and its log are double; each output is
// rounded to float once. softmax divides each exp by the sum: the exps of a
// row up to kKeptExps wide are kept from the sum's pass (one exp per element;
// a wider row computes each twice, the same value).
// Determinism: a row is computed by one thread, its sum in index order; rows
// are split over threads only above kParallelMin elements. Same bits at any
// thread count. y may alias x exactly: a row is read (two passes) before the
// third pass writes element c after reading it.
#pragma once
#include <cmath>
#include "common.h"

namespace fastmlp {

template <bool Log>
void row_softmax(const float* x, float* y, index_t rows, index_t C) {
  constexpr index_t kParallelMin = index_t(1) << 15;
  constexpr index_t kKeptExps = 256;  // softmax rows up to this width keep their exps (2 KiB of stack)
  parallel_or_inline(threads_if(rows * C >= kParallelMin && rows > 1), [&](int t, int nt) {
    index_t r0, r1;
    split_range(rows, t, nt, 1, &r0, &r1);
    for (index_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      double m = xr[0];
      for (index_t c = 1; c < C; ++c) m = xr[c] > m ? double(xr[c]) : m;  // a NaN makes s NaN: the row is NaN, as the twin
      double s = 0.0;
      if (!Log && C <= kKeptExps) {  // softmax: each exp once, kept for the division
        double e[kKeptExps];
        for (index_t c = 0; c < C; ++c) s += (e[c] = std::exp(double(xr[c]) - m));
        for (index_t c = 0; c < C; ++c) yr[c] = float(e[c] / s);
        continue;
      }
      for (index_t c = 0; c < C; ++c) s += std::exp(double(xr[c]) - m);
      if constexpr (Log) {
        const double lse = std::log(s);
        for (index_t c = 0; c < C; ++c) yr[c] = float(double(xr[c]) - m - lse);
      } else {  // a wider row: each exp computed again, the same value
        for (index_t c = 0; c < C; ++c) yr[c] = float(std::exp(double(xr[c]) - m) / s);
      }
    }
  });
}

// The backward of the row pass, from the forward's output y (rows, C) and the
// output gradient dout (rows, C), over the last dimension:
//   Log (log_softmax): dx = dout - exp(y) * sum(dout)
//   softmax:           dx = y * (dout - sum(dout * y))
// (PyTorch's _log_softmax_backward_data / _softmax_backward_data). The row sum
// is double in index order (dout * y is exact in double), exp is std::exp in
// double, and each dx is rounded to float once. A row is one thread's, rows are
// split only above kParallelMin elements: same bits at any thread count. dx
// may alias dout or y exactly: the sum is read first, then element c of dx is
// written after reading dout[c] and y[c].
template <bool Log>
void row_softmax_backward(const float* dout, const float* y, float* dx, index_t rows, index_t C) {
  constexpr index_t kParallelMin = index_t(1) << 15;
  parallel_or_inline(threads_if(rows * C >= kParallelMin && rows > 1), [&](int t, int nt) {
    index_t r0, r1;
    split_range(rows, t, nt, 1, &r0, &r1);
    for (index_t r = r0; r < r1; ++r) {
      const float* gr = dout + r * C;
      const float* yr = y + r * C;
      float* dr = dx + r * C;
      double s = 0.0;
      if constexpr (Log) {
        for (index_t c = 0; c < C; ++c) s += double(gr[c]);
        for (index_t c = 0; c < C; ++c) dr[c] = float(double(gr[c]) - std::exp(double(yr[c])) * s);
      } else {
        for (index_t c = 0; c < C; ++c) s += double(gr[c]) * double(yr[c]);
        for (index_t c = 0; c < C; ++c) dr[c] = float(double(yr[c]) * (double(gr[c]) - s));
      }
    }
  });
}

}  // namespace fastmlp
