// Portable SGEMM driver, BLIS style: loops over blocks, packing, threading
// and edge tiles live here; the arithmetic lives in the per-ISA micro-kernels
// (ukernel_*.cpp), chosen with the block sizes and packing by the active
// ISA's GemmPlan (gemm_plan.h: the CPU class's micro-kernel and strategy, the
// blocking derived from the caches).
//
//   for jc in N step NC3:                 (bounds the packed-B buffer)
//     for pc in K step KC:
//       pack B[pc:pc+kc, jc:jc+nc] -> Bp  (kc x NR micro-panels, zero-padded)
//       for ic in M step MC:
//         pack A[ic:ic+mc, pc:pc+kc] -> Ap (MR x kc micro-panels, zero-padded;
//                                          pack_a == false: A read in place)
//         parallel over tiles (MT rows x NC cols) of the mc x nc block:
//           for ir in tile step MR:       (A micro-panel stays in L1)
//             for jr in tile step NR:     (B block KC x NC streams from L2)
//               ukernel(Ap[ir], Bp[jr]) -> C tile
//
// When A is not packed (pack_a == false) and the column strips divide evenly
// among the threads, each thread instead owns whole strips about NC wide and runs
//   for strip: for pc: pack its B block; for ir in M: for jr in strip: ukernel
// with no barrier at all (the "strips" path).
//
// A narrow N (e.g. 10 logits) with op(A) not transposed and K deep enough runs
// instead as dot products along K on the AVX-512 path (the "dot path",
// gemm/gemm_small.h; when: use_dot_path).
//
// Threads split only M and N (tiles, packing panels): every element of C is
// computed by the same sequence of FMAs whatever the thread count, so results
// are bitwise identical at 1 and N threads. K is never split.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include "common.h"
#include "gemm/gemm_plan.h"
#include "gemm/gemm_small.h"

