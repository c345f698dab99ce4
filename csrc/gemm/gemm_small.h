// The narrow-N dot-product GEMM kernel (sgemm.cpp's "dot path"): declarations
// only, so the ISA-specific file defining it may include this header.
//
// For C = act(alpha * op(A) @ op(B) + beta * C + bias) with op(A) = A (M x K,
// rows lda apart, K contiguous) and op(B)^T given as Bt (N x K, rows ldbt
// apart, K contiguous): every element is one dot product over K computed as
//   16 lane sums s_l (l = 0..15), s_l = fma(a[k], b[k], s_l) over k = l, l+16, ...
//   in increasing k from s_l = +0 (elements past K read as 0), then the fixed tree
//   x_c = (s_4c + s_4c+2) + (s_4c+1 + s_4c+3) (c = 0..3), dot = (x_0 + x_1) + (x_2 + x_3),
// then the micro-kernels' epilogue (kernel_table.h) in their order:
//   v = alpha * dot; v = fma(beta, C, v) (beta != 0 only: C is not read at
//   beta == 0); v = v + bias[j]; v = max(0, v) for Relu.
// The same operations whatever tile or thread the element falls in, so the
// result depends only on the operands (and this arithmetic), never on M, the
// thread count or the tile. act: Identity or Relu (the driver applies others).
#pragma once
#include "kernels.h"

namespace fastmlp {

// Rows [0, M) of C, all N columns; N <= kDotMaxN.
constexpr index_t kDotMaxN = 12;
void sgemm_dot_nt_avx512(index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                         const float* Bt, index_t ldbt, float beta, float* C, index_t ldc,
                         const float* bias, Activation act);

}  // namespace fastmlp
