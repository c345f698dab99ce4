// sgemm micro-kernel, AVX2 + FMA: 6 x 16 tile of C in 12 ymm accumulators
// (the classic Haswell shape: 12 + 2 B vectors + 1 broadcast = 15 of 16 ymm).
// Compiled with -mavx2 -mfma in this file only. A full-width tile uses plain
// loads; an edge tile (n < 16) uses vmaskmovps so B is never read past n.
#include <immintrin.h>
#include "gemm/kernel_table.h"
#include "gemm/store_trans_isa.h"

namespace fastmlp {

static_assert(kGemmAvx2.MR == 6 && kGemmAvx2.NR == 16, "tile");

namespace {

inline __m256i lane_mask(int valid) {  // lanes [0, valid) set
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
}

// n <= 8: the right half of the tile is all zero; only its left half is computed.
template <int MR>
inline void accumulate_half(index_t kc, const float* const* ar, index_t cs_a, const float* b,
                            index_t rs_b, __m256i k0, __m256* c0) {
#pragma GCC unroll 4
  for (index_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_maskload_ps(b + p * rs_b, k0);
    const index_t off = p * cs_a;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
      c0[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(ar[i] + off), b0, c0[i]);
  }
}

template <int MR, bool Full>
inline void accumulate(index_t kc, const float* const* ar, index_t cs_a, const float* b,
                       index_t rs_b, __m256i k0, __m256i k1, __m256* c0, __m256* c1) {
#pragma GCC unroll 2
  for (index_t p = 0; p < kc; ++p) {
    const float* bp = b + p * rs_b;
    const __m256 b0 = Full ? _mm256_loadu_ps(bp) : _mm256_maskload_ps(bp, k0);
    const __m256 b1 = Full ? _mm256_loadu_ps(bp + 8) : _mm256_maskload_ps(bp + 8, k1);
    const index_t off = p * cs_a;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(ar[i] + off);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
  }
}

// The MR x 16 tile (MR <= 6: 2*MR accumulators + 2 B vectors + 1 broadcast <= 16 ymm).
template <int MR>
[[gnu::always_inline]] inline void ukernel_x16(FASTMLP_UKERNEL_ARGS) {
  const float* ar[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) ar[i] = a + (i < m ? i : m - 1) * rs_a;
  const __m256i k0 = lane_mask(n), k1 = lane_mask(n - 8);

  // Start pulling the C tile in now; it is needed only after the k loop.
  if (beta != 0.0f) {
    for (int i = 0; i < m; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + n - 1), _MM_HINT_T0);
    }
  }

  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  if (n == 16)
    accumulate<MR, true>(kc, ar, cs_a, b, rs_b, k0, k1, c0, c1);
  else if (n <= 8)
    accumulate_half<MR>(kc, ar, cs_a, b, rs_b, k0, c0);
  else
    accumulate<MR, false>(kc, ar, cs_a, b, rs_b, k0, k1, c0, c1);

  // Epilogue. Masked loads/stores (vmaskmovps) only where a vector is partly
  // outside the tile: a masked store costs many cycles on some CPUs
  // (bench/results/README.md#avx2-epilogue).
  const bool full0 = n >= 8, has1 = n > 8, full1 = n == 16;
  auto load0 = [&](const float* p) { return full0 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, k0); };
  auto load1 = [&](const float* p) { return full1 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, k1); };
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta), zero = _mm256_setzero_ps();
  __m256 bias0 = zero, bias1 = zero;
  if (bias) {
    bias0 = load0(bias);
    if (has1) bias1 = load1(bias + 8);
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = _mm256_mul_ps(va, c0[i]);
    if (beta != 0.0f) v0 = _mm256_fmadd_ps(vb, load0(ci), v0);
    if (bias) v0 = _mm256_add_ps(v0, bias0);
    if (act == Activation::Relu) v0 = _mm256_max_ps(zero, v0);
    if (full0)
      _mm256_storeu_ps(ci, v0);
    else
      _mm256_maskstore_ps(ci, k0, v0);
    if (!has1) continue;
    __m256 v1 = _mm256_mul_ps(va, c1[i]);
    if (beta != 0.0f) v1 = _mm256_fmadd_ps(vb, load1(ci + 8), v1);
    if (bias) v1 = _mm256_add_ps(v1, bias1);
    if (act == Activation::Relu) v1 = _mm256_max_ps(zero, v1);
    if (full1)
      _mm256_storeu_ps(ci + 8, v1);
    else
      _mm256_maskstore_ps(ci + 8, k1, v1);
  }
}

}  // namespace

void sgemm_ukernel_avx2_6x16(FASTMLP_UKERNEL_ARGS) {
  ukernel_x16<6>(kc, a, rs_a, cs_a, b, rs_b, c, ldc, m, n, alpha, beta, bias, act);
}

// narrow: 5 rows, for the swapped path's N = 5, 10, 15 (sgemm.cpp).
void sgemm_ukernel_avx2_5x16(FASTMLP_UKERNEL_ARGS) {
  ukernel_x16<5>(kc, a, rs_a, cs_a, b, rs_b, c, ldc, m, n, alpha, beta, bias, act);
}

void sgemm_store_trans_avx2(index_t m, index_t n, const float* t, index_t ldt, float beta, float* c,
                            index_t ldc, Activation act) {
  store_trans_scalar(m, n, t, ldt, beta, c, ldc, act);
}

}  // namespace fastmlp
