// infer_forward: a whole Linear/activation stack in one call (kernels.h).
#include "common.h"
#include "kernels.h"

namespace fastmlp {

namespace {
// Two grow-only buffers per calling thread for the hidden activations
// (layer l writes scratch[l % 2] and reads the other): reused across calls,
// never shared between threads, so concurrent calls do not race.
thread_local AlignedBuffer<float> tls_hidden[2];
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

}  // namespace fastmlp
