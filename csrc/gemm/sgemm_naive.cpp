// The triple loop: algorithmic reference for sgemm() inside C++ (tests compare
// against it too) and the path for tiny problems. Same contract as sgemm().
#include "common.h"

namespace fastmlp {

void sgemm_naive(bool trans_a, bool trans_b, index_t M, index_t N, index_t K,
                 float alpha, const float* A, index_t lda, const float* B, index_t ldb,
                 float beta, float* C, index_t ldc, const float* bias, ActivationSpec act) {
  // op(A)[i,p] and op(B)[p,j] through the strides of the stored layouts.
  const index_t a_is = trans_a ? 1 : lda, a_ps = trans_a ? lda : 1;
  const index_t b_ps = trans_b ? 1 : ldb, b_js = trans_b ? ldb : 1;
  for (index_t i = 0; i < M; ++i) {
    for (index_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (index_t p = 0; p < K; ++p) acc += A[i * a_is + p * a_ps] * B[p * b_ps + j * b_js];
      float v = alpha * acc;
      if (beta != 0.0f) v += beta * C[i * ldc + j];
      if (bias) v += bias[j];
      C[i * ldc + j] = activate(act, v);
    }
  }
}

}  // namespace fastmlp
