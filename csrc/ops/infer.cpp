// infer_forward: a whole Linear/activation stack in one call (kernels.h).
#include <algorithm>
#include <atomic>
#include "common.h"
#include "kernels.h"
#include "train/thread_chooser.h"

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

// Whether any of row[0, n) is inf or NaN: v - v is 0 for a finite v and NaN
// otherwise; the sums run in 16 independent lanes (vectorizable without
// reassociating), and NaN survives every sum.
inline bool row_nonfinite(const float* row, index_t n) {
  float acc[16] = {};
  index_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l) acc[l] += row[j + l] - row[j + l];
  for (; j < n; ++j) acc[0] += row[j] - row[j];
  float s = 0.0f;
  for (float a : acc) s += a;
  return s != s;
}

// dst[e] = float(src[e]) for e in [0, n) (as the unchecked loop: NumPy's astype
// rounding); returns whether any src[e] is inf or NaN (v - v as in row_nonfinite,
// in double, 8 lanes).
inline bool convert_nonfinite(const double* src, float* dst, index_t n) {
  double acc[8] = {};
  index_t e = 0;
  for (; e + 8 <= n; e += 8)
    for (int l = 0; l < 8; ++l) {
      const double v = src[e + l];
      acc[l] += v - v;
      dst[e + l] = static_cast<float>(v);
    }
  for (; e < n; ++e) {
    acc[0] += src[e] - src[e];
    dst[e] = static_cast<float>(src[e]);
  }
  double s = 0.0;
  for (double a : acc) s += a;
  return s != s;
}

// z (M, N) row-major, the first layer's pre-activations: act applied in place
// with the bits of the kernel that would have fused it (inline_relu: Relu as
// the GEMM micro-kernels' registers and activate() apply it, v < 0 ? 0 : v;
// else activation_forward, as gemv_forward applies every activation).
// Returns whether any element of z was non-finite before act. Rows are split
// over threads; each element's result does not depend on the split.
bool activate_checking_finite(float* z, index_t M, index_t N, ActivationSpec act, bool inline_relu) {
  std::atomic<bool> bad{false};
  parallel_or_inline(threads_if(M * N >= kConvertParallelMin), [&](int t, int nt) {
    index_t i0, i1;
    split_range(M, t, nt, 1, &i0, &i1);
    bool any = false;
    for (index_t i = i0; i < i1; ++i) {
      float* row = z + i * N;
      any = row_nonfinite(row, N) || any;
      if (act.kind == Activation::Relu && inline_relu) {
        for (index_t j = 0; j < N; ++j) row[j] = row[j] < 0.0f ? 0.0f : row[j];
      } else if (act.kind != Activation::Identity) {
        activation_forward(act, row, row, N);
      }
    }
    if (any) bad.store(true, std::memory_order_relaxed);
  });
  return bad.load();
}

// infer_forward's body (its chooser around it).
void forward_f32(const float* x, index_t M, const InferLayer* layers, int n_layers, InferHead head, float* y,
                 bool* nonfinite) {
  const bool use_gemv = M <= gemv_max_rows();
  const float* src = x;
  for (int l = 0; l < n_layers; ++l) {
    const InferLayer& L = layers[l];
    float* dst = l + 1 == n_layers ? y : tls_hidden[l % 2].reserve(size_t(M) * size_t(L.out_features));
    // The first layer with the finiteness check: its activation after the check,
    // not in the kernel's epilogue (the same bits: activate_checking_finite).
    const bool check = l == 0 && nonfinite;
    const ActivationSpec act = check ? ActivationSpec{Activation::Identity} : L.act;
    if (use_gemv)
      gemv_forward(src, M, L.in_features, L.weight, L.out_features, L.bias, dst, act);
    else
      sgemm(false, true, M, L.out_features, L.in_features, 1.0f, src, L.in_features, L.weight,
            L.in_features, 0.0f, dst, L.out_features, L.bias, act);
    if (check && activate_checking_finite(dst, M, L.out_features, L.act, !use_gemv)) *nonfinite = true;
    src = dst;
  }
  const index_t C = layers[n_layers - 1].out_features;
  if (head == InferHead::Softmax) softmax(y, y, M, C);
  if (head == InferHead::LogSoftmax) log_softmax(y, y, M, C);
}

// Each call of infer_forward(_f64) is one step of a ThreadChooser (at the
// caller's count or on one thread, as measured: the same bits), remembered
// across calls by this key: the layers, the head, the input's dtype, the
// thread count and the rows (exact below 64, else their power-of-two octave:
// the chooser compares seconds per row).
std::uint64_t infer_choice_key(index_t M, const InferLayer* layers, int n_layers, InferHead head, bool f64,
                               int threads) {
  ChoiceKey k;
  k.add(std::uint64_t(n_layers)).add(std::uint64_t(head)).add(f64 ? 1 : 0).add(std::uint64_t(threads));
  index_t bucket = M;
  if (M >= 64) {
    bucket = 64;
    for (index_t m = M; m > 1; m >>= 1) ++bucket;
  }
  k.add(std::uint64_t(bucket));
  for (int l = 0; l < n_layers; ++l)
    k.add(std::uint64_t(layers[l].in_features)).add(std::uint64_t(layers[l].out_features))
        .add(std::uint64_t(layers[l].act.kind)).add(layers[l].bias ? 1 : 0);
  return k.value();
}

// infer_forward_f64's body (its chooser around it).
void forward_f64_blocks(const double* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                        float* y, bool* nonfinite) {
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
    std::atomic<bool> bad{false};
    parallel_or_inline(threads_if(n >= kConvertParallelMin), [&](int t, int nt) {
      index_t e0, e1;
      split_range(n, t, nt, kConvertAlign, &e0, &e1);
      if (!nonfinite) {
        for (index_t e = e0; e < e1; ++e) xb[e] = static_cast<float>(src[e]);
      } else if (convert_nonfinite(src + e0, xb + e0, e1 - e0)) {
        bad.store(true, std::memory_order_relaxed);
      }
    });
    if (bad.load()) *nonfinite = true;
    // x's own values are checked: the blocks run without the pre-activation check
    forward_f32(xb, m, layers, n_layers, head, y + i0 * C, nullptr);
  }
}

// body() as one chosen step of infer_forward(_f64)'s key.
template <class Body>
void chosen_step(index_t M, const InferLayer* layers, int n_layers, InferHead head, bool f64, Body body) {
  const int nt = get_num_threads();
  ThreadChooser threads(nt, infer_choice_key(M, layers, n_layers, head, f64, nt), true, false);
  threads.set_timed_rows(M);
  threads.begin(M);
  body();
  threads.end();
}
}  // namespace

void infer_forward(const float* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                   float* y, bool* nonfinite) {
  if (M <= 0 || n_layers <= 0) return;
  chosen_step(M, layers, n_layers, head, false, [&] { forward_f32(x, M, layers, n_layers, head, y, nonfinite); });
}

void infer_forward_f64(const double* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                       float* y, bool* nonfinite) {
  if (M <= 0 || n_layers <= 0) return;
  chosen_step(M, layers, n_layers, head, true, [&] { forward_f64_blocks(x, M, layers, n_layers, head, y, nonfinite); });
}

}  // namespace fastmlp
