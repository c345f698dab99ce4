// The per-CPU GEMM plan (gemm_plan.h): the class table, the blocking model,
// the environment overrides.
#include "gemm/gemm_plan.h"
#include "gemm/gemm_small.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace fastmlp {

namespace {

constexpr index_t kMiB = index_t(1) << 20;

// ---------------------------------------------------------- class table ----
// One row per CpuClass, one cell per ISA path (Generic, Avx2, Avx512). A cell
// is what that class runs when that ISA path is active; a forced class or a
// lowered ISA path (FASTMLP_CPU_CLASS, FASTMLP_CPU_CAPABILITY) picks another
// cell, so every cell runs (for correctness) on any CPU that has its ISA.

// Portable C++ (no vector ISA): the L1 model, A packed.
constexpr GemmStrategy kGenericCell = {&kGemmGeneric, OperandSource::L1, 0.0, 1.0, true,
                                       0, 0, 0, 32.0 * kMiB, kMiB};

#ifdef FASTMLP_X86
// AVX2 + FMA, 6 x 16 (Haswell's 12 accumulators): the L1 model of Low et al.
// (BLIS's Haswell kernels keep their B micro-panel in L1); A packed (A read
// in place was slower at NN 2048^3: bench/results/README.md#gemm-pack-a); a
// small misaligned B is packed on the direct path: its 32-byte loads split
// lines (#gemm-direct-path). Measured on Zen 4 with the AVX2 path forced;
// the same reasoning holds for Haswell .. Alder Lake and Zen 1-3, whose L1
// serves two 32-byte loads per cycle when they do not split a line (Intel
// Optimization Reference Manual, Haswell chapter; AMD Software Optimization
// Guide for Family 17h).
constexpr GemmStrategy kAvx2Cell = {&kGemmAvx2, OperandSource::L1, 0.0, 1.0, true,
                                    32, index_t(1) << 15, 8, 32.0 * kMiB, kMiB};

// AVX-512 on 256-bit datapaths (Zen 4: each 512-bit FMA occupies both 256-bit
// FMA pipes, AMD Software Optimization Guide for Family 19h). At one 512-bit
// FMA per cycle the 8 x 32 kernel needs 160 bytes per 16 cycles, which the
// private 1 MiB L2 delivers with room to spare, so both micro-panels stream
// from L2 (as BLIS's sgemm for Zen 4, bli_sgemm_skx_asm_32x12_l2, does): KC
// from half of L1 (the A micro-panel, 16 KiB at 32 KiB, halves the passes
// over C against the L1 model's KC), and the B block at most half of L2 (the
// other half holds the A rows read in place and C). A is read in place
// (#gemm-pack-a). Measured on Zen 4 (bench/results/README.md#gemm-blocking).
// Zen 5 is put here too: its server and desktop parts run 512-bit FMAs at full
// width (AMD, Zen 5 Software Optimization Guide) but keep the private 1 MiB
// L2 the strategy rests on; not measured.
constexpr GemmStrategy kAvx512NarrowCell = {&kGemmAvx512, OperandSource::L2, 0.5, 0.5, false,
                                            0, 0, 0, 32.0 * kMiB, kMiB};

// Two 512-bit FMA ports (Intel Skylake-SP, Cascade Lake, Ice Lake-SP,
// Sapphire Rapids: Intel Optimization Reference Manual, Skylake Server
// chapter): twice the FMA rate of Zen 4 per cycle, so the operands must come
// from L1 (L2 would have to deliver 128 bytes of B per 12 cycles plus A): the
// L1 model of Low et al. with the 12 x 32 kernel (ukernel_avx512.cpp) and B
// prefetched into L1 ahead of use. A is packed: an MR x KC micro-panel read in
// place from rows lda apart lands in one L1 set when lda is a multiple of 4 KiB
// and would not stay in an 8- or 12-way L1 (Goto and van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 2008, on packing). The
// direct path runs up to twice the size of Zen 4's: packing costs the same
// bytes while the arithmetic takes half the cycles. Not measured (no such CPU
// here); tests run it on any AVX-512 CPU.
constexpr GemmStrategy kAvx512TwoFmaCell = {&kGemmAvx512Wide, OperandSource::L1, 0.0, 1.0, true,
                                            0, 0, 0, 64.0 * kMiB, kMiB};
#else  // no x86 micro-kernels in this build: every cell is the portable one
constexpr GemmStrategy kAvx2Cell = kGenericCell, kAvx512NarrowCell = kGenericCell,
                       kAvx512TwoFmaCell = kGenericCell;
#endif

struct CpuClassRow {
  const char* name;
  GemmStrategy cell[3];  // by Isa: Generic, Avx2, Avx512
};

constexpr CpuClassRow kCpuClasses[kNumCpuClasses] = {
    {"avx512_2fma", {kGenericCell, kAvx2Cell, kAvx512TwoFmaCell}},
    {"avx512_256", {kGenericCell, kAvx2Cell, kAvx512NarrowCell}},
    // An AVX2-only CPU never runs its AVX-512 cell; it is defined (the Zen 4
    // one) so that forcing the class on an AVX-512 CPU runs a known choice.
    {"avx2", {kGenericCell, kAvx2Cell, kAvx512NarrowCell}},
    {"generic", {kGenericCell, kGenericCell, kGenericCell}},
};

// ------------------------------------------------------------------ model --

struct Cache {
  long long size;
  long long ways;
  long long way_bytes;  // bytes per way: size / ways (L3: per sharing logical CPU)
};

Cache level(const std::vector<CacheLevel>& caches, int lvl, long long dflt_size, int dflt_ways) {
  long long size = dflt_size, ways = dflt_ways, sharing = 1;
  for (const CacheLevel& c : caches)
    if (c.level == lvl && c.size > 0) {
      size = c.size;
      // Fully associative (or not reported): as 16 ways, more than any model term needs.
      ways = c.ways > 0 ? c.ways : 16;
      // L3 per core (its sharers run GEMMs too); L1 and L2 whole, as BLIS sizes
      // them: an SMT sibling running the other half of the same GEMM shares
      // the packed B block, and a VM may report a sharing it does not have.
      sharing = lvl >= 3 ? std::max(1, c.sharing) : 1;
      break;
    }
  if (size <= 0) return {0, 0, 0};
  ways = std::max(1LL, ways);
  return {size, ways, std::max(1LL, size / ways / sharing)};
}

index_t round_down(index_t v, index_t m) { return std::max(m, v / m * m); }
index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

}  // namespace

