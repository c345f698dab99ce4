// The per-ISA bodies of gemv_forward (ops/gemv_*.cpp): declarations only, so
// ISA-specific files may include it. ops/gemv.cpp dispatches to them.
//
// Every path computes each output y[i, j] = dot(x[i, :], W[j, :]) (+ bias[j])
// with the same operations in the same order, whatever the tile it falls in:
//   16 lane sums s_l (l = 0..15), s_l = fma(x[k], W[j, k], s_l) over k = l, l+16, l+32, ...
//   in increasing k from s_l = +0 (elements past K read as 0), then the fixed tree
//   t_i = s_i + s_{i+8} (i < 8), u_i = t_i + t_{i+4} (i < 4), v_i = u_i + u_{i+2} (i < 2),
//   dot = v_0 + v_1, and y = dot + bias[j] when there is a bias.
// The AVX-512 and AVX2 paths both use FMA and agree bitwise; the generic path
// rounds the product and the sum separately (no FMA in the baseline ISA).
#pragma once
#include "kernels.h"

namespace fastmlp {

// y[i, j] for rows i in [0, M), outputs j in [j0, j1): x (M, K) and W (N, K)
// and y (M, N) row-major contiguous; bias (N,) or nullptr. No activation.
#define FASTMLP_GEMV_ISA(suffix)                                                                  \
  void gemv_range_##suffix(const float* x, index_t M, index_t K, const float* W, index_t N,       \
                           const float* bias, float* y, index_t j0, index_t j1);                   \
  int gemv_row_tile_##suffix();

FASTMLP_GEMV_ISA(generic)
FASTMLP_GEMV_ISA(avx2)
FASTMLP_GEMV_ISA(avx512)
#undef FASTMLP_GEMV_ISA

}  // namespace fastmlp
