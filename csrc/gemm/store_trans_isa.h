// narrow: the body of sgemm_store_trans_<isa> (kernel_table.h's StoreTransFn
// contract). Included only by the per-ISA micro-kernel files (it uses FMA
// intrinsics), so it is compiled once per ISA with that file's flags.
// Scalar: it touches m*n elements once, against the m*n*K multiply-adds of the
// GEMM it completes; the explicit FMA and MAXPS give the micro-kernels' bits.
#pragma once
#include <immintrin.h>
#include "gemm/kernel_table.h"

namespace fastmlp {

[[gnu::always_inline]] inline void store_trans_scalar(index_t m, index_t n, const float* t, index_t ldt,
                                                      float beta, float* c, index_t ldc, Activation act) {
  const __m128 vb = _mm_set_ss(beta), zero = _mm_setzero_ps();
  const bool relu = act == Activation::Relu;
  for (index_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    const float* ti = t + i;
    for (index_t j = 0; j < n; ++j) {
      __m128 v = _mm_set_ss(ti[j * ldt]);
      if (beta != 0.0f) v = _mm_fmadd_ss(vb, _mm_set_ss(ci[j]), v);
      if (relu) v = _mm_max_ss(zero, v);
      ci[j] = _mm_cvtss_f32(v);
    }
  }
}

}  // namespace fastmlp
