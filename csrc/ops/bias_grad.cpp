// The bias gradient: db (N,) = column sums of dout (M,N) with row stride ld.
// Columns are split over threads, each summed in row order, so db is bitwise
// the same at any thread count.
#include "common.h"

namespace fastmlp {
namespace {

// Below this many elements a parallel region (several microseconds) costs
// more than the memory-bound loop it would split.
constexpr index_t kParallelMin = index_t(1) << 16;

// db[j0:j1] = column sums of dout[:, j0:j1]; rows outer, columns inner (vectorised).
void column_sums(const float* __restrict dout, index_t M, index_t ld, index_t j0, index_t j1,
                 float* __restrict db) {
  float* __restrict d = db + j0;
  const index_t w = j1 - j0;
  for (index_t j = 0; j < w; ++j) d[j] = 0.0f;
  for (index_t i = 0; i < M; ++i) {
    const float* __restrict r = dout + i * ld + j0;
    for (index_t j = 0; j < w; ++j) d[j] += r[j];
  }
}

}  // namespace

void bias_grad(const float* dout, index_t M, index_t N, index_t ld, float* db) {
  // Column ranges on 16-float (cache line) edges: each column is summed by one
  // thread in row order, so db is bitwise the same at any thread count.
  parallel_or_inline(threads_if(M * N >= kParallelMin && N >= 32), [&](int t, int nt) {
    index_t j0, j1;
    split_range(N, t, nt, 16, &j0, &j1);
    column_sums(dout, M, ld, j0, j1, db);
  });
}

}  // namespace fastmlp
