// CPU detection and the active ISA path (the thread count: threads.cpp).
// Detection runs once (first call); the active path can be lowered at runtime
// (FASTMLP_CPU_CAPABILITY, or fastmlp._set_cpu_capability in tests).
#include <atomic>
#include "kernels.h"

namespace fastmlp {

static Isa detect_isa() {
#if defined(FASTMLP_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // libgcc's cpu model also checks XGETBV, so "avx512f" means the OS saves
  // the zmm state too.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Generic;
}

Isa best_isa() {
  static const Isa best = detect_isa();
  return best;
}

static std::atomic<int> g_active{-1};

Isa active_isa() {
  int a = g_active.load(std::memory_order_relaxed);
  if (a < 0) {
    a = static_cast<int>(best_isa());
    g_active.store(a, std::memory_order_relaxed);
  }
  return static_cast<Isa>(a);
}

void set_active_isa(Isa isa) { g_active.store(static_cast<int>(isa), std::memory_order_relaxed); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace fastmlp
