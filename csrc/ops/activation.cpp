// The range-level activation dispatch (kernels.h): the active ISA's vector
// code (ops/activation_isa.h), on one thread or split into contiguous ranges.
#include "common.h"
#include "cpu/by_isa.h"
#include "cpu/cpu_info.h"
#include "ops/activation_isa.h"

namespace fastmlp {

namespace {
// Below this many elements a parallel region costs more than the loop it splits.
constexpr index_t kParallelMin = index_t(1) << 15;

// One ISA's entry points (ops/activation_isa.h).
struct IsaActivation {
  using Forward = void (*)(const ActivationSpec&, const float*, float*, index_t);
  using Backward = void (*)(const ActivationSpec&, const float*, const float*, float*, index_t);
  Forward forward;
  Backward backward;
  void (*vecmath)(int, const float*, float*, index_t);
  Forward forward_stream;
  Backward backward_stream;
};
#define FASTMLP_ISA_ACTIVATION(s)                                                          \
  IsaActivation{activation_forward_##s, activation_backward_##s, activation_vecmath_##s, \
                activation_forward_stream_##s, activation_backward_stream_##s}

const IsaActivation& isa_activation() {
  static constexpr IsaActivation kGeneric = FASTMLP_ISA_ACTIVATION(generic);
#ifdef FASTMLP_X86
  static constexpr IsaActivation kAvx2 = FASTMLP_ISA_ACTIVATION(avx2);
  static constexpr IsaActivation kAvx512 = FASTMLP_ISA_ACTIVATION(avx512);
#endif
  return *FASTMLP_BY_ISA(active_isa(), &kGeneric, &kAvx2, &kAvx512);
}

// Whether a call touching `bytes` (its sources and destination, each once)
// should write with non-temporal stores: when they cannot all stay in the
// last-level cache, the destination's lines would be evicted before any reuse,
// and a streamed store skips reading each line before writing it (a third of
// a one-source kernel's traffic). Only for a destination that is no source
// (in place, the line is read anyway). Never when the cache size is unknown.
bool stream_stores(index_t bytes) {
  static const long long llc = [] {
    const auto& c = cpu_info().caches;
    return c.empty() ? 0LL : c.back().size;
  }();
  return llc > 0 && bytes >= llc;
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

void vec_exp(const float* x, float* y, index_t n) { isa_activation().vecmath(0, x, y, n); }

// Chunk edges on multiples of 16 floats (a 64-byte line).
void activation_forward_parallel(const ActivationSpec& act, const float* x, float* y, index_t n) {
  const bool stream = x != y && stream_stores(index_t(2 * sizeof(float)) * n);
  const auto fwd = stream ? isa_activation().forward_stream : isa_activation().forward;
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    fwd(act, x + b, y + b, e - b);
  });
}

void activation_backward_parallel(const ActivationSpec& act, const float* dout, const float* saved,
                                  float* dx, index_t n) {
  const int sources = 1 + (dout != saved);
  const bool stream = dx != dout && dx != saved && stream_stores(index_t((sources + 1) * sizeof(float)) * n);
  const auto bwd = stream ? isa_activation().backward_stream : isa_activation().backward;
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    bwd(act, dout + b, saved + b, dx + b, e - b);
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
