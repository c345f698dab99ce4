// sgemm micro-kernel in portable C++: 4 x 16 tile. The fallback on every CPU
// and the only kernel on non-x86 builds; the compiler vectorises the
// fixed-width j loop of full tiles for whatever baseline it targets.
#include "common.h"
#include "gemm/kernel_table.h"

namespace fastmlp {

namespace {

constexpr int MR = 4, NR = 16;

template <bool Full>
void accumulate(index_t kc, const float* const* ar, index_t cs_a, const float* b, index_t rs_b,
                int n, float (&acc)[MR][NR]) {
  const int nn = Full ? NR : n;
  for (index_t p = 0; p < kc; ++p) {
    const float* bp = b + p * rs_b;
    for (int i = 0; i < MR; ++i) {
      const float ai = ar[i][p * cs_a];
      for (int j = 0; j < nn; ++j) acc[i][j] += ai * bp[j];
    }
  }
}

}  // namespace

void sgemm_ukernel_generic_4x16(FASTMLP_UKERNEL_ARGS) {
  const float* ar[MR];
  for (int i = 0; i < MR; ++i) ar[i] = a + (i < m ? i : m - 1) * rs_a;
  float acc[MR][NR] = {};
  if (n == NR)
    accumulate<true>(kc, ar, cs_a, b, rs_b, n, acc);
  else
    accumulate<false>(kc, ar, cs_a, b, rs_b, n, acc);
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) {
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * ci[j];
      if (bias) v += bias[j];
      ci[j] = activate(ActivationSpec{act}, v);  // Identity or Relu: inline
    }
  }
}

}  // namespace fastmlp
