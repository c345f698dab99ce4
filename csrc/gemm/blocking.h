// Block sizes and micro-kernels of the packed SGEMM, one row per ISA.
// This header holds only constants and declarations, so the ISA-specific
// translation units may include it without leaking code into baseline ones.
//
// Roles (row-major C, vectors run along N):
//   MR x NR   register tile of C held in accumulators by the micro-kernel.
//   KC        depth of one packed panel pass. The A micro-panel (MR x KC)
//             stays in L1 while the micro-kernel walks across N.
//   NC        width of the packed-B block a thread walks per A micro-panel:
//             KC x NC floats sit in L2 (256 x 512 or 512 x 256 floats x 4 B =
//             512 KiB, half of a 1 MiB L2).
// AVX-512 takes KC = 512 (A micro-panel 16 KiB of a 32 KiB L1): half the passes
// over C and half the micro-kernel epilogues of KC = 256. Measured in one
// process, interleaved, on the Zen 4 dev machine, 2 threads: 1024^3 +2.6%,
// 2048^3 +2.5%, 256x1024x1024 +9%, 64x784x128 NT +5%, 768^3 +3.6%.
//   MC        rows of A per pass (packed, shared by all threads, L3 sized; the
//             AVX-512 path reads A in place instead: see Kernel::pack_a).
#pragma once
#include "kernels.h"

namespace fastmlp {

// Micro-kernel contract (every ISA):
//   C[m x n tile] = act( alpha * sum_p opA[i,p] * opB[p,j] + beta * C + bias[j] )
//   opA[i,p] = a[i*rs_a + p*cs_a]  for i < m   (rows >= m are never read)
//   opB[p,j] = b[p*rs_b + j]       for j < n   (columns >= n are never read)
//   packed A is rs_a = 1, cs_a = MR; packed B is rs_b = NR; the direct (unpacked)
//   path passes the caller's strides. m <= MR, n <= NR, kc >= 1.
//   c: the tile's top-left element, row stride ldc; only m x n is touched.
//   beta == 0: C is not read. bias: the tile's slice of the bias or nullptr.
//   act: kernels.h's Activation, applied last; each kernel's epilogue handles
//   every enumerator (the k loop never depends on it).
using UkernelFn = void (*)(index_t kc, const float* a, index_t rs_a, index_t cs_a,
                           const float* b, index_t rs_b, float* c, index_t ldc, int m, int n,
                           float alpha, float beta, const float* bias, Activation act);

#define FASTMLP_UKERNEL_ARGS                                                              \
  index_t kc, const float* a, index_t rs_a, index_t cs_a, const float* b, index_t rs_b, \
      float* c, index_t ldc, int m, int n, float alpha, float beta, const float* bias, Activation act

void sgemm_ukernel_generic_4x16(FASTMLP_UKERNEL_ARGS);
void sgemm_ukernel_avx2_6x16(FASTMLP_UKERNEL_ARGS);
void sgemm_ukernel_avx512_8x32(FASTMLP_UKERNEL_ARGS);

// Packs a transposed B micro-panel: dst[p*32 + j] = src[j*ldb + p] for p < kc,
// j < n <= 32, and 0 for j >= n (AVX-512, NR = 32).
void sgemm_pack_b_trans_avx512_32(const float* src, index_t ldb, index_t kc, int n, float* dst);
// The same for the AVX2 panel: dst[p*16 + j] = src[j*ldb + p], j < n <= 16.
void sgemm_pack_b_trans_avx2_16(const float* src, index_t ldb, index_t kc, int n, float* dst);

struct GemmBlocking {
  const char* name;
  int MR, NR;
  index_t MC, KC, NC;
};

//                                          name                  MR  NR    MC   KC   NC
constexpr GemmBlocking kBlockingGeneric = {"generic_4x16",        4, 16,  512, 256, 512};
constexpr GemmBlocking kBlockingAvx2    = {"avx2_6x16",           6, 16,  768, 256, 512};
constexpr GemmBlocking kBlockingAvx512  = {"avx512_8x32",         8, 32, 1024, 512, 256};

}  // namespace fastmlp
