// The 2-norm of a list of arrays, as torch.nn.utils.clip_grad_norm_ (norm_type
// 2) forms it: the norm of the per-array norms, here in double. One
// implementation for fastmlp.nn.utils.clip_grad_norm_ (through total_norm)
// and for the fused epoch's clipping (train_step.cpp), which keeps weight
// gradients transposed and calls sum_squares_transposed: every sum below has
// a fixed order defined on the logical (rows, cols) layout, so both give the
// same bits at any thread count.
#include <cmath>
#include "common.h"

namespace fastmlp {
namespace {

// Row sums of squares go to their own slot; only the final row-order sum is serial.
constexpr index_t kParallelMin = index_t(1) << 15;

inline double sq(float v) { return double(v) * double(v); }  // exact: 48 significant bits

double sum_in_order(const double* s, index_t n) {
  double acc = 0.0;
  for (index_t i = 0; i < n; ++i) acc += s[i];
  return acc;
}

}  // namespace

double sum_squares(const float* x, index_t rows, index_t cols, double* row_sums) {
  parallel_or_inline(threads_if(rows * cols >= kParallelMin && rows > 1), [&](int t, int nt) {
    index_t b, e;
    split_range(rows, t, nt, 1, &b, &e);
    for (index_t r = b; r < e; ++r) {
      const float* row = x + r * cols;
      double acc = 0.0;
      for (index_t c = 0; c < cols; ++c) acc += sq(row[c]);
      row_sums[r] = acc;
    }
  });
  return sum_in_order(row_sums, rows);
}

double sum_squares_transposed(const float* xt, index_t rows, index_t cols, double* row_sums) {
  // Row r of x is column r of xt: its running sum is row_sums[r], advanced by
  // xt's rows in order, which is the order sum_squares adds row r's entries.
  parallel_or_inline(threads_if(rows * cols >= kParallelMin && rows > 16), [&](int t, int nt) {
    index_t b, e;
    split_range(rows, t, nt, 16, &b, &e);
    // Blocks of kRowBlock rows whose running sums stay in registers across
    // all of xt's lines (each is still advanced line by line, in order).
    constexpr index_t kRowBlock = 8;
    index_t r0 = b;
    for (; r0 + kRowBlock <= e; r0 += kRowBlock) {
      double acc[kRowBlock] = {};
      for (index_t c = 0; c < cols; ++c) {
        const float* line = xt + c * rows + r0;
        for (index_t k = 0; k < kRowBlock; ++k) acc[k] += sq(line[k]);
      }
      for (index_t k = 0; k < kRowBlock; ++k) row_sums[r0 + k] = acc[k];
    }
    for (index_t r = r0; r < e; ++r) row_sums[r] = 0.0;
    for (index_t c = 0; c < cols && r0 < e; ++c) {
      const float* line = xt + c * rows;
      for (index_t r = r0; r < e; ++r) row_sums[r] += sq(line[r]);
    }
  });
  return sum_in_order(row_sums, rows);
}

double combine_norms(const double* sums, int count) {
  double acc = 0.0;
  for (int k = 0; k < count; ++k) {
    const double nk = std::sqrt(sums[k]);  // array k's norm, then its square: torch's norm of norms
    acc += nk * nk;
  }
  return std::sqrt(acc);
}

double total_norm(const float* const* arrays, const index_t* rows, const index_t* cols, int count,
                  double* sums, double* row_sums) {
  for (int k = 0; k < count; ++k) sums[k] = sum_squares(arrays[k], rows[k], cols[k], row_sums);
  return combine_norms(sums, count);
}

}  // namespace fastmlp
