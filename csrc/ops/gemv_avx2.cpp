// gemv_forward's AVX2 body (ops/gemv_isa.h gives the arithmetic every path
// shares): an output's 16 lane sums are two ymm (lanes 0-7 and 8-15), so the
// tree's first level is their sum and the bits equal the AVX-512 path's.
#include <immintrin.h>
#include "ops/gemv_isa.h"

namespace fastmlp {
namespace {

constexpr int kRowTile = 2;  // rows sharing one read of W (the cost model in ops/gemv.cpp uses it)

inline float lane_tree(__m256 lo, __m256 hi) {
  const __m256 t = _mm256_add_ps(lo, hi);
  const __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  const __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

// Lane l of the mask is on when l < n (n in [0, 8]).
inline __m256i lanes_below(index_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), idx);
}

template <int R, int J>
inline void tile(const float* x, index_t K, const float* W, const float* bias, float* y, index_t N) {
  __m256 lo[R][J], hi[R][J];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) lo[r][j] = hi[r][j] = _mm256_setzero_ps();
  index_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m256 xl[R], xh[R];
    for (int r = 0; r < R; ++r) {
      xl[r] = _mm256_loadu_ps(x + r * K + k);
      xh[r] = _mm256_loadu_ps(x + r * K + k + 8);
    }
    for (int j = 0; j < J; ++j) {
      const __m256 wl = _mm256_loadu_ps(W + j * K + k), wh = _mm256_loadu_ps(W + j * K + k + 8);
      for (int r = 0; r < R; ++r) {
        lo[r][j] = _mm256_fmadd_ps(xl[r], wl, lo[r][j]);
        hi[r][j] = _mm256_fmadd_ps(xh[r], wh, hi[r][j]);
      }
    }
  }
  if (k < K) {  // the tail: zero-masked loads, the same FMAs as a full chunk
    const __m256i ml = lanes_below(K - k < 8 ? K - k : 8), mh = lanes_below(K - k > 8 ? K - k - 8 : 0);
    __m256 xl[R], xh[R];
    for (int r = 0; r < R; ++r) {
      xl[r] = _mm256_maskload_ps(x + r * K + k, ml);
      xh[r] = _mm256_maskload_ps(x + r * K + k + 8, mh);
    }
    for (int j = 0; j < J; ++j) {
      const __m256 wl = _mm256_maskload_ps(W + j * K + k, ml), wh = _mm256_maskload_ps(W + j * K + k + 8, mh);
      for (int r = 0; r < R; ++r) {
        lo[r][j] = _mm256_fmadd_ps(xl[r], wl, lo[r][j]);
        hi[r][j] = _mm256_fmadd_ps(xh[r], wh, hi[r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) {
      const float d = lane_tree(lo[r][j], hi[r][j]);
      y[r * N + j] = bias ? d + bias[j] : d;
    }
}

template <int R, int J>
void rows(const float* x, index_t K, const float* W, index_t N, const float* bias, float* y,
          index_t j0, index_t j1) {
  index_t j = j0;
  for (; j + J <= j1; j += J) tile<R, J>(x, K, W + j * K, bias ? bias + j : nullptr, y + j, N);
  for (; j < j1; ++j) tile<R, 1>(x, K, W + j * K, bias ? bias + j : nullptr, y + j, N);
}

}  // namespace

int gemv_row_tile_avx2() { return kRowTile; }

void gemv_range_avx2(const float* x, index_t M, index_t K, const float* W, index_t N,
                     const float* bias, float* y, index_t j0, index_t j1) {
  index_t i = 0;
  for (; i + 2 <= M; i += 2) rows<2, 2>(x + i * K, K, W, N, bias, y + i * N, j0, j1);
  if (i < M) rows<1, 4>(x + i * K, K, W, N, bias, y + i * N, j0, j1);
}

}  // namespace fastmlp
