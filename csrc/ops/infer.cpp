// infer_forward: a whole Linear/activation stack in one call (kernels.h).
#include <algorithm>
#include "common.h"
#include "kernels.h"

namespace fastmlp {

namespace {
// Two grow-only buffers per calling thread for the hidden activations
// (layer l writes scratch[l % 2] and reads the other): reused across calls,
// never shared between threads, so concurrent calls do not race.
thread_local AlignedBuffer<float> tls_hidden[2];
// infer_forward_f64's float32 block of input rows (per calling thread, as above).
thread_local AlignedBuffer<float> tls_block;
// Elements per conversion chunk of a thread (contiguous ranges, bits independent
// of the split) and below which one thread converts a block.
constexpr index_t kConvertAlign = 16;
constexpr index_t kConvertParallelMin = index_t(1) << 16;
}  // namespace

void infer_forward(const float* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                   float* y) {
  if (M <= 0 || n_layers <= 0) return;
  const bool use_gemv = M <= gemv_max_rows();
  const float* src = x;
  for (int l = 0; l < n_layers; ++l) {
    const InferLayer& L = layers[l];
    float* dst = l + 1 == n_layers ? y : tls_hidden[l % 2].reserve(size_t(M) * size_t(L.out_features));
    if (use_gemv)
      gemv_forward(src, M, L.in_features, L.weight, L.out_features, L.bias, dst, L.act);
    else
      sgemm(false, true, M, L.out_features, L.in_features, 1.0f, src, L.in_features, L.weight,
            L.in_features, 0.0f, dst, L.out_features, L.bias, L.act);
    src = dst;
  }
  const index_t C = layers[n_layers - 1].out_features;
  if (head == InferHead::Softmax) softmax(y, y, M, C);
  if (head == InferHead::LogSoftmax) log_softmax(y, y, M, C);
}

void infer_forward_f64(const double* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                       float* y) {
  if (M <= 0 || n_layers <= 0) return;
  const index_t K = layers[0].in_features, C = layers[n_layers - 1].out_features;
  // A block's float32 rows fill at most four L2s of one core (held in the L3
  // between the conversion and the first layer's read; few enough blocks that the
  // parallel regions per block stay rare), at least
  // gemv_max_rows() + 1 rows, so a block never drops to the matrix-vector path
  // unless all of x does).
  const index_t row_bytes = std::max<index_t>(K, 1) * index_t(sizeof(float));
  const index_t B = std::max<index_t>(gemv_max_rows() + 1, 4 * index_t(l2_bytes_per_core()) / row_bytes);
  for (index_t i0 = 0; i0 < M; i0 += B) {
    const index_t m = std::min(B, M - i0);
    float* xb = tls_block.reserve(size_t(m) * size_t(K));
    const double* src = x + i0 * K;
    const index_t n = m * K;
    parallel_or_inline(threads_if(n >= kConvertParallelMin), [&](int t, int nt) {
      index_t e0, e1;
      split_range(n, t, nt, kConvertAlign, &e0, &e1);
      for (index_t e = e0; e < e1; ++e) xb[e] = static_cast<float>(src[e]);
    });
    infer_forward(xb, m, layers, n_layers, head, y + i0 * C);
  }
}

}  // namespace fastmlp
