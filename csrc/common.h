// Baseline-only helpers shared by the portable translation units.
// Never include this from an ISA-specific file (ukernel_avx*.cpp): inline code
// compiled there could be picked by the linker for baseline callers.
#pragma once
#include <omp.h>
#include "kernels.h"
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTMLP_HAVE_MXCSR 1
#endif

namespace fastmlp {

// Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) for
// the lifetime of the guard, in the calling thread only. Put one at the top
// of every OpenMP parallel region: denormal weights make float math ~50x slower.
class DenormalGuard {
 public:
#ifdef FASTMLP_HAVE_MXCSR
  DenormalGuard() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~DenormalGuard() { _mm_setcsr(saved_); }
 private:
  unsigned saved_;
#endif
 public:
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;
};

// [begin, end) of the t-th of nt near-equal chunks of n items, chunk edges on
// multiples of `align`.
inline void split_range(index_t n, int t, int nt, index_t align, index_t* begin, index_t* end) {
  index_t blocks = (n + align - 1) / align;
  index_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
  *begin = b0 * align < n ? b0 * align : n;
  *end = b1 * align < n ? b1 * align : n;
}

// Run body(t, nt) on every OpenMP thread when `parallel`, else body(0, 1)
// inline in the caller: even an if(false) parallel region costs ~0.5 us in
// libgomp, as much as a whole small kernel. Either way the body runs under a
// DenormalGuard. (Used by the elementwise/loss kernels: relu, cross_entropy,
// mse, sgd.)
template <typename Body>
inline void parallel_or_inline(bool parallel, Body&& body) {
  if (!parallel || omp_get_max_threads() == 1) {
    DenormalGuard ftz;
    body(0, 1);
    return;
  }
#pragma omp parallel
  {
    DenormalGuard ftz;
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

}  // namespace fastmlp
