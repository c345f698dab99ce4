// The range-level activation dispatch (kernels.h): the active ISA's vector
// code (ops/activation_isa.h), on one thread or split into contiguous ranges.
#include "common.h"
#include "ops/activation_isa.h"

namespace fastmlp {

namespace {
// Below this many elements a parallel region costs more than the loop it splits.
constexpr index_t kParallelMin = index_t(1) << 15;
}  // namespace

void activation_forward(const ActivationSpec& act, const float* x, float* y, index_t n) {
  switch (active_isa()) {
#ifdef FASTMLP_X86
    case Isa::Avx512: activation_forward_avx512(act, x, y, n); return;
    case Isa::Avx2: activation_forward_avx2(act, x, y, n); return;
#endif
    default: activation_forward_generic(act, x, y, n); return;
  }
}

void activation_backward(const ActivationSpec& act, const float* dout, const float* saved, float* dx,
                         index_t n) {
  switch (active_isa()) {
#ifdef FASTMLP_X86
    case Isa::Avx512: activation_backward_avx512(act, dout, saved, dx, n); return;
    case Isa::Avx2: activation_backward_avx2(act, dout, saved, dx, n); return;
#endif
    default: activation_backward_generic(act, dout, saved, dx, n); return;
  }
}

void activation_vecmath(int fn, const float* x, float* y, index_t n) {
  parallel_or_inline(1, [&](int, int) {  // under a DenormalGuard, as every kernel
    switch (active_isa()) {
#ifdef FASTMLP_X86
      case Isa::Avx512: activation_vecmath_avx512(fn, x, y, n); return;
      case Isa::Avx2: activation_vecmath_avx2(fn, x, y, n); return;
#endif
      default: activation_vecmath_generic(fn, x, y, n); return;
    }
  });
}

// Chunk edges on multiples of 16 floats (a 64-byte line).
void activation_forward_parallel(const ActivationSpec& act, const float* x, float* y, index_t n) {
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    activation_forward(act, x + b, y + b, e - b);
  });
}

void activation_backward_parallel(const ActivationSpec& act, const float* dout, const float* saved,
                                  float* dx, index_t n) {
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    activation_backward(act, dout + b, saved + b, dx + b, e - b);
  });
}

bool activation_saves_output(Activation a) {
  switch (a) {
    case Activation::Relu:
    case Activation::Tanh:
    case Activation::Sigmoid:
    case Activation::Elu: return true;
    default: return false;
  }
}

}  // namespace fastmlp
