// The narrow-N dot path's AVX-512 kernel (gemm/gemm_small.h gives the
// arithmetic). Compiled with -mavx512f (and friends) in this file only.
//
// Why: for N = 10 (logits) the micro-kernels' vectors run along N and fill 10
// of 16 lanes. Here the vectors run along K, so every lane is useful: a tile
// of R rows x J columns keeps its R*J <= 16 lane-sum vectors in registers
// (each A vector feeds J FMAs, each B vector R), and the 16 vectors are summed
// across lanes together by one transposing tree (4 levels, 45 shuffles and adds
// for up to 16 elements) instead of one horizontal sum per element.
#include <immintrin.h>
#include "gemm/gemm_small.h"

namespace fastmlp {

namespace {

// r[q] = the fixed tree of gemm_small.h over the 16 lanes of s[q], q < 16.
inline __m512 lane_trees(const __m512 s[16]) {
  __m512 a[8], b[4], c[2];
  for (int k = 0; k < 8; ++k)  // per 128-bit chunk: (s0+s2, t0+t2, s1+s3, t1+t3) of s = s[2k], t = s[2k+1]
    a[k] = _mm512_add_ps(_mm512_unpacklo_ps(s[2 * k], s[2 * k + 1]),
                         _mm512_unpackhi_ps(s[2 * k], s[2 * k + 1]));
  for (int k = 0; k < 4; ++k) {  // chunk c, position q: x_c of s[4k + q]
    const __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(a[2 * k]), _mm512_castps_pd(a[2 * k + 1]));
    const __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(a[2 * k]), _mm512_castps_pd(a[2 * k + 1]));
    b[k] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
  }
  for (int k = 0; k < 2; ++k)  // chunks: x0+x1 of b[2k], x2+x3 of b[2k], x0+x1 of b[2k+1], x2+x3 of b[2k+1]
    c[k] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0xDD));
  // chunk g: (x0+x1) + (x2+x3) of b[g]; lane 4g + q is s[4g + q]'s dot
  return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
}

// The m x n (m <= R, n <= J) tile at c: lane r*J + j holds C[r, j]. Rows and
// columns past m, n repeat the last valid one (computed, never stored).
template <int R, int J>
inline void dot_tile(index_t K, const float* a, index_t lda, const float* b, index_t ldb, float* c,
                     index_t ldc, int m, int n, float alpha, float beta, const float* bias,
                     Activation act) {
  static_assert(R * J <= 16, "one tree");
  const float* ar[R];
  const float* br[J];
  for (int r = 0; r < R; ++r) ar[r] = a + (r < m ? r : m - 1) * lda;
  for (int j = 0; j < J; ++j) br[j] = b + (j < n ? j : n - 1) * ldb;
  __m512 s[16];
  for (int q = 0; q < 16; ++q) s[q] = _mm512_setzero_ps();
  index_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 av[R];
    for (int r = 0; r < R; ++r) av[r] = _mm512_loadu_ps(ar[r] + k);
    for (int j = 0; j < J; ++j) {
      const __m512 bv = _mm512_loadu_ps(br[j] + k);
      for (int r = 0; r < R; ++r) s[r * J + j] = _mm512_fmadd_ps(av[r], bv, s[r * J + j]);
    }
  }
  if (k < K) {  // the tail: zero-masked loads, the same FMA as a full step
    const __mmask16 km = __mmask16((1u << (K - k)) - 1u);
    __m512 av[R];
    for (int r = 0; r < R; ++r) av[r] = _mm512_maskz_loadu_ps(km, ar[r] + k);
    for (int j = 0; j < J; ++j) {
      const __m512 bv = _mm512_maskz_loadu_ps(km, br[j] + k);
      for (int r = 0; r < R; ++r) s[r * J + j] = _mm512_fmadd_ps(av[r], bv, s[r * J + j]);
    }
  }
  const __m512 dot = lane_trees(s);

  // Epilogue, as the micro-kernels': lanes r*J .. r*J + n - 1 are row r's.
  const __mmask16 nm = __mmask16((1u << n) - 1u);
  __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), dot);
  if (beta != 0.0f) {
    __m512 cv = _mm512_setzero_ps();
    for (int r = 0; r < m; ++r)
      cv = _mm512_mask_expand_ps(cv, __mmask16(nm << (r * J)), _mm512_maskz_loadu_ps(nm, c + r * ldc));
    v = _mm512_fmadd_ps(_mm512_set1_ps(beta), cv, v);
  }
  if (bias) {
    const __m512 b1 = _mm512_maskz_loadu_ps(nm, bias);
    __m512 bv = _mm512_setzero_ps();
    for (int r = 0; r < m; ++r) bv = _mm512_mask_expand_ps(bv, __mmask16(nm << (r * J)), b1);
    v = _mm512_add_ps(v, bv);
  }
  if (act == Activation::Relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);  // NaN stays NaN, as there
  for (int r = 0; r < m; ++r)
    _mm512_mask_storeu_ps(c + r * ldc, nm, _mm512_maskz_compress_ps(__mmask16(nm << (r * J)), v));
}

// All rows, all N columns in tiles of R x J (J-wide column tiles, then the rest).
template <int R, int J>
void dot_rows(index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda, const float* Bt,
              index_t ldbt, float beta, float* C, index_t ldc, const float* bias, Activation act) {
  for (index_t i = 0; i < M; i += R) {
    const int m = int(M - i < R ? M - i : R);
    for (index_t j = 0; j < N; j += J) {
      const int n = int(N - j < J ? N - j : J);
      dot_tile<R, J>(K, A + i * lda, lda, Bt + j * ldbt, ldbt, C + i * ldc + j, ldc, m, n, alpha, beta,
                     bias ? bias + j : nullptr, act);
    }
  }
}

}  // namespace

void sgemm_dot_nt_avx512(index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                         const float* Bt, index_t ldbt, float beta, float* C, index_t ldc,
                         const float* bias, Activation act) {
  // The tile's shape only changes which elements share registers, never an
  // element's arithmetic; sgemm.cpp's dot_tile_cols mirrors this choice.
  switch (N) {
    case 1: dot_rows<8, 1>(M, N, K, alpha, A, lda, Bt, ldbt, beta, C, ldc, bias, act); break;
    case 2: dot_rows<8, 2>(M, N, K, alpha, A, lda, Bt, ldbt, beta, C, ldc, bias, act); break;
    case 3: case 5: case 6: case 9:
      dot_rows<5, 3>(M, N, K, alpha, A, lda, Bt, ldbt, beta, C, ldc, bias, act);
      break;
    default: dot_rows<4, 4>(M, N, K, alpha, A, lda, Bt, ldbt, beta, C, ldc, bias, act); break;
  }
}

}  // namespace fastmlp
