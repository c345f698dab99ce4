// How the GEMM runs on this CPU: its microarchitecture class, and per class
// and ISA the micro-kernel, the operand-packing choices, the direct path's
// thresholds (one table, gemm_plan.cpp) and the cache blocking MC, KC, NC
// derived from the detected caches with the analytical model of Low et al.,
// "Analytical Modeling Is Enough for High-Performance BLIS", ACM TOMS 43(2),
// 2016, or FASTMLP_GEMM_BLOCKING.
//
// Driver roles (sgemm.cpp, row-major C, vectors along N):
//   KC  depth of one K block: the MR x KC micro-panel of op(A) stays in L1
//       while the KC x NR micro-panels of B stream past it.
//   NC  width of a packed-B block a thread walks per A micro-panel (L2).
//   MC  rows of op(A) per pass, shared by all threads (L3).
// This is BLIS's loop nest with the operands' roles swapped (C^T = B^T A^T):
// BLIS's nr, mr, mc, nc are our MR, NR, NC, MC.
//
// Determinism: everything here depends on the CPU (its caches, its class) and
// on the two environment variables, never on the thread count, so a given CPU
// sums K in the same blocks at 1 and N threads.
#pragma once
#include <string>
#include <vector>
#include "cpu/cpu_info.h"
#include "gemm/kernel_table.h"
#include "kernels.h"

namespace fastmlp {

enum class CpuClass : int {
  Avx512TwoFma = 0,  // "avx512_2fma": cores with two 512-bit FMA ports (Intel Skylake-SP and later servers)
  Avx512Narrow = 1,  // "avx512_256": AVX-512 executed on 256-bit datapaths (AMD Zen 4, Zen 5)
  Avx2 = 2,          // "avx2": AVX2 + FMA cores without AVX-512 (Haswell .. Alder Lake, Zen 1-3)
  Generic = 3,       // "generic": anything else (no AVX2, or not x86)
};
constexpr int kNumCpuClasses = 4;

// Where the micro-kernel's micro-panels come from in the model (Low et al. §5
// assume L1; BLIS's "_l2" kernels, e.g. its sgemm for Skylake-X and Zen 4,
// stream both from L2).
enum class OperandSource : int { L1 = 0, L2 = 1 };

// One cell of the class table: what one class does on one ISA path.
struct GemmStrategy {
  const GemmKernelTable* kernel;
  OperandSource source;
  // source == L2: the share of L1 the MR x KC micro-panel of A may take (sets KC).
  double l1_share;
  // The most of L2 (as a share of its ways) the KC x NC block of B may take;
  // 1: as many ways as the ways rule leaves.
  double l2_share_max;
  // Whether the packed path packs A; false: the micro-kernel reads op(A) in
  // place through its strides.
  bool pack_a;
  // The direct path reads a non-transposed B in place, unless B's rows are
  // not aligned to pack_b_align bytes (0: always in place), its packed panels
  // take at most pack_b_max floats and op(A) has more than pack_b_min_panels
  // MR-row panels: then it packs B.
  int pack_b_align;
  index_t pack_b_max;
  index_t pack_b_min_panels;
  // Below direct_max_flops multiply-adds (M*N*K), and when a transposed B's
  // packed panels take at most direct_max_pack_b floats, the direct path runs
  // (no packing of A, one parallel loop, no barrier).
  double direct_max_flops;
  index_t direct_max_pack_b;
};

struct GemmBlocking {
  index_t MC = 0, KC = 0, NC = 0;
};

// What sgemm reads for one ISA path of the active class.
struct GemmPlan {
  const GemmKernelTable* kernel;
  GemmStrategy strategy;
  GemmBlocking blocking;
  bool blocking_overridden;  // FASTMLP_GEMM_BLOCKING
  // A KC x NR micro-panel of B at most this many bytes stays in L1 on the
  // direct path (half of L1d).
  index_t l1_resident_bytes;
  // skinny: the narrow-N dot path's kernel (gemm/gemm_small.h) on this ISA
  // path, or nullptr (the path is off).
  void (*dot_nt)(index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                 const float* Bt, index_t ldbt, float beta, float* C, index_t ldc, const float* bias,
                 Activation act);
  // The dot path's kernel's name (fastmlp info), or nullptr with dot_nt.
  const char* dot_nt_name;
  // narrow: the swapped path (sgemm.cpp): the micro-kernels it may run the
  // transposed problem on (same ISA, the plan's kernel first; nullptr-ended),
  // and the ISA's store of the transposed result, or nullptr (path off).
  const GemmKernelTable* swap_kernels[4];
  StoreTransFn store_trans;
};

// The table cell (class, isa).
const GemmStrategy& gemm_strategy(CpuClass cls, Isa isa);

// The blocking the model derives for a kernel and strategy from a cache
// description (cpu_info.h; levels missing from `caches` get a conservative
// default: 32 KiB 8-way L1, 256 KiB 4-way L2, no L3). Pure: tests call it
// on synthetic hierarchies.
GemmBlocking gemm_blocking_model(const std::vector<CacheLevel>& caches, const GemmStrategy& s);

// Parses "MC,KC,NC" (decimal, each in [1, kMaxBlock]; KC at most kMaxKC).
// Returns "" and sets *out, or the reason it is invalid.
constexpr index_t kMaxBlock = index_t(1) << 20;
constexpr index_t kMaxKC = 1 << 16;
std::string parse_gemm_blocking(const std::string& text, GemmBlocking* out);

// An override as it applies to a kernel: MC rounded up to a multiple of MR,
// NC to a multiple of NR (KC as given).
GemmBlocking fit_blocking(const GemmBlocking& b, const GemmKernelTable& k);

// The class the CPU belongs to (cpu_info() and best_isa()).
CpuClass detected_cpu_class();
// Active class: detected, or FASTMLP_CPU_CLASS, or set_cpu_class (tests).
CpuClass active_cpu_class();
void set_cpu_class(CpuClass cls);
const char* cpu_class_name(CpuClass cls);
// false for an unknown name.
bool parse_cpu_class(const std::string& name, CpuClass* out);

// Below this many multiply-adds a GEMM's parallel region costs more than it
// gains: sgemm runs it on one thread, and so does any other caller splitting a
// GEMM's work itself (the fused epoch's dw_update_blocks).
constexpr double kParallelMinFlops = 256.0 * 1024;

// Reads FASTMLP_CPU_CLASS and FASTMLP_GEMM_BLOCKING and derives every plan;
// throws std::invalid_argument naming the variable on a bad value. Called by
// the module's import; idempotent. gemm_plan() calls it too.
void gemm_init();

// The plan of the active class for an ISA path.
const GemmPlan& gemm_plan(Isa isa);

// Tests: re-derive every plan with the blocking `*text` ("MC,KC,NC", as
// FASTMLP_GEMM_BLOCKING) or, for nullptr, the model's. Returns "" or why the
// text is invalid (nothing changes then). Not to be called while a GEMM runs.
std::string set_gemm_blocking(const std::string* text);

// narrow: tests: false turns the swapped path off (sgemm.cpp), true restores it.
void set_gemm_swap(bool on);
bool gemm_swap_enabled();
// The micro-kernel's name sgemm's swapped path would run this call on, or
// nullptr (the normal paths). Defined in sgemm.cpp.
const char* sgemm_swap_kernel_name(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float beta,
                                   bool has_bias);
// The micro-kernel's name the direct path runs an M x N x K product on (sgemm.cpp).
const char* sgemm_direct_kernel_name(index_t M, index_t N, index_t K);

}  // namespace fastmlp
