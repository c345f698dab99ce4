// The GEMM micro-kernels: one GemmKernelTable row per micro-kernel (its
// register tile, its B packing, its ISA's activations). gemm/gemm_plan.h
// picks one per CPU class and ISA with the blocking and packing around it
// (BLIS's context); the driver (sgemm.cpp) is the same for all.
// This header holds only constants and declarations, so the ISA-specific
// translation units may include it without leaking code into baseline ones.
#pragma once
#include "kernels.h"
#include "ops/activation_isa.h"

namespace fastmlp {

// Micro-kernel contract (every ISA):
//   C[m x n tile] = act( alpha * sum_p opA[i,p] * opB[p,j] + beta * C + bias[j] )
//   opA[i,p] = a[i*rs_a + p*cs_a]  for i < m   (rows >= m are never read)
//   opB[p,j] = b[p*rs_b + j]       for j < n   (columns >= n are never read)
//   packed A is rs_a = 1, cs_a = MR; packed B is rs_b = NR; the direct (unpacked)
//   path passes the caller's strides. m <= MR, n <= NR, kc >= 1.
//   c: the tile's top-left element, row stride ldc; only m x n is touched.
//   beta == 0: C is not read. bias: the tile's slice of the bias or nullptr.
//   act: Identity or Relu (kernels.h), applied last in registers. The driver
//   (sgemm.cpp) passes Identity for every other ActivationSpec and applies it
//   right after the micro-kernel stored the tile (hot in L1) with the row's
//   act_forward, the ISA's vector activation: the same code as
//   activation_forward on that path. (The micro-kernels take only the enum,
//   not the ActivationSpec, and do not call out: either made every call of
//   the ReLU path cost more instructions.)
using UkernelFn = void (*)(index_t kc, const float* a, index_t rs_a, index_t cs_a,
                           const float* b, index_t rs_b, float* c, index_t ldc, int m, int n,
                           float alpha, float beta, const float* bias, Activation act);

#define FASTMLP_UKERNEL_ARGS                                                              \
  index_t kc, const float* a, index_t rs_a, index_t cs_a, const float* b, index_t rs_b, \
      float* c, index_t ldc, int m, int n, float alpha, float beta, const float* bias, Activation act

void sgemm_ukernel_generic_4x16(FASTMLP_UKERNEL_ARGS);
void sgemm_ukernel_avx2_6x16(FASTMLP_UKERNEL_ARGS);
void sgemm_ukernel_avx512_8x32(FASTMLP_UKERNEL_ARGS);
void sgemm_ukernel_avx512_12x32_pf4(FASTMLP_UKERNEL_ARGS);
// narrow: the row counts the swapped path (sgemm.cpp) picks from for a narrow N.
void sgemm_ukernel_avx2_5x16(FASTMLP_UKERNEL_ARGS);
void sgemm_ukernel_avx512_10x32(FASTMLP_UKERNEL_ARGS);

// narrow: writes a GEMM result computed transposed back into C, with the
// micro-kernels' epilogue after alpha (which t already holds):
//   C[i*ldc + j] = act(fma(beta, C[i*ldc + j], t[j*ldt + i]))   (beta != 0)
//   C[i*ldc + j] = act(t[j*ldt + i])                            (beta == 0: C not read)
// for i < m, j < n; act: Identity or Relu (max(0, v), as the micro-kernels' MAXPS).
using StoreTransFn = void (*)(index_t m, index_t n, const float* t, index_t ldt, float beta, float* c,
                              index_t ldc, Activation act);
void sgemm_store_trans_avx2(index_t m, index_t n, const float* t, index_t ldt, float beta, float* c,
                            index_t ldc, Activation act);
void sgemm_store_trans_avx512(index_t m, index_t n, const float* t, index_t ldt, float beta, float* c,
                              index_t ldc, Activation act);

// Packs a transposed B micro-panel: dst[p*NR + j] = src[j*ldb + p] for p < kc,
// j < n <= NR, and 0 for j >= n.
using PackBTransFn = void (*)(const float* src, index_t ldb, index_t kc, int n, float* dst);
void sgemm_pack_b_trans_avx512_32(const float* src, index_t ldb, index_t kc, int n, float* dst);
void sgemm_pack_b_trans_avx2_16(const float* src, index_t ldb, index_t kc, int n, float* dst);

// Packs an A micro-panel of a non-transposed A (stored (M, K)): dst[p*MR + i] =
// src[i*lda + p] for p < kc, i < m <= MR, and 0 for i >= m. Writes exactly
// kc*MR floats.
using PackAFn = void (*)(const float* src, index_t lda, index_t kc, int m, float* dst);
void sgemm_pack_a_avx2_6(const float* src, index_t lda, index_t kc, int m, float* dst);
void sgemm_pack_a_avx512_12(const float* src, index_t lda, index_t kc, int m, float* dst);

// narrow: packs a non-transposed B micro-panel: dst[p*NR + j] = src[p*ldb + j]
// for p < kc, j < n <= NR, and 0 for j >= n (the direct path's copy of a B whose
// rows are not aligned; GemmStrategy::pack_b_align).
using PackBFn = void (*)(const float* src, index_t ldb, index_t kc, int n, float* dst);
void sgemm_pack_b_avx2_16(const float* src, index_t ldb, index_t kc, int n, float* dst);

// One micro-kernel and what goes with it (the packing of its B panels, the
// vector activation of its ISA). Which kernel runs, and how the driver blocks
// and packs around it, is decided per CPU class and ISA in gemm/gemm_plan.h.
//   MR x NR       register tile of C held in accumulators by the micro-kernel.
//   prefetch_b_k  how many k steps ahead the micro-kernel prefetches its B
//                 micro-panel into L1 (0: none, left to the hardware prefetchers).
struct GemmKernelTable {
  const char* name;
  int MR, NR;
  UkernelFn ukernel;
  PackBTransFn pack_b_trans;  // packing of a transposed B panel, or nullptr: the portable loop
  // y = act(x) over a row with this ISA's vector activations (ops/activation_isa.h).
  void (*act_forward)(const ActivationSpec& act, const float* x, float* y, index_t n);
  int prefetch_b_k;
  PackAFn pack_a;  // packing of a non-transposed A micro-panel, or nullptr: the portable loop
  PackBFn pack_b_nt;  // narrow: packing of a non-transposed B panel, or nullptr: the portable loop
};

//                                            name                  MR  NR  micro-kernel                   transposed-B packing          act_forward                 prefetch_b_k  A packing  non-transposed B packing
constexpr GemmKernelTable kGemmGeneric     = {"generic_4x16",        4, 16, sgemm_ukernel_generic_4x16,     nullptr,                      activation_forward_generic, 0, nullptr, nullptr};
constexpr GemmKernelTable kGemmAvx2        = {"avx2_6x16",           6, 16, sgemm_ukernel_avx2_6x16,        sgemm_pack_b_trans_avx2_16,   activation_forward_avx2,    0, sgemm_pack_a_avx2_6, sgemm_pack_b_avx2_16};
constexpr GemmKernelTable kGemmAvx512      = {"avx512_8x32",         8, 32, sgemm_ukernel_avx512_8x32,      sgemm_pack_b_trans_avx512_32, activation_forward_avx512,  0, nullptr, nullptr};
constexpr GemmKernelTable kGemmAvx512Wide  = {"avx512_12x32_pf4",   12, 32, sgemm_ukernel_avx512_12x32_pf4, sgemm_pack_b_trans_avx512_32, activation_forward_avx512,  4, sgemm_pack_a_avx512_12, nullptr};
// narrow: the swapped path's extra row counts (direct path only: no A packing).
constexpr GemmKernelTable kGemmAvx2x5      = {"avx2_5x16",           5, 16, sgemm_ukernel_avx2_5x16,        sgemm_pack_b_trans_avx2_16,   activation_forward_avx2,    0, nullptr, sgemm_pack_b_avx2_16};
constexpr GemmKernelTable kGemmAvx512x10   = {"avx512_10x32",       10, 32, sgemm_ukernel_avx512_10x32,     sgemm_pack_b_trans_avx512_32, activation_forward_avx512,  0, nullptr, nullptr};


}  // namespace fastmlp