namespace fastmlp {

namespace {

constexpr index_t kNC3 = 4096;  // columns of B packed per jc pass

// Grow-only packing scratch owned by the calling thread (so that concurrent
// callers from different Python threads don't share it). Reusing it avoids an
// mmap + page faults on every call.
thread_local AlignedBuffer<float> tls_pack_a, tls_pack_b;

// Ap: panels of MR rows; panel r holds op(A)[i0 + r*MR + i, p0 + p] at
// Ap[r*MR*kc + p*MR + i]; rows past m are zero.
void pack_a_panel(bool trans_a, const float* A, index_t lda, index_t i0, index_t m,
                  index_t p0, index_t kc, int MR, float* dst) {
  if (trans_a) {  // A stored (K, M): op(A)[i,p] = A[p*lda + i], rows contiguous in i
    for (index_t p = 0; p < kc; ++p) {
      const float* src = A + (p0 + p) * lda + i0;
      float* d = dst + p * MR;
      index_t i = 0;
      for (; i < m; ++i) d[i] = src[i];
      for (; i < MR; ++i) d[i] = 0.0f;
    }
  } else {  // A stored (M, K): op(A)[i,p] = A[i*lda + p]; read rows, write strided
    for (index_t i = 0; i < m; ++i) {
      const float* src = A + (i0 + i) * lda + p0;
      for (index_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
    }
    for (index_t i = m; i < MR; ++i)
      for (index_t p = 0; p < kc; ++p) dst[p * MR + i] = 0.0f;
  }
}

// Bp: panels of NR columns; panel r holds op(B)[p0 + p, j0 + r*NR + j] at
// Bp[r*NR*kc + p*NR + j]; columns past n are zero.
void pack_b_panel(bool trans_b, const float* B, index_t ldb, index_t p0, index_t kc,
                  index_t j0, index_t n, int NR, float* dst) {
  if (!trans_b) {  // B stored (K, N): each k row of the panel is contiguous
    for (index_t p = 0; p < kc; ++p) {
      const float* src = B + (p0 + p) * ldb + j0;
      float* d = dst + p * NR;
      index_t j = 0;
      for (; j < n; ++j) d[j] = src[j];
      for (; j < NR; ++j) d[j] = 0.0f;
    }
  } else {  // B stored (N, K): op(B)[p,j] = B[j*ldb + p]: a transpose, done in
            // 8-deep strips so reads stay contiguous and writes stay in L1
    constexpr index_t S = 8;
    index_t p = 0;
    for (; p + S <= kc; p += S) {
      for (index_t j = 0; j < n; ++j) {
        const float* src = B + (j0 + j) * ldb + p0 + p;
        for (index_t s = 0; s < S; ++s) dst[(p + s) * NR + j] = src[s];
      }
      for (index_t j = n; j < NR; ++j)
        for (index_t s = 0; s < S; ++s) dst[(p + s) * NR + j] = 0.0f;
    }
    for (; p < kc; ++p) {
      for (index_t j = 0; j < n; ++j) dst[p * NR + j] = B[(j0 + j) * ldb + p0 + p];
      for (index_t j = n; j < NR; ++j) dst[p * NR + j] = 0.0f;
    }
  }
}

void pack_b(const GemmKernelTable& k, bool trans_b, const float* B, index_t ldb, index_t p0, index_t kc,
            index_t j0, index_t n, float* dst) {
  if (trans_b && k.pack_b_trans)
    k.pack_b_trans(B + j0 * ldb + p0, ldb, kc, int(n), dst);
  else if (!trans_b && k.pack_b_nt)
    k.pack_b_nt(B + p0 * ldb + j0, ldb, kc, int(n), dst);
  else
    pack_b_panel(trans_b, B, ldb, p0, kc, j0, n, k.NR, dst);
}

// The NR-column panels of op(B)[p0:p0+kc, j0:j1] (j0 starts a panel), panel r
// of the range at dst + r*NR*kc, as pack_b packs them one by one. A
// non-transposed B is read row by row across all the panels: each row's
// j0:j1 slice is contiguous, so the reads stream (panel by panel they took
// NR floats from each of kc rows ldb apart, a new page per row). A short slice
// ends before the hardware's stream prefetchers have trained on it, so then
// the slices a few rows ahead are prefetched (a long one streams by itself,
// and prefetching it too was slower: bench/results/README.md, "Issue 12:
// square-GEMM packing").
void pack_b_panels(const GemmKernelTable& k, bool trans_b, const float* B, index_t ldb, index_t p0,
                   index_t kc, index_t j0, index_t j1, float* dst) {
  const index_t NR = k.NR;
  if (trans_b) {
    for (index_t j = j0; j < j1; j += NR)
      pack_b(k, trans_b, B, ldb, p0, kc, j, std::min<index_t>(NR, j1 - j), dst + (j - j0) * kc);
    return;
  }
  constexpr index_t kAhead = 4, kShortSlice = 512;  // rows; floats (2 KiB)
  const bool prefetch = j1 - j0 <= kShortSlice;
  for (index_t p = 0; p < kc; ++p) {
    const float* src = B + (p0 + p) * ldb;
    if (prefetch && p + kAhead < kc)
      for (index_t j = j0; j < j1; j += 16) __builtin_prefetch(src + kAhead * ldb + j);
    for (index_t j = j0; j < j1; j += NR) {
      float* d = dst + (j - j0) * kc + p * NR;
      const index_t n = std::min<index_t>(NR, j1 - j);
      index_t q = 0;
      for (; q < n; ++q) d[q] = src[j + q];
      for (; q < NR; ++q) d[q] = 0.0f;
    }
  }
}

void pack_a(const GemmKernelTable& k, bool trans_a, const float* A, index_t lda, index_t i0, index_t m,
            index_t p0, index_t kc, float* dst) {
  if (!trans_a && k.pack_a)
    k.pack_a(A + i0 * lda + p0, lda, kc, int(m), dst);
  else
    pack_a_panel(trans_a, A, lda, i0, m, p0, kc, k.MR, dst);
}

// The activations the micro-kernels leave to the driver (kernel_table.h):
// applied to the m x n tile at c right after the last K block stored it.
// vec: act is neither Identity nor Relu (decided once per sgemm call).
inline void tile_activation(const GemmKernelTable& k, const ActivationSpec& act, bool vec, float* c,
                            index_t ldc, index_t m, index_t n) {
  if (!vec) return;
  for (index_t i = 0; i < m; ++i) k.act_forward(act, c + i * ldc, c + i * ldc, n);
}

// C = act(beta*C + bias) for K == 0 or alpha == 0 (A and B not read).
void scale_c(index_t M, index_t N, float beta, float* C, index_t ldc, const float* bias, ActivationSpec act) {
  const bool relu = act.kind == Activation::Relu, vec = !relu && act.kind != Activation::Identity;
  parallel_or_inline(threads_if(M * N > 65536), [&](int t, int nt) {
    index_t i0, i1;
    split_range(M, t, nt, 1, &i0, &i1);
    for (index_t i = i0; i < i1; ++i) {
      float* ci = C + i * ldc;
      for (index_t j = 0; j < N; ++j) {
        float v = beta != 0.0f ? beta * ci[j] : 0.0f;
        if (bias) v += bias[j];
        ci[j] = relu ? activate(act, v) : v;
      }
      if (vec) activation_forward(act, ci, ci, N);
    }
  });
}

// A grid of tm x tn tiles over an m x n block, for a static OpenMP split of
// the tm * tn tiles (tile t: row strip t % tm, column strip t / tm). Strips
// take consecutive MR-row / NR-column panels, near-equal counts (they differ
// by at most one panel), so threads get near-equal work.
struct Tiles {
  index_t tm, tn;  // row strips, column strips
  index_t mp, np;  // panels of MR rows / NR columns in the block
  void range(index_t t, index_t m, index_t n, int MR, int NR, index_t* i_lo, index_t* i_hi,
             index_t* j_lo, index_t* j_hi) const {
    const index_t ti = t % tm, tj = t / tm;
    *i_lo = std::min(m, ti * mp / tm * MR);
    *i_hi = std::min(m, (ti + 1) * mp / tm * MR);
    *j_lo = std::min(n, tj * np / tn * NR);
    *j_hi = std::min(n, (tj + 1) * np / tn * NR);
  }
};

// Column strips about NC wide (a B block per strip in L2), and enough row
// strips that the tile count is a multiple of nt.
Tiles plan_tiles(index_t mc, index_t nc, int MR, int NR, index_t NC, int nt) {
  const index_t mp = (mc + MR - 1) / MR, np = (nc + NR - 1) / NR;
  const index_t tn = std::max<index_t>(1, std::min(np, (nc + NC - 1) / NC));
  index_t parts = nt / std::gcd<index_t>(tn, nt);  // tn*parts divisible by nt
  parts = std::max<index_t>(1, std::min(parts, mp));
  return {parts, tn, mp, np};
}

// The K block depth for a K: the fewest blocks of at most kc_max (the plan's
// KC), of near-equal depth (rounded up to 16 when kc_max is a multiple of 16,
// for the transposed-B packing's 16-deep steps), instead of full blocks and a
// thin last one that would pay a pass over C for little arithmetic. Any depth
// up to kc_max keeps the model's cache residency. It depends only on K and the
// plan, never on the thread count; K <= kc_max stays one block.
index_t even_kc(index_t K, index_t kc_max) {
  const index_t blocks = (K + kc_max - 1) / kc_max;
  index_t kc = (K + blocks - 1) / blocks;
  if (kc_max % 16 == 0) kc = std::min(kc_max, (kc + 15) / 16 * 16);
  return kc;
}

// ------------------------------------------------ skinny: the dot path ----
// Whether C = op(A) @ op(B) with a narrow N (e.g. N = 10 logits) runs as dot
// products along K (gemm/gemm_small.h) on this plan: op(A) not transposed (its
// rows K-contiguous), N <= kDotMaxN, and K deep enough that the lanes the
// micro-kernels leave empty (they fill N of 16 lanes per k) cost more than the
// dot path's cross-lane sums. The cost model, per row of C and in vector
// operations: the micro-kernel K * ceil(N / 16); the dot path, per computed
// column (N rounded up to its tile width), K / 16 FMAs plus about 6 for the
// tile's tree, epilogue and setup, with 10% margin (fitted on Zen 4:
// bench/results/README.md#gemm-dot-path). What the M rows save must also pay
// for copying a non-transposed B (about 2 operations per element of B).
// The decision depends on M, N, K and trans_a only, never on trans_b or the
// thread count, so x @ W.T and x @ WT (the Python layer's forward and the
// fused epoch's) take the same path and give the same bits.
index_t dot_tile_cols(index_t N) {  // columns the kernel computes (gemm_small_avx512.cpp's tiles)
  if (N <= 2) return N;
  if (N == 3 || N == 5 || N == 6 || N == 9) return (N + 2) / 3 * 3;
  return (N + 3) / 4 * 4;
}

bool use_dot_path(const GemmPlan& plan, bool trans_a, index_t M, index_t N, index_t K) {
  if (!plan.dot_nt || trans_a || N > kDotMaxN || K < 32) return false;
  const double micro = double(K) * double((N + 15) / 16);
  const double dot = double(dot_tile_cols(N)) * (double((K + 15) / 16) + 6.0);
  const double saved_per_row = micro - 1.1 * dot;
  return saved_per_row > 0.0 && double(M) * saved_per_row > 2.0 * double(N) * double(K);
}

// The direct path (above sgemm) on micro-kernel `kern` (the plan's, or one of
// its swap_kernels: the same ISA).
void direct_path(const GemmPlan& plan, const GemmKernelTable& kern, int nthreads, bool trans_a,
               bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
               const float* B, index_t ldb, float beta, float* C, index_t ldc, const float* bias,
               const ActivationSpec& act) {
  const GemmStrategy& strat = plan.strategy;
  const bool vec_act = act.kind != Activation::Identity && act.kind != Activation::Relu;
  const Activation ukernel_act = vec_act ? Activation::Identity : act.kind;
  const int MR = kern.MR, NR = kern.NR;
  const index_t KC = even_kc(K, plan.blocking.KC), NC = plan.blocking.NC;
  const index_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  const index_t n_panels = (N + NR - 1) / NR;
  // ------------------------------------------------------ direct path ----
  // Bp (trans_b, or a misaligned B: see GemmStrategy::pack_b_align): panel r holds
  // op(B)[p, r*NR + j] at Bp[r*NR*K + p*NR + j].
  // Split N across threads when there are enough NR panels and op(A) is not
  // the larger operand: each thread then reads all of op(A) (M*K) and packs
  // exactly the 1/nt of B it multiplies (no barrier, no B lines moving
  // between cores). Otherwise split M (e.g. N = 10 logits, or 784x64x128 TN,
  // the first layer's weight gradient): each thread reads 1/nt of op(A) and
  // all of B, packing its own copy of all the panels when B is packed (a read
  // and a write: twice B's size; a transposed B is always packed, hence M <= 2N
  // for trans_b). A copy shared between
  // the cores was slower than packing twice: the next call's packing had to
  // invalidate it in the other core first (bench/results/README.md#gemm-direct-path).
  // Splitting N with op(A) the larger operand would also make the threads
  // write every row of C on both sides of a column boundary, which shares a
  // cache line per row when C's rows do not start on one (a NumPy array's
  // usually do not).
  const bool split_n = n_panels >= nthreads && M <= (trans_b ? 2 : 1) * N;
  const Tiles tiles = split_n ? Tiles{1, nthreads, (M + MR - 1) / MR, n_panels}
                              : plan_tiles(M, N, MR, NR, NC, nthreads);
  const index_t tm = tiles.tm, tn = tiles.tn;
  const size_t bp_floats = size_t(n_panels * NR * K);
  const auto misaligned = [&](std::uintptr_t align) {
    return ((reinterpret_cast<std::uintptr_t>(B) | std::uintptr_t(ldb) * sizeof(float)) % align) != 0;
  };
  const bool pack = trans_b || (strat.pack_b_align && M > strat.pack_b_min_panels * MR &&
                                bp_floats <= size_t(strat.pack_b_max) &&
                                misaligned(std::uintptr_t(strat.pack_b_align)));
  float* const Bp = pack ? tls_pack_b.reserve(bp_floats * size_t(tm > 1 ? nthreads : 1)) : nullptr;
  auto pack_panels = [&](float* dst, index_t r_lo, index_t r_hi) {
    for (index_t r = r_lo; r < r_hi; ++r)
      pack_b(kern, trans_b, B, ldb, 0, K, r * NR, std::min<index_t>(NR, N - r * NR),
             dst + r * NR * K);
  };
  // body(tid, nth): thread tid of nth takes a static share of the panels
  // to pack and of the tiles (which thread computes a tile never changes
  // its arithmetic).
  auto body = [&](int tid, int nth) {
    float* const Bt = Bp && tm > 1 ? Bp + bp_floats * size_t(tid) : Bp;  // this thread's panels
    if (Bt && tm > 1) pack_panels(Bt, 0, n_panels);
    index_t lo, hi;
    split_range(tm * tn, tid, nth, 1, &lo, &hi);
    for (index_t t = lo; t < hi; ++t) {
      index_t i_lo, i_hi, j_lo, j_hi;
      tiles.range(t, M, N, MR, NR, &i_lo, &i_hi, &j_lo, &j_hi);
      if (Bt && tm == 1) pack_panels(Bt, j_lo / NR, (j_hi + NR - 1) / NR);
      for (index_t pc = 0; pc < K; pc += KC) {
        const index_t kc = std::min(KC, K - pc);
        const bool last = pc + kc == K;
        const float beta_eff = pc == 0 ? beta : 1.0f;
        auto tile = [&](index_t i, index_t j) {
          const int m = int(std::min<index_t>(MR, i_hi - i));
          const int n = int(std::min<index_t>(NR, j_hi - j));
          const float* bp = Bt ? Bt + (j / NR) * NR * K + pc * NR : B + pc * ldb + j;
          kern.ukernel(kc, A + i * rs_a + pc * cs_a, rs_a, cs_a, bp, Bt ? NR : ldb,
                       C + i * ldc + j, ldc, m, n, alpha, beta_eff,
                       last && bias ? bias + j : nullptr, last ? ukernel_act : Activation::Identity);
          tile_activation(kern, act, last && vec_act, C + i * ldc + j, ldc, m, n);
        };
        // A shallow B micro-panel (kc x NR, at most half of L1) stays in L1 while
        // the A panels stream past it: walk N outside, M inside. This wins
        // for small K, e.g. the weight gradient (K = batch; see
        // bench/results/README.md#gemm-direct-path). A deep one would not
        // fit, so then the A micro-panel is the L1-resident operand instead.
        if (kc * NR * index_t(sizeof(float)) <= plan.l1_resident_bytes) {
          for (index_t j = j_lo; j < j_hi; j += NR)
            for (index_t i = i_lo; i < i_hi; i += MR) tile(i, j);
        } else {
          for (index_t i = i_lo; i < i_hi; i += MR)
            for (index_t j = j_lo; j < j_hi; j += NR) tile(i, j);
        }
      }
    }
  };
  parallel_or_inline(nthreads, body);
}

// ------------------------------------------- narrow: the swapped path ----
// C = op(A) @ op(B) with a narrow N (e.g. N = 10: the output layer's weight
// gradient, dW2^T = H^T dY) fills only N of the micro-kernel's vector lanes
// per row, while M fills them all. The swapped path computes the transposed
// product T = op(B)^T op(A)^T (N x M, vectors along M) on the direct path with
// the micro-kernel of the plan's ISA whose row count wastes least on N
// (GemmPlan::swap_kernels), then writes T^T into C with the epilogue
// (StoreTransFn). Each element of C is the same FMA sequence (fma(a, b, acc)
// == fma(b, a, acc), k ascending, the same K blocks) and the same epilogue
// (alpha in T, then beta's FMA, then Relu), so its bits are those of the
// normal path: taken only where that holds exactly, i.e. no bias (the
// micro-kernel's alpha*acc + bias may be contracted into one FMA by the
// compiler) and beta == 0 or a single K block (else beta would enter a later
// block's sum). Whether it runs never changes a bit, so the choice may
// depend on anything but is made from the shapes and the plan alone.
//
// Only for a transposed op(A) (A stored K x M, the weight gradient's
// activations): the swapped problem then reads it in place, M contiguous. For
// op(A) = A it would have to transpose M x K elements first, which costs at
// least as much as the lanes it saves: with N <= VL the normal path runs one
// FMA vector per element of op(A) and the swapped one about N/VL, so the swap
// saves under 1 - N/VL < 1 FMA per element of A, while the register transposes
// of pack_*.cpp take log2(VL) shuffles plus a load and a store per VL
// elements on one shuffle port (4 + 2 per 16 on AVX-512) and are followed by
// the kernel's reads of the packed copy (bench/results/README.md#gemm-narrow:
// measured slower swapped).
//
// The cost model, in instruction slots of the kernels' code (ukernel_*.cpp:
// NR = 2 vectors, an edge of at most one vector skips the other): per k step
// and tile the FMAs plus half its broadcasts and B loads (two load ports per
// core on every x86-64 class here), an epilogue per tile; a transposed B's
// packing on the normal side ((log2(VL) + 2) / VL per element, as above); the
// swapped path's scalar store (a load, an FMA or none, a store: 2 per element
// of C, store-bound). Counted from the code, not fitted to a CPU; the swap
// must save 10% of the normal path's count (the model ignores the extra pass
// over T, N x M floats in L1 here). Measured on the avx512_256 class (Zen 4)
// and its AVX2 path (bench/results/README.md#gemm-narrow).
double ukernel_cost(const GemmKernelTable& k, index_t M, index_t N, index_t K) {
  const index_t MR = k.MR, NR = k.NR, VL = NR / 2;
  const index_t row_panels = (M + MR - 1) / MR, full = N / NR, r = N % NR;
  const index_t tiles_n = full + (r > 0), vecs = 2 * full + (r == 0 ? 0 : r <= VL ? 1 : 2);
  const double per_k = double(row_panels) * (double(vecs * MR) + 0.5 * double(tiles_n * MR + vecs));
  const double prefetch = k.prefetch_b_k > 0 ? 0.5 * double(row_panels * vecs) : 0.0;
  const double epilogue = double(row_panels) * double(tiles_n * 8 + vecs * MR * 2);
  return double(K) * (per_k + prefetch) + epilogue;
}

double pack_trans_cost_per_element(const GemmKernelTable& k) {
  const int VL = k.NR / 2;
  int log2_vl = 0;
  while ((1 << (log2_vl + 1)) <= VL) ++log2_vl;
  return double(log2_vl + 2) / double(VL);
}

constexpr double kStoreTransCostPerElement = 2.0, kSwapMargin = 0.9;

// Of the plan's swap_kernels, the one of least cost(k) below best_cost, else best.
template <class Cost>
const GemmKernelTable* cheapest_kernel(const GemmPlan& plan, const GemmKernelTable* best, double best_cost,
                                       Cost cost) {
  for (const GemmKernelTable* k : plan.swap_kernels) {
    if (!k) break;
    const double c = cost(*k);
    if (c < best_cost) {
      best = k;
      best_cost = c;
    }
  }
  return best;
}

// The kernel the swapped path runs, or nullptr when the normal path is
// expected to cost no more (or the swap would change bits, or not run direct).
const GemmKernelTable* swap_kernel(const GemmPlan& plan, bool trans_a, bool trans_b, index_t M, index_t N,
                                   index_t K, float beta, const float* bias) {
  if (!plan.store_trans || !trans_a || bias || !gemm_swap_enabled() || N >= M) return nullptr;
  if (beta != 0.0f && even_kc(K, plan.blocking.KC) < K) return nullptr;
  // The swapped problem (M' = N, N' = M, op(B') = A in place) must run direct.
  if (double(M) * double(N) * double(K) > plan.strategy.direct_max_flops) return nullptr;
  const GemmKernelTable& k0 = *plan.kernel;
  const double pack_b = trans_b ? pack_trans_cost_per_element(k0) * double((N + k0.NR - 1) / k0.NR * k0.NR) *
                                      double(K)
                                : 0.0;
  return cheapest_kernel(plan, nullptr, kSwapMargin * (ukernel_cost(k0, M, N, K) + pack_b),
                         [&](const GemmKernelTable& k) {
                           return ukernel_cost(k, N, M, K) + kStoreTransCostPerElement * double(M) * double(N);
                         });
}

// The micro-kernel the direct path runs C = op(A) @ op(B) on: of the plan's
// kernels of one ISA (GemmPlan::swap_kernels, all NR wide, none packing A on
// this path), the one whose row count wastes least on M (e.g. 10 rows for
// M = 10, the output layer's dW = dY^T X), by the same cost model, when it saves
// 10% over the plan's own; else the plan's. Any of them computes every element
// with the same FMA sequence, so the choice never changes a bit.
const GemmKernelTable& direct_kernel(const GemmPlan& plan, index_t M, index_t N, index_t K) {
  return *cheapest_kernel(plan, plan.kernel, kSwapMargin * ukernel_cost(*plan.kernel, M, N, K),
                          [&](const GemmKernelTable& k) { return ukernel_cost(k, M, N, K); });
}

thread_local AlignedBuffer<float> tls_swap_t;

// One parallel region, no barrier: each thread takes a contiguous range of
// NR-wide panels of M (the swapped problem's columns), computes its columns of
// T on one thread and writes back the same rows of C. The split only decides
// which thread computes an element, never its operations.
void swapped_path(const GemmPlan& plan, const GemmKernelTable& kern, int nthreads, bool trans_a,
                  bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                  const float* B, index_t ldb, float beta, float* C, index_t ldc, const ActivationSpec& act) {
  const bool vec_act = act.kind != Activation::Identity && act.kind != Activation::Relu;
  const Activation store_act = vec_act ? Activation::Identity : act.kind;
  const index_t NR = plan.kernel->NR;  // the normal path's tile width (its activation segments)
  const index_t m_panels = (M + kern.NR - 1) / kern.NR;
  parallel_or_inline(nthreads, [&](int tid, int nth) {
    index_t p0, p1;
    split_range(m_panels, tid, nth, 1, &p0, &p1);
    const index_t i0 = p0 * kern.NR, i1 = std::min(M, p1 * kern.NR), m = i1 - i0;
    if (m <= 0) return;
    float* const T = tls_swap_t.reserve(size_t(N * m));  // this thread's columns of T (N x m)
    // T = alpha * op(B)^T op(A)[i0:i1]^T: op'(A') = op(B)^T is B with the opposite
    // flag; op'(B') = op(A)^T is A (stored K x M: trans_a, swap_kernel's condition)
    // from column i0.
    direct_path(plan, kern, 1, !trans_b, !trans_a, N, m, K, alpha, B, ldb, A + i0, lda, 0.0f, T, m, nullptr,
                ActivationSpec{});
    plan.store_trans(m, N, T, m, beta, C + i0 * ldc, ldc, store_act);
    // Any other activation per NR-wide column segment, as the normal path's tiles apply it.
    if (vec_act)
      for (index_t j = 0; j < N; j += NR)
        tile_activation(*plan.kernel, act, true, C + i0 * ldc + j, ldc, m, std::min(NR, N - j));
  });
}

}  // namespace

// The direct path (below the plan's direct_max_flops multiply-adds): no
// packing of A at all (the micro-kernel reads op(A) through its strides), B
// read in place when it is not transposed and otherwise packed once for all
// of K, and one parallel loop with no barriers. Packing only pays when a panel
// is reused many times; at these sizes it would cost as much as the arithmetic.
// (Below kParallelMinFlops multiply-adds, gemm_plan.h, it runs on one thread.)

void sgemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K,
           float alpha, const float* A, index_t lda, const float* B, index_t ldb,
           float beta, float* C, index_t ldc, const float* bias, ActivationSpec act) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc, bias, act);
    return;
  }
  const GemmPlan& plan = gemm_plan(active_isa());
  const GemmKernelTable& kern = *plan.kernel;
  const GemmStrategy& strat = plan.strategy;
  const bool vec_act = act.kind != Activation::Identity && act.kind != Activation::Relu;
  // What the micro-kernels apply: Relu in registers, everything else after them.
  const Activation ukernel_act = vec_act ? Activation::Identity : act.kind;
  const int MR = kern.MR, NR = kern.NR;
  const index_t KC = even_kc(K, plan.blocking.KC), MC = plan.blocking.MC, NC = plan.blocking.NC;
  const double flops = double(M) * double(N) * double(K);
  const int nt = get_num_threads();
  const int nthreads = nt > 1 && flops >= kParallelMinFlops ? nt : 1;
  // op(A)[i,p] = A[i*rs_a + p*cs_a]
  const index_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  const index_t n_panels = (N + NR - 1) / NR;

  if (use_dot_path(plan, trans_a, M, N, K)) {
    // --------------------------------------------------------- dot path ----
    // B^T rows K-contiguous: B itself when transposed, else a copy (N x K,
    // at most kDotMaxN rows). Threads split M; each element is computed by
    // one thread with the same operations whatever the split.
    const float* Bt = B;
    index_t ldbt = ldb;
    if (!trans_b) {
      // In 16-deep steps: each destination row gets whole lines (its N rows
      // lie K floats apart, often in one L1 set), the 16 source rows stay in L1.
      float* const t = tls_pack_b.reserve(size_t(N * K));
      for (index_t p0 = 0; p0 < K; p0 += 16) {
        const index_t ps = std::min<index_t>(16, K - p0);
        for (index_t j = 0; j < N; ++j) {
          const float* src = B + p0 * ldb + j;
          float* dst = t + j * K + p0;
          for (index_t q = 0; q < ps; ++q) dst[q] = src[q * ldb];
        }
      }
      Bt = t;
      ldbt = K;
    }
    parallel_or_inline(nthreads, [&](int tid, int nth) {
      index_t i0, i1;
      split_range(M, tid, nth, 8, &i0, &i1);
      if (i0 >= i1) return;
      plan.dot_nt(i1 - i0, N, K, alpha, A + i0 * lda, lda, Bt, ldbt, beta, C + i0 * ldc, ldc, bias,
                  ukernel_act);
      tile_activation(kern, act, vec_act, C + i0 * ldc, ldc, i1 - i0, N);
    });
    return;
  }

  if (const GemmKernelTable* sk = swap_kernel(plan, trans_a, trans_b, M, N, K, beta, bias)) {
    swapped_path(plan, *sk, nthreads, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, act);
    return;
  }

  if (flops <= strat.direct_max_flops && (!trans_b || n_panels * NR * K <= strat.direct_max_pack_b)) {
    direct_path(plan, direct_kernel(plan, M, N, K), nthreads, trans_a, trans_b, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc, bias, act);
    return;
  }

  // ------------------------------------------------- packed path, strips ----
  // When A is read in place and the threads can own whole column strips
  // (about NC wide, one per B block), each thread packs the B panels of its
  // own strip right before it walks all of M over them: no panel is shared,
  // so there is no barrier at all, and the freshly packed block is still in
  // the thread's L2. (The block-synchronous path below packs every strip of
  // a KC pass first, a whole L2's worth per thread at 1024^3, so the first
  // strips' blocks were evicted before use.)
  if (!strat.pack_a) {
    const Tiles strips = plan_tiles(M, N, MR, NR, NC, nthreads);
    if (strips.tm == 1) {
      const index_t kc_max = std::min(K, KC);
      const index_t strip_panels = (strips.np + strips.tn - 1) / strips.tn;  // widest strip
      const size_t region = size_t(strip_panels * NR * kc_max);
      float* const Bp_all = tls_pack_b.reserve(region * size_t(nthreads));
      parallel_or_inline(nthreads, [&](int tid, int nth) {
        float* const Bp = Bp_all + region * size_t(tid);  // this thread's strip block
        index_t lo, hi;
        split_range(strips.tn, tid, nth, 1, &lo, &hi);
        for (index_t t = lo; t < hi; ++t) {
          index_t i_lo, i_hi, j_lo, j_hi;  // i_lo == 0, i_hi == M (tm == 1)
          strips.range(t, M, N, MR, NR, &i_lo, &i_hi, &j_lo, &j_hi);
          for (index_t pc = 0; pc < K; pc += KC) {
            const index_t kc = std::min(KC, K - pc);
            const bool last = pc + kc == K;
            const float beta_eff = pc == 0 ? beta : 1.0f;
            pack_b_panels(kern, trans_b, B, ldb, pc, kc, j_lo, j_hi, Bp);
            for (index_t i = i_lo; i < i_hi; i += MR) {
              const int m = int(std::min<index_t>(MR, i_hi - i));
              for (index_t j = j_lo; j < j_hi; j += NR) {
                const int n = int(std::min<index_t>(NR, j_hi - j));
                kern.ukernel(kc, A + i * rs_a + pc * cs_a, rs_a, cs_a, Bp + (j - j_lo) * kc, NR,
                             C + i * ldc + j, ldc, m, n, alpha, beta_eff,
                             last && bias ? bias + j : nullptr, last ? ukernel_act : Activation::Identity);
                tile_activation(kern, act, last && vec_act, C + i * ldc + j, ldc, m, n);
              }
            }
          }
        }
      });
      return;
    }
  }

  // -------------------------------------------------------- packed path ----
  // A parallel region of its own even at one thread (not parallel_or_inline):
  // its `omp for` loops must bind to this region, not to a caller's.
  const index_t nc_max = std::min(N, kNC3), mc_max = std::min(M, MC), kc_max = std::min(K, KC);
  float* Bp = tls_pack_b.reserve(size_t((nc_max + NR - 1) / NR) * NR * kc_max);
  float* Ap = strat.pack_a ? tls_pack_a.reserve(size_t((mc_max + MR - 1) / MR) * MR * kc_max) : nullptr;

