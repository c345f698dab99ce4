// sgemm micro-kernel in portable C++: 4 x 16 tile. The fallback on every CPU
// and the only kernel on non-x86 builds; the compiler vectorises the j loops
// for whatever baseline it targets.
#include "gemm/blocking.h"

namespace fastmlp {

void sgemm_ukernel_generic_4x16(index_t kc, const float* a, const float* b, float* c,
                                index_t ldc, int m, int n, float alpha, float beta,
                                const float* bias, bool relu) {
  constexpr int MR = 4, NR = 16;
  float acc[MR][NR] = {};
  for (index_t p = 0; p < kc; ++p) {
    const float* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      const float ai = a[p * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) {
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * ci[j];
      if (bias) v += bias[j];
      if (relu && v < 0.0f) v = 0.0f;
      ci[j] = v;
    }
  }
}

}  // namespace fastmlp