const GemmStrategy& gemm_strategy(CpuClass cls, Isa isa) {
  return kCpuClasses[int(cls)].cell[int(isa)];
}

GemmBlocking gemm_blocking_model(const std::vector<CacheLevel>& caches, const GemmStrategy& s) {
  const GemmKernelTable& k = *s.kernel;
  const index_t MR = k.MR, NR = k.NR, S = sizeof(float);
  const Cache l1 = level(caches, 1, 32 * 1024, 8);
  const Cache l2 = level(caches, 2, 256 * 1024, 4);
  const Cache l3 = level(caches, 3, 0, 0);
  GemmBlocking b;

  // KC. L1 source (Low et al. §5.3, roles swapped): the KC x NR micro-panel
  // of B streams through L1 past the resident MR x KC micro-panel of A; with
  // LRU replacement the streamed panel may take C ways and the resident one
  // C * MR / NR, one way being left for C, so C = floor((W - 1) / (1 + MR/NR))
  // and KC = C * (bytes per way) / (NR * S). L2 source: the A micro-panel
  // takes the strategy's share of L1.
  index_t kc;
  if (s.source == OperandSource::L1) {
    const index_t c = std::max<index_t>(1, index_t(double(l1.ways - 1) / (1.0 + double(MR) / double(NR))));
    kc = c * l1.way_bytes / (NR * S);
  } else {
    kc = index_t(s.l1_share * double(l1.size) / double(MR * S));
  }
  // Multiples of 16 (the transposed-B packing's 16-deep blocks), within limits.
  b.KC = std::min<index_t>(kMaxKC, kc >= 16 ? kc / 16 * 16 : std::max<index_t>(1, kc));

  // NC (Low et al.'s mc, §5.4): the KC x NC block of B stays in L2 beside the
  // A micro-panel, which takes ceil(MR*KC*S / way) ways, one way being left
  // for C: W - 1 - that many ways, at most the strategy's share of them.
  {
    const index_t ways_a = ceil_div(MR * b.KC * S, l2.way_bytes);
    index_t ways_b = l2.ways - 1 - ways_a;
    ways_b = std::min<index_t>(ways_b, index_t(s.l2_share_max * double(l2.ways) + 1e-9));
    ways_b = std::max<index_t>(1, ways_b);
    b.NC = std::min<index_t>(kMaxBlock / NR * NR, round_down(ways_b * l2.way_bytes / (b.KC * S), NR));
  }

  // MC (Low et al.'s nc, §5.5): the MC x KC block of A stays in this core's
  // share of L3 beside the B block: W - 1 - ceil(KC*NC*S / way) ways. Without
  // an L3, the ways of L2 the B block left.
  {
    const Cache& last = l3.size > 0 ? l3 : l2;
    const index_t ways_b = ceil_div(b.KC * b.NC * S, last.way_bytes);
    const index_t ways_a = std::max<index_t>(1, last.ways - 1 - ways_b);
    b.MC = std::min<index_t>(index_t(1) << 16, round_down(ways_a * last.way_bytes / (b.KC * S), MR));
    b.MC = round_down(b.MC, MR);
  }
  return b;
}

