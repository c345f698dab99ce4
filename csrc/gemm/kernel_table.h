// The per-ISA GEMM table (BLIS's context): one GemmKernelTable row per ISA
// holds everything that ISA decides (block sizes, micro-kernel, packing, the
// direct path's choices); the driver (sgemm.cpp) is the same for all and
// reads the row gemm_kernel_table(active_isa()) selects.
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

// Packs a transposed B micro-panel: dst[p*NR + j] = src[j*ldb + p] for p < kc,
// j < n <= NR, and 0 for j >= n.
using PackBTransFn = void (*)(const float* src, index_t ldb, index_t kc, int n, float* dst);
void sgemm_pack_b_trans_avx512_32(const float* src, index_t ldb, index_t kc, int n, float* dst);
void sgemm_pack_b_trans_avx2_16(const float* src, index_t ldb, index_t kc, int n, float* dst);

// One ISA's GEMM. Roles (row-major C, vectors run along N):
//   MR x NR   register tile of C held in accumulators by the micro-kernel.
//   KC        depth of one packed panel pass: the A micro-panel (MR x KC)
//             stays in L1 while the micro-kernel walks across N.
//   NC        width of the packed-B block a thread walks per A micro-panel:
//             KC x NC floats fit in half of a 1 MiB L2.
//   MC        rows of A per pass (packed, shared by all threads, L3 sized).
// Why each row's numbers: bench/results/README.md#gemm-blocking.
struct GemmKernelTable {
  const char* name;
  int MR, NR;
  index_t MC, KC, NC;
  UkernelFn ukernel;
  PackBTransFn pack_b_trans;  // packing of a transposed B panel, or nullptr: the portable loop
  // Whether the packed path packs A; false: the micro-kernel reads op(A) in
  // place through its strides (bench/results/README.md#gemm-pack-a).
  bool pack_a;
  // The direct path reads a non-transposed B in place, unless B's rows are
  // not aligned to pack_b_align bytes (0: always in place), its packed panels
  // take at most pack_b_max floats and op(A) has more than pack_b_min_panels
  // MR-row panels: then it packs B (bench/results/README.md#gemm-direct-path).
  int pack_b_align;
  index_t pack_b_max;
  index_t pack_b_min_panels;
  // y = act(x) over a row with this ISA's vector activations (ops/activation_isa.h).
  void (*act_forward)(const ActivationSpec& act, const float* x, float* y, index_t n);
};

//                                          name           MR  NR    MC   KC   NC  micro-kernel               transposed-B packing          pack_a  pack_b_align, _max, _min_panels  act_forward
constexpr GemmKernelTable kGemmGeneric = {"generic_4x16",  4, 16,  512, 256, 512, sgemm_ukernel_generic_4x16, nullptr,                      true,   0,  0,               0,            activation_forward_generic};
constexpr GemmKernelTable kGemmAvx2    = {"avx2_6x16",     6, 16,  768, 256, 512, sgemm_ukernel_avx2_6x16,    sgemm_pack_b_trans_avx2_16,   true,  32, index_t(1) << 15, 8,            activation_forward_avx2};
constexpr GemmKernelTable kGemmAvx512  = {"avx512_8x32",   8, 32, 1024, 512, 256, sgemm_ukernel_avx512_8x32,  sgemm_pack_b_trans_avx512_32, false,  0,  0,               0,            activation_forward_avx512};

// The row for an ISA (the generic one on non-x86 builds). Defined in sgemm.cpp.
const GemmKernelTable& gemm_kernel_table(Isa isa);

}  // namespace fastmlp