#pragma omp parallel num_threads(nthreads)
  {
    DenormalGuard ftz;
    const int nthr = omp_get_num_threads();
    for (index_t jc = 0; jc < N; jc += kNC3) {
      const index_t nc = std::min(kNC3, N - jc);
      const index_t nb_panels = (nc + NR - 1) / NR;
      for (index_t pc = 0; pc < K; pc += KC) {
        const index_t kc = std::min(KC, K - pc);
        const bool last = pc + kc == K;
        const float beta_eff = pc == 0 ? beta : 1.0f;

        {  // each thread packs a contiguous range of the panels (as a static omp for would)
          index_t r_lo, r_hi;
          split_range(nb_panels, omp_get_thread_num(), nthr, 1, &r_lo, &r_hi);
          if (r_lo < r_hi)
            pack_b_panels(kern, trans_b, B, ldb, pc, kc, jc + r_lo * NR, jc + std::min(nc, r_hi * NR),
                          Bp + r_lo * NR * kc);
        }
#pragma omp barrier

        for (index_t ic = 0; ic < M; ic += MC) {
          const index_t mc = std::min(MC, M - ic);
          if (Ap) {
            const index_t na_panels = (mc + MR - 1) / MR;
#pragma omp for schedule(static)
            for (index_t r = 0; r < na_panels; ++r) {
              const index_t i0 = r * MR;
              pack_a(kern, trans_a, A, lda, ic + i0, std::min<index_t>(MR, mc - i0), pc, kc,
                     Ap + r * MR * kc);
            }
          }

          const Tiles tiles = plan_tiles(mc, nc, MR, NR, NC, nthr);
          const index_t tm = tiles.tm, tn = tiles.tn;
          // Tiles ordered N-block-major so a thread's consecutive tiles share
          // the same B block in its L2.
#pragma omp for schedule(static)
          for (index_t t = 0; t < tm * tn; ++t) {
            index_t i_lo, i_hi, j_lo, j_hi;
            tiles.range(t, mc, nc, MR, NR, &i_lo, &i_hi, &j_lo, &j_hi);
            for (index_t i = i_lo; i < i_hi; i += MR) {
              // op(A)[ic+i.., pc..]: the packed micro-panel, or A itself through its strides
              const float* ap = Ap ? Ap + (i / MR) * MR * kc : A + (ic + i) * rs_a + pc * cs_a;
              const index_t ap_rs = Ap ? 1 : rs_a, ap_cs = Ap ? MR : cs_a;
              const int m = int(std::min<index_t>(MR, i_hi - i));
              for (index_t j = j_lo; j < j_hi; j += NR) {
                const int n = int(std::min<index_t>(NR, j_hi - j));
                float* c = C + (ic + i) * ldc + jc + j;
                kern.ukernel(kc, ap, ap_rs, ap_cs, Bp + (j / NR) * NR * kc, NR, c, ldc, m, n, alpha,
                             beta_eff, last && bias ? bias + jc + j : nullptr, last ? ukernel_act : Activation::Identity);
                tile_activation(kern, act, last && vec_act, c, ldc, m, n);
              }
            }
          }
        }
      }
    }
  }
}

// narrow: tests: the micro-kernel the swapped path would run.
const char* sgemm_swap_kernel_name(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float beta,
                                   bool has_bias) {
  static const float one = 1.0f;
  const GemmPlan& plan = gemm_plan(active_isa());
  if (M <= 0 || N <= 0 || K <= 0 || use_dot_path(plan, trans_a, M, N, K)) return nullptr;
  const GemmKernelTable* k = swap_kernel(plan, trans_a, trans_b, M, N, K, beta, has_bias ? &one : nullptr);
  return k ? k->name : nullptr;
}

// narrow: tests: the micro-kernel the direct path would run C = op(A) @ op(B) on
// (not swapped).
const char* sgemm_direct_kernel_name(index_t M, index_t N, index_t K) {
  return direct_kernel(gemm_plan(active_isa()), M, N, K).name;
}

// dp: whether sgemm runs this shape on the dot path (its own FMA order, so a
// caller splitting M must keep every block on the same side; train_step.cpp).
bool sgemm_uses_dot_path(bool trans_a, index_t M, index_t N, index_t K) {
  return M > 0 && N > 0 && K > 0 && use_dot_path(gemm_plan(active_isa()), trans_a, M, N, K);
}

}  // namespace fastmlp