std::string parse_gemm_blocking(const std::string& text, GemmBlocking* out) {
  index_t v[3];
  size_t pos = 0;
  for (int f = 0; f < 3; ++f) {
    const char* name = f == 0 ? "MC" : f == 1 ? "KC" : "NC";
    size_t start = pos;
    index_t x = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      x = x * 10 + (text[pos] - '0');
      if (x > kMaxBlock) return std::string(name) + " is larger than " + std::to_string(kMaxBlock);
      ++pos;
    }
    if (pos == start)
      return "expected three positive integers MC,KC,NC (e.g. 1024,512,256), got '" + text + "'";
    if (x < 1) return std::string(name) + " must be >= 1, got 0";
    v[f] = x;
    if (f < 2) {
      if (pos >= text.size() || text[pos] != ',')
        return "expected three positive integers MC,KC,NC (e.g. 1024,512,256), got '" + text + "'";
      ++pos;
    }
  }
  if (pos != text.size())
    return "expected three positive integers MC,KC,NC (e.g. 1024,512,256), got '" + text + "'";
  if (v[1] > kMaxKC) return "KC is larger than " + std::to_string(kMaxKC) + ", got " + std::to_string(v[1]);
  out->MC = v[0];
  out->KC = v[1];
  out->NC = v[2];
  return "";
}

GemmBlocking fit_blocking(const GemmBlocking& b, const GemmKernelTable& k) {
  return {ceil_div(b.MC, k.MR) * k.MR, b.KC, ceil_div(b.NC, k.NR) * k.NR};
}

CpuClass detected_cpu_class() {
  const Isa best = best_isa();
  if (best == Isa::Generic) return CpuClass::Generic;
  if (best == Isa::Avx2) return CpuClass::Avx2;
  const std::string& v = cpu_info().vendor;
  return v == "AuthenticAMD" || v == "HygonGenuine" ? CpuClass::Avx512Narrow : CpuClass::Avx512TwoFma;
}

const char* cpu_class_name(CpuClass cls) { return kCpuClasses[int(cls)].name; }

bool parse_cpu_class(const std::string& name, CpuClass* out) {
  for (int i = 0; i < kNumCpuClasses; ++i)
    if (name == kCpuClasses[i].name) {
      *out = CpuClass(i);
      return true;
    }
  return false;
}

