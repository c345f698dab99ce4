// gemv_forward: y = act(x @ W^T + bias) for a few rows, W read in its stored
// (out, in) layout (no packing), and the generic path's body. The per-ISA
// bodies are ops/gemv_avx2.cpp and ops/gemv_avx512.cpp; ops/gemv_isa.h states
// the arithmetic they all share.
#include "common.h"
#include "cpu/by_isa.h"
#include "cpu/cpu_info.h"
#include "kernels.h"
#include "ops/gemv_isa.h"

namespace fastmlp {

namespace {

// The generic path: the same 16 lane sums and tree, a product and a sum
// rounded separately (this file is compiled with -ffp-contract=off).
float generic_dot(const float* x, const float* w, index_t K) {
  float s[16] = {};
  index_t k = 0;
  for (; k + 16 <= K; k += 16)
    for (int l = 0; l < 16; ++l) s[l] = s[l] + x[k + l] * w[k + l];
  for (int l = 0; k + l < K; ++l) s[l] = s[l] + x[k + l] * w[k + l];
  float t[8], u[4];
  for (int i = 0; i < 8; ++i) t[i] = s[i] + s[i + 8];
  for (int i = 0; i < 4; ++i) u[i] = t[i] + t[i + 4];
  const float v0 = u[0] + u[2], v1 = u[1] + u[3];
  return v0 + v1;
}

struct IsaGemv {
  void (*range)(const float*, index_t, index_t, const float*, index_t, const float*, float*, index_t, index_t);
  int (*row_tile)();
};

const IsaGemv& isa_gemv() {
  static constexpr IsaGemv kGeneric{gemv_range_generic, gemv_row_tile_generic};
#ifdef FASTMLP_X86
  static constexpr IsaGemv kAvx2{gemv_range_avx2, gemv_row_tile_avx2};
  static constexpr IsaGemv kAvx512{gemv_range_avx512, gemv_row_tile_avx512};
#endif
  return *FASTMLP_BY_ISA(active_isa(), &kGeneric, &kAvx2, &kAvx512);
}

// Outputs per thread chunk: a multiple of every path's output tile.
constexpr index_t kOutputAlign = 8;
// Threads for one gemv: decided from the bytes of W it reads and the L2 that
// holds them between calls. Split over outputs, each core streams only its
// share of W from its own L2 (or from L3 / memory when W does not fit), so a
// split pays once one core's read of W takes longer than a parallel region's
// fork and join; a W below an eighth of one core's L2 is read by one core in
// about that time (bench/results/README.md#lean), so one thread reads it all.
// The L2 size: l2_bytes_per_core().
bool gemv_parallel(index_t M, index_t K, index_t N) {
  (void)M;  // a few rows: the bytes of W dominate, x and y are K and N per row
  return double(N) * double(K) * sizeof(float) > 0.125 * double(l2_bytes_per_core());
}

// Passes over W's size that the packed GEMM makes for op(B) = W^T (W stored
// (N, K), trans_b): it reads W, writes its packed copy, and reads that copy.
constexpr index_t kGemmWeightPasses = 3;

}  // namespace

index_t l2_bytes_per_core() {
  // The same detection the GEMM's blocking model reads (cpu/cpu_info.h).
  static const index_t bytes = [] {
    for (const CacheLevel& c : cpu_info().caches)
      if (c.level == 2 && c.size > 0) return index_t(c.size);
    return index_t(256) << 10;  // unknown: the smallest L2 of x86-64 cores in use
  }();
  return bytes;
}

int gemv_row_tile_generic() { return 1; }

void gemv_range_generic(const float* x, index_t M, index_t K, const float* W, index_t N,
                        const float* bias, float* y, index_t j0, index_t j1) {
  for (index_t i = 0; i < M; ++i)
    for (index_t j = j0; j < j1; ++j) {
      const float d = generic_dot(x + i * K, W + j * K, K);
      y[i * N + j] = bias ? d + bias[j] : d;
    }
}

index_t gemv_max_rows() { return kGemmWeightPasses * index_t(isa_gemv().row_tile()); }

void gemv_forward(const float* x, index_t M, index_t K, const float* W, index_t N, const float* bias,
                  float* y, ActivationSpec act) {
  if (M <= 0 || N <= 0) return;
  const IsaGemv& g = isa_gemv();
  const bool par = gemv_parallel(M, K, N);
  parallel_or_inline(threads_if(par), [&](int t, int nt) {
    index_t j0, j1;
    split_range(N, t, nt, kOutputAlign, &j0, &j1);
    if (j0 >= j1) return;
    g.range(x, M, K, W, N, bias, y, j0, j1);
    if (act.kind != Activation::Identity)
      for (index_t i = 0; i < M; ++i) activation_forward(act, y + i * N + j0, y + i * N + j0, j1 - j0);
  });
}

}  // namespace fastmlp
