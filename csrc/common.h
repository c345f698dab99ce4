// Baseline-only helpers shared by the portable translation units.
// Never include this from an ISA-specific file (ukernel_avx*.cpp): inline code
// compiled there could be picked by the linker for baseline callers.
#pragma once
#include <omp.h>
#include <cstddef>
#include <cstdlib>
#include <new>
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

// act(v) for one float (kernels.h ActivationSpec): the scalar epilogue of the
// portable GEMM paths. Relu and Identity inline, like the micro-kernels'
// registers; the others through activation_forward on one element, which
// gives the active path's vector bits (an element's result never depends on
// its position or the range length).
inline float activate(const ActivationSpec& act, float v) {
  if (act.kind == Activation::Relu) return v < 0.0f ? 0.0f : v;  // NaN stays NaN, like np.maximum
  if (act.kind == Activation::Identity) return v;
  float y;
  activation_forward(act, &v, &y, 1);
  return y;
}

// [begin, end) of the t-th of nt near-equal chunks of n items, chunk edges on
// multiples of `align`.
inline void split_range(index_t n, int t, int nt, index_t align, index_t* begin, index_t* end) {
  index_t blocks = (n + align - 1) / align;
  index_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
  *begin = b0 * align < n ? b0 * align : n;
  *end = b1 * align < n ? b1 * align : n;
}

// Run body(t, nt) on `nthreads` OpenMP threads when nthreads > 1, else
// body(0, 1) inline in the caller: even a one-thread parallel region costs
// about as much as a whole small kernel (bench/results/README.md#threading-overhead).
// Either way the body runs under a DenormalGuard. Bodies must not contain
// orphaned worksharing (`omp for`): run inline inside another parallel
// region, it would bind to that region.
// In a fork() child it always runs inline: the parent's OpenMP pool is gone.
template <typename Body>
inline void parallel_or_inline(int nthreads, Body&& body) {
  if (nthreads <= 1 || forked_child()) {
    DenormalGuard ftz;
    body(0, 1);
    return;
  }
#pragma omp parallel num_threads(nthreads)
  {
    DenormalGuard ftz;
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

// The thread count for parallel_or_inline: fastmlp's count for the calling
// thread (kernels.h get_num_threads: process-wide, bounded, capped by a
// threadpoolctl limit, 1 in a forked child or inside a parallel region) when
// `parallel`, else 1. Every parallel region takes its count from here or from
// get_num_threads(), never from OpenMP's own per-thread setting.
inline int threads_if(bool parallel) { return parallel ? get_num_threads() : 1; }

// `bytes` rounded up to whole 64-byte lines (at least one) of uninitialised
// memory starting on a 64-byte line; free with std::free. Throws bad_alloc.
inline void* aligned_alloc64(size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes == 0 ? 1 : (bytes + 63) / 64) * 64);
  if (!p) throw std::bad_alloc();
  return p;
}

// An owning, move-only, 64-byte aligned array of trivial T, uninitialised.
// reserve(n) grows it (never shrinks; the contents are not kept) and returns
// data(): a grow-only scratch reused across calls, or a fixed workspace.
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { reserve(n); }
  ~AlignedBuffer() { std::free(ptr_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  T* reserve(size_t n) {
    if (!ptr_ || n > cap_) {
      std::free(ptr_);
      ptr_ = nullptr;
      cap_ = 0;
      ptr_ = static_cast<T*>(aligned_alloc64(n * sizeof(T)));
      cap_ = n;
    }
    return ptr_;
  }
  T* data() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace fastmlp
