// gemv_forward's AVX-512 body (ops/gemv_isa.h gives the arithmetic every path
// shares): one zmm holds an output's 16 lane sums; a tile of R rows x J
// outputs keeps R*J of them in registers, so each vector of W feeds R FMAs
// and each vector of x feeds J.
#include <immintrin.h>
#include "ops/gemv_isa.h"

namespace fastmlp {
namespace {

constexpr int kRowTile = 4;  // rows sharing one read of W (the cost model in ops/gemv.cpp uses it)

// The fixed tree of ops/gemv_isa.h over the 16 lanes of s.
inline float lane_tree(__m512 s) {
  const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
  const __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  const __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

template <int R, int J>
inline void tile(const float* x, index_t K, const float* W, const float* bias, float* y, index_t N) {
  __m512 acc[R][J];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) acc[r][j] = _mm512_setzero_ps();
  index_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 xv[R];
    for (int r = 0; r < R; ++r) xv[r] = _mm512_loadu_ps(x + r * K + k);
    for (int j = 0; j < J; ++j) {
      const __m512 w = _mm512_loadu_ps(W + j * K + k);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(xv[r], w, acc[r][j]);
    }
  }
  if (k < K) {  // the tail: zero-masked loads, the same FMA as a full chunk
    const __mmask16 m = __mmask16((1u << (K - k)) - 1u);
    __m512 xv[R];
    for (int r = 0; r < R; ++r) xv[r] = _mm512_maskz_loadu_ps(m, x + r * K + k);
    for (int j = 0; j < J; ++j) {
      const __m512 w = _mm512_maskz_loadu_ps(m, W + j * K + k);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(xv[r], w, acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) {
      const float d = lane_tree(acc[r][j]);
      y[r * N + j] = bias ? d + bias[j] : d;
    }
}

// Rows r0..r0+R of outputs [j0, j1): J outputs at a time, then one by one.
template <int R, int J>
void rows(const float* x, index_t K, const float* W, index_t N, const float* bias, float* y,
          index_t j0, index_t j1) {
  index_t j = j0;
  for (; j + J <= j1; j += J) tile<R, J>(x, K, W + j * K, bias ? bias + j : nullptr, y + j, N);
  for (; j < j1; ++j) tile<R, 1>(x, K, W + j * K, bias ? bias + j : nullptr, y + j, N);
}

}  // namespace

int gemv_row_tile_avx512() { return kRowTile; }

void gemv_range_avx512(const float* x, index_t M, index_t K, const float* W, index_t N,
                       const float* bias, float* y, index_t j0, index_t j1) {
  index_t i = 0;
  for (; i + 4 <= M; i += 4) rows<4, 4>(x + i * K, K, W, N, bias, y + i * N, j0, j1);
  switch (M - i) {
    case 3: rows<3, 4>(x + i * K, K, W, N, bias, y + i * N, j0, j1); break;
    case 2: rows<2, 4>(x + i * K, K, W, N, bias, y + i * N, j0, j1); break;
    case 1: rows<1, 8>(x + i * K, K, W, N, bias, y + i * N, j0, j1); break;
    default: break;
  }
}

}  // namespace fastmlp
