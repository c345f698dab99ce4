// Block sizes and micro-kernels of the packed SGEMM, one row per ISA.
// This header holds only constants and declarations, so the ISA-specific
// translation units may include it without leaking code into baseline ones.
//
// Roles (row-major C, vectors run along N):
//   MR x NR   register tile of C held in accumulators by the micro-kernel.
//   KC        depth of one packed panel pass. The A micro-panel (MR x KC)
//             stays in L1 while the micro-kernel walks across N.
//   NC        width of the packed-B block a thread walks per A micro-panel:
//             KC x NC floats sit in L2 (256 x 512 x 4 B = 512 KiB < 1 MiB).
//   MC        rows of A packed per pass (shared by all threads; L3 sized).
#pragma once
#include "kernels.h"

namespace fastmlp {

// C[m x n tile] = relu?( alpha * Ap @ Bp + beta * C + bias )   (m <= MR, n <= NR)
//   a: packed MR x kc micro-panel, a[p*MR + i] (rows past m are zero)
//   b: packed kc x NR micro-panel, b[p*NR + j] (columns past n are zero)
//   c: the tile's top-left element, row stride ldc; only m x n is touched.
//   beta == 0: C is not read. bias: NR-aligned slice of the bias (n valid) or nullptr.
using UkernelFn = void (*)(index_t kc, const float* a, const float* b, float* c, index_t ldc,
                           int m, int n, float alpha, float beta, const float* bias, bool relu);

void sgemm_ukernel_generic_4x16(index_t, const float*, const float*, float*, index_t, int, int,
                                float, float, const float*, bool);
void sgemm_ukernel_avx2_6x16(index_t, const float*, const float*, float*, index_t, int, int,
                             float, float, const float*, bool);
void sgemm_ukernel_avx512_8x32(index_t, const float*, const float*, float*, index_t, int, int,
                               float, float, const float*, bool);

struct GemmBlocking {
  const char* name;
  int MR, NR;
  index_t MC, KC, NC;
};

//                                          name                  MR  NR    MC   KC   NC
constexpr GemmBlocking kBlockingGeneric = {"generic_4x16",        4, 16,  512, 256, 512};
constexpr GemmBlocking kBlockingAvx2    = {"avx2_6x16",           6, 16,  768, 256, 512};
constexpr GemmBlocking kBlockingAvx512  = {"avx512_8x32",         8, 32, 1024, 256, 512};

}  // namespace fastmlp
