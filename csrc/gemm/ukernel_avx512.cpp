// sgemm micro-kernels, AVX-512F: an MR x 32 tile of C in 2*MR zmm accumulators.
// Compiled with -mavx512f (and friends) in this file only; it includes nothing
// but intrinsics and kernel_table.h (constants and declarations, no inline code).
//
// Per k step: 2 vector loads of B (32 floats), MR broadcasts of A, 2*MR FMAs
// (n <= 16: one load and MR FMAs; the zero right half is not computed).
//   8 x 32 (16 accumulators): two FMA pipes need >= 8 independent accumulators
//     to hide the 4-cycle FMA latency; 16 leave room, and 16 + 2 + 1 registers
//     fit in the 32 zmm. Zen 4 runs each 512-bit FMA on its 256-bit pipes, so
//     16 FMAs per k step take as long as the 10 loads need and no prefetch is
//     issued (the kernel of the avx512_256 class, gemm_plan.cpp).
//   12 x 32 (24 accumulators, 24 + 2 + 1 = 27 zmm): for cores with two 512-bit
//     FMA ports (Intel Skylake-SP and later servers), which retire 2 FMAs per
//     cycle but only 2 loads: 14 loads per 24 FMAs leaves the load ports slack
//     that 10 per 16 does not, and the B micro-panel it streams from L2 is
//     software-prefetched PF k steps ahead (PF * 128 bytes) because each k step
//     takes only 12 cycles, less than an L2 hit's latency (Intel 64 and IA-32
//     Architectures Optimization Reference Manual, Skylake Server chapter).
// The accumulation order (one FMA per k step into each accumulator, k
// ascending) is the same for every MR and PF: a prefetch never changes a bit.
// B loads are masked to the n valid columns (a masked load costs the same as
// a plain one here), so an unpacked B edge panel is never read past its end.
#include <immintrin.h>
#include "gemm/kernel_table.h"
#include "gemm/store_trans_isa.h"

namespace fastmlp {

static_assert(kGemmAvx512.MR == 8 && kGemmAvx512.NR == 32, "tile");
static_assert(kGemmAvx512Wide.MR == 12 && kGemmAvx512Wide.NR == 32 && kGemmAvx512Wide.prefetch_b_k == 4,
              "tile");

namespace {

template <int MR, int PF>
[[gnu::always_inline]] inline void ukernel_x32(FASTMLP_UKERNEL_ARGS) {
  const __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
  const __mmask16 k1 = n >= 32 ? (__mmask16)0xFFFF
                       : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u)
                                : (__mmask16)0;
  const float* ar[MR];  // row pointers; rows past m repeat row m-1 (discarded)
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) ar[i] = a + (i < m ? i : m - 1) * rs_a;

  // Start pulling the C tile in now; it is needed only after the k loop.
  if (beta != 0.0f) {
    for (int i = 0; i < m; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + n - 1), _MM_HINT_T0);
    }
  }

  __m512 c0[MR], c1[MR];  // c0: columns 0..15, c1: columns 16..31
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();

  if (n > 16) {
#pragma GCC unroll 2
    for (index_t p = 0; p < kc; ++p) {
      const __m512 b0 = _mm512_maskz_loadu_ps(k0, b + p * rs_b);
      const __m512 b1 = _mm512_maskz_loadu_ps(k1, b + p * rs_b + 16);
      if (PF > 0) {  // a prefetch past the panel's end is harmless (prefetches never fault)
        _mm_prefetch(reinterpret_cast<const char*>(b + (p + PF) * rs_b), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(b + (p + PF) * rs_b + 16), _MM_HINT_T0);
      }
      const index_t off = p * cs_a;
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(ar[i][off]);
        c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
        c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
      }
    }
  } else if (n > 8) {  // a narrow edge (e.g. N = 10 logits): the right half is all zero, skip its FMAs
#pragma GCC unroll 4
    for (index_t p = 0; p < kc; ++p) {
      const __m512 b0 = _mm512_maskz_loadu_ps(k0, b + p * rs_b);
      if (PF > 0) _mm_prefetch(reinterpret_cast<const char*>(b + (p + PF) * rs_b), _MM_HINT_T0);
      const index_t off = p * cs_a;
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) c0[i] = _mm512_fmadd_ps(_mm512_set1_ps(ar[i][off]), b0, c0[i]);
    }
  } else {  // narrow: an edge of at most 8 columns (e.g. N = 100 = 3*32 + 4) in 256-bit
            // vectors: the same FMAs per lane, and half the FMA work on 256-bit datapaths
    const __mmask8 k8 = (__mmask8)k0;
    __m256 h[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) h[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (index_t p = 0; p < kc; ++p) {
      const __m256 b0 = _mm256_maskz_loadu_ps(k8, b + p * rs_b);
      if (PF > 0) _mm_prefetch(reinterpret_cast<const char*>(b + (p + PF) * rs_b), _MM_HINT_T0);
      const index_t off = p * cs_a;
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) h[i] = _mm256_fmadd_ps(_mm256_set1_ps(ar[i][off]), b0, h[i]);
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) c0[i] = _mm512_zextps256_ps512(h[i]);
  }

  // Epilogue on the valid m x n part through the column masks.
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta), zero = _mm512_setzero_ps();
  __m512 bias0 = zero, bias1 = zero;
  if (bias) {
    bias0 = _mm512_maskz_loadu_ps(k0, bias);
    bias1 = _mm512_maskz_loadu_ps(k1, bias + 16);
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m512 v0 = _mm512_mul_ps(va, c0[i]);
    __m512 v1 = _mm512_mul_ps(va, c1[i]);
    if (beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, ci), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, ci + 16), v1);
    }
    if (bias) {
      v0 = _mm512_add_ps(v0, bias0);
      v1 = _mm512_add_ps(v1, bias1);
    }
    if (act == Activation::Relu) {  // max(0, v): MAXPS returns its second operand when either is NaN
      v0 = _mm512_max_ps(zero, v0);
      v1 = _mm512_max_ps(zero, v1);
    }
    _mm512_mask_storeu_ps(ci, k0, v0);
    _mm512_mask_storeu_ps(ci + 16, k1, v1);
  }
}

}  // namespace

void sgemm_ukernel_avx512_8x32(FASTMLP_UKERNEL_ARGS) {
  ukernel_x32<8, 0>(kc, a, rs_a, cs_a, b, rs_b, c, ldc, m, n, alpha, beta, bias, act);
}

void sgemm_ukernel_avx512_12x32_pf4(FASTMLP_UKERNEL_ARGS) {
  ukernel_x32<12, 4>(kc, a, rs_a, cs_a, b, rs_b, c, ldc, m, n, alpha, beta, bias, act);
}

// narrow: 10 rows (20 accumulators, 23 zmm), for the swapped path's N = 10.
void sgemm_ukernel_avx512_10x32(FASTMLP_UKERNEL_ARGS) {
  ukernel_x32<10, 0>(kc, a, rs_a, cs_a, b, rs_b, c, ldc, m, n, alpha, beta, bias, act);
}

void sgemm_store_trans_avx512(index_t m, index_t n, const float* t, index_t ldt, float beta, float* c,
                              index_t ldc, Activation act) {
  store_trans_scalar(m, n, t, ldt, beta, c, ldc, act);
}

}  // namespace fastmlp