namespace {

struct Plans {
  GemmPlan plan[kNumCpuClasses][3];
  CpuClass initial;
};

void fill_plans(Plans* p, const GemmBlocking* forced) {
  const CpuInfo& cpu = cpu_info();
  const Cache l1 = level(cpu.caches, 1, 32 * 1024, 8);
  for (int c = 0; c < kNumCpuClasses; ++c)
    for (int i = 0; i < 3; ++i) {
      const GemmStrategy& s = kCpuClasses[c].cell[i];
      GemmPlan& g = p->plan[c][i];
      g.kernel = s.kernel;
      g.strategy = s;
      g.blocking = forced ? fit_blocking(*forced, *s.kernel) : gemm_blocking_model(cpu.caches, s);
      g.blocking_overridden = forced != nullptr;
      g.l1_resident_bytes = index_t(l1.size / 2);
      // skinny: the dot path on the AVX-512 path of every class whose cell runs an
      // AVX-512 micro-kernel (not the portable cell of the generic class).
#ifdef FASTMLP_X86
      g.dot_nt = i == int(Isa::Avx512) && s.kernel != &kGemmGeneric ? sgemm_dot_nt_avx512 : nullptr;
#else
      g.dot_nt = nullptr;
#endif
      g.dot_nt_name = g.dot_nt ? "avx512_dot_nt" : nullptr;
      // narrow: the swapped path's kernels: the cell's own and, on the vector
      // paths, the others of its ISA with the same vector width.
      for (const GemmKernelTable*& k : g.swap_kernels) k = nullptr;
      g.swap_kernels[0] = s.kernel;
      g.store_trans = nullptr;
#ifdef FASTMLP_X86
      if (s.kernel == &kGemmAvx2) {
        g.swap_kernels[1] = &kGemmAvx2x5;
        g.store_trans = sgemm_store_trans_avx2;
      } else if (s.kernel == &kGemmAvx512 || s.kernel == &kGemmAvx512Wide) {
        g.swap_kernels[1] = &kGemmAvx512x10;
        g.swap_kernels[2] = s.kernel == &kGemmAvx512 ? &kGemmAvx512Wide : &kGemmAvx512;
        g.store_trans = sgemm_store_trans_avx512;
      }
#endif
    }
}

Plans build_plans() {
  Plans p;
  p.initial = detected_cpu_class();
  if (const char* env = std::getenv("FASTMLP_CPU_CLASS"); env && *env) {
    if (!parse_cpu_class(env, &p.initial)) {
      std::string names;
      for (const CpuClassRow& r : kCpuClasses) names += std::string(names.empty() ? "" : ", ") + "'" + r.name + "'";
      throw std::invalid_argument("FASTMLP_CPU_CLASS: expected one of " + names + ", got '" + env + "'");
    }
  }
  GemmBlocking forced;
  bool overridden = false;
  if (const char* env = std::getenv("FASTMLP_GEMM_BLOCKING"); env && *env) {
    const std::string err = parse_gemm_blocking(env, &forced);
    if (!err.empty()) throw std::invalid_argument("FASTMLP_GEMM_BLOCKING: " + err);
    overridden = true;
  }
  fill_plans(&p, overridden ? &forced : nullptr);
  return p;
}

std::once_flag g_once;
std::atomic<const Plans*> g_plans{nullptr};
Plans g_test_plans[2];  // set_gemm_blocking's alternating slots
int g_test_slot = 0;
std::atomic<int> g_class{-1};

}  // namespace

void gemm_init() {
  std::call_once(g_once, [] {  // a throw leaves the flag unset: the next call retries
    static const Plans plans = build_plans();
    g_plans.store(&plans, std::memory_order_release);
    g_class.store(int(plans.initial), std::memory_order_relaxed);
  });
}

CpuClass active_cpu_class() {
  gemm_init();
  return CpuClass(g_class.load(std::memory_order_relaxed));
}

void set_cpu_class(CpuClass cls) {
  gemm_init();
  g_class.store(int(cls), std::memory_order_relaxed);
}

const GemmPlan& gemm_plan(Isa isa) {
  gemm_init();
  return g_plans.load(std::memory_order_acquire)->plan[g_class.load(std::memory_order_relaxed)][int(isa)];
}

std::string set_gemm_blocking(const std::string* text) {
  gemm_init();
  GemmBlocking forced;
  if (text) {
    const std::string err = parse_gemm_blocking(*text, &forced);
    if (!err.empty()) return err;
  }
  Plans* p = &g_test_plans[g_test_slot];
  g_test_slot ^= 1;
  p->initial = CpuClass(g_class.load(std::memory_order_relaxed));
  fill_plans(p, text ? &forced : nullptr);
  g_plans.store(p, std::memory_order_release);
  return "";
}

namespace {
std::atomic<bool> g_swap{true};
}  // namespace

void set_gemm_swap(bool on) { g_swap.store(on, std::memory_order_relaxed); }
bool gemm_swap_enabled() { return g_swap.load(std::memory_order_relaxed); }

}  // namespace fastmlp
