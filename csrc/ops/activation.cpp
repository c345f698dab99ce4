// The range-level activation dispatch (kernels.h): the active ISA's vector
// code (ops/activation_isa.h), on one thread or split into contiguous ranges.
#include "common.h"
#include "ops/activation_isa.h"

namespace fastmlp {

namespace {
// Below this many elements a parallel region costs more than the loop it splits.
constexpr index_t kParallelMin = index_t(1) << 15;
}  // namespace

namespace {
// One ISA's entry points (ops/activation_isa.h).
struct IsaActivation {
  void (*forward)(const ActivationSpec&, const float*, float*, index_t);
  void (*backward)(const ActivationSpec&, const float*, const float*, float*, index_t);
  void (*vecmath)(int, const float*, float*, index_t);
};

const IsaActivation& isa_activation() {
  static constexpr IsaActivation kGeneric{activation_forward_generic, activation_backward_generic,
                                          activation_vecmath_generic};
#ifdef FASTMLP_X86
  static constexpr IsaActivation kAvx2{activation_forward_avx2, activation_backward_avx2,
                                       activation_vecmath_avx2};
  static constexpr IsaActivation kAvx512{activation_forward_avx512, activation_backward_avx512,
                                         activation_vecmath_avx512};
  switch (active_isa()) {
    case Isa::Avx512: return kAvx512;
    case Isa::Avx2: return kAvx2;
    default: break;
  }
#endif
  return kGeneric;
}
}  // namespace

void activation_forward(const ActivationSpec& act, const float* x, float* y, index_t n) {
  isa_activation().forward(act, x, y, n);
}

void activation_backward(const ActivationSpec& act, const float* dout, const float* saved, float* dx,
                         index_t n) {
  isa_activation().backward(act, dout, saved, dx, n);
}

void activation_vecmath(int fn, const float* x, float* y, index_t n) {
  // Under a DenormalGuard, as every kernel.
  parallel_or_inline(1, [&](int, int) { isa_activation().vecmath(fn, x, y, n); });
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
