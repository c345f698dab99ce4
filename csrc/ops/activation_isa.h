// The per-ISA entry points of the vector activations (activation_*.cpp, all
// instantiating ops/activation_vecmath.h): declarations only, so ISA-specific
// files (micro-kernels) may include it. activation.cpp dispatches to them.
#pragma once
#include "kernels.h"

namespace fastmlp {

#define FASTMLP_ACTIVATION_ISA(suffix)                                                            \
  void activation_forward_##suffix(const ActivationSpec& act, const float* x, float* y, index_t n); \
  void activation_backward_##suffix(const ActivationSpec& act, const float* dout, const float* saved, \
                                    float* dx, index_t n);                                         \
  void activation_vecmath_##suffix(int fn, const float* x, float* y, index_t n);                   \
  /* the same with non-temporal whole-line stores (activation.cpp decides when) */                 \
  void activation_forward_stream_##suffix(const ActivationSpec& act, const float* x, float* y,      \
                                          index_t n);                                               \
  void activation_backward_stream_##suffix(const ActivationSpec& act, const float* dout,            \
                                           const float* saved, float* dx, index_t n);

FASTMLP_ACTIVATION_ISA(generic)
FASTMLP_ACTIVATION_ISA(avx2)
FASTMLP_ACTIVATION_ISA(avx512)
#undef FASTMLP_ACTIVATION_ISA

}  // namespace fastmlp
