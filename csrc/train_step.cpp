// Fused training epoch for a Linear(+ReLU) stack with cross-entropy or MSE
// and SGD (see train.h). Every step calls exactly the kernels the Python path
// calls (fastmlp.nn / fastmlp.optim), on the same shapes and in an order that
// gives every kernel the same inputs, so the two paths give the same bits:
//
//   xb (B,F)      = X[perm[s:s+B]]                        gather
//   a_l (B,out_l) = relu?(a_{l-1} @ W_l^T + b_l)          sgemm, fused epilogue
//   loss, d (B,C) = cross_entropy(a_L, y) | mse_loss(a_L, y)
//   for l = L..1:
//     d            *= (a_l > 0)                           relu_backward (if ReLU)
//     dW (out,in)   = d^T @ a_{l-1}                       sgemm(trans_a)
//     db (out,)     = column sums of d                    bias_grad
//     d' (B,in)     = d @ W_l   (not for l == 1)          sgemm, with W_l before
//     W_l, b_l      = sgd_update(...)                        its update
//
// Updating layer l right after its gradients (instead of after the whole
// backward pass) is the same arithmetic: d' is computed from W_l before W_l
// changes, and the updates of different parameters are independent. It keeps
// one dW buffer for all layers, hot in cache when the update reads it.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>
#include "common.h"
#include "gemm/blocking.h"
#include "train.h"

namespace fastmlp {

namespace {

// 64-byte aligned, uninitialised float workspace, freed on scope exit.
template <typename T>
struct Workspace {
  T* ptr = nullptr;
  explicit Workspace(size_t n) {
    size_t bytes = ((std::max<size_t>(n, 1) * sizeof(T) + 63) / 64) * 64;
    ptr = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!ptr) throw std::bad_alloc();
  }
  ~Workspace() { std::free(ptr); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

// Smallest KC of any ISA's GEMM blocking: a GEMM with K at most this runs its
// K loop as one block, on every path.
constexpr index_t kMinGemmKC =
    std::min({kBlockingGeneric.KC, kBlockingAvx2.KC, kBlockingAvx512.KC});

void sgd_step(SgdParam& p, const float* grad) {
  if (!p.param || !p.update) return;
  sgd_update(p.param, grad, p.momentum != 0.0f ? p.momentum_buffer : nullptr, p.n, p.lr,
             p.momentum, p.dampening, p.weight_decay, p.nesterov, p.maximize, p.first_step);
  if (p.momentum != 0.0f) p.first_step = false;
}

}  // namespace

double train_epoch(TrainLayer* layers, int n_layers, const float* X, index_t F,
                   const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                   index_t n_perm, index_t batch_size, bool drop_last, const TrainLoss& loss,
                   index_t* steps) {
  const index_t B = batch_size;
  const index_t n_steps = drop_last ? n_perm / B : (n_perm + B - 1) / B;
  *steps = n_steps;
  if (n_steps == 0 || n_layers == 0) return 0.0;
  const index_t C = layers[n_layers - 1].out;

  // ---- workspace, allocated once ----
  index_t max_out = 0, max_w = 0;
  size_t act_total = 0;
  for (int l = 0; l < n_layers; ++l) {
    max_out = std::max(max_out, layers[l].out);
    max_w = std::max(max_w, layers[l].out * layers[l].in);
    act_total += size_t(B * layers[l].out);
  }
  Workspace<float> xb{size_t(B * F)};           // gathered inputs
  Workspace<float> acts{act_total};             // each layer's output
  Workspace<float> g0{size_t(B * max_out)}, g1{size_t(B * max_out)};  // d, d'
  Workspace<float> dw{size_t(max_w)}, db{size_t(max_out)};
  Workspace<std::int64_t> yb_class{size_t(B)};
  Workspace<float> yb_value{size_t(B * C)};
  std::vector<float*> act(static_cast<size_t>(n_layers));
  float* ap = acts.ptr;
  for (int l = 0; l < n_layers; ++l) {
    act[l] = ap;
    ap += B * layers[l].out;
  }

  double loss_sum = 0.0;
  for (index_t s = 0; s < n_steps; ++s) {
    const std::int64_t* idx = perm + s * B;
    const index_t bs = std::min(B, n_perm - s * B);

    // ---- gather (a run of consecutive rows is read in place) ----
    bool consecutive = true;
    for (index_t i = 1; i < bs && consecutive; ++i) consecutive = idx[i] == idx[0] + i;
    const float* x = X + idx[0] * F;
    if (!consecutive) {
#pragma omp parallel for schedule(static) if (bs * F > 32768)
      for (index_t i = 0; i < bs; ++i)
        std::memcpy(xb.ptr + i * F, X + idx[i] * F, size_t(F) * sizeof(float));
      x = xb.ptr;
    }
    if (s + 1 < n_steps) {  // start pulling the next batch's rows in while this step computes
      const std::int64_t* nidx = perm + (s + 1) * B;
      const index_t nbs = std::min(B, n_perm - (s + 1) * B);
      for (index_t i = 0; i < nbs; ++i) {
        const char* row = reinterpret_cast<const char*>(X + nidx[i] * F);
        for (index_t off = 0; off < F * index_t(sizeof(float)); off += 64)
          __builtin_prefetch(row + off, 0, 2);
      }
    }
    if (loss.kind == LossKind::CrossEntropy) {
      for (index_t i = 0; i < bs; ++i) yb_class.ptr[i] = y_class[idx[i]];
    } else {
      for (index_t i = 0; i < bs; ++i)
        std::memcpy(yb_value.ptr + i * C, y_value + idx[i] * C, size_t(C) * sizeof(float));
    }

    // ---- forward ----
    const float* in = x;
    for (int l = 0; l < n_layers; ++l) {
      const TrainLayer& L = layers[l];
      sgemm(false, true, bs, L.out, L.in, 1.0f, in, L.in, L.weight.param, L.in, 0.0f, act[l],
            L.out, L.bias.param, L.relu);
      in = act[l];
    }

    // ---- loss and dlogits ----
    float step_loss = 0.0f;
    float* d = g0.ptr;
    float* d_next = g1.ptr;
    if (loss.kind == LossKind::CrossEntropy)
      cross_entropy(act[n_layers - 1], yb_class.ptr, bs, C, loss.class_weight, loss.ignore_index,
                    loss.label_smoothing, loss.reduction, &step_loss, d);
    else
      mse_loss(act[n_layers - 1], yb_value.ptr, bs * C, loss.reduction, &step_loss, d);
    loss_sum += double(step_loss);

    // ---- backward and update, last layer first ----
    for (int l = n_layers - 1; l >= 0; --l) {
      TrainLayer& L = layers[l];
      const float* a_in = l ? act[l - 1] : x;
      if (L.relu) relu_backward(d, act[l], d, bs * L.out);
      const bool need_w = L.weight.update, need_b = L.bias.param && L.bias.update;
      // Plain SGD (no momentum, no weight decay) folds the weight update into
      // the dW GEMM's epilogue: W = 1*W + (-lr)*(d^T a). With one K block
      // (bs <= KC) the epilogue computes fl(W - fl(lr*acc)) from the same
      // accumulator a separate dW GEMM would store, and sgd_update computes
      // fl(W - fl(lr*dW)): the same bits, with no dW round trip through memory.
      const bool fold_w = need_w && L.weight.momentum == 0.0f && L.weight.weight_decay == 0.0f &&
                          bs <= kMinGemmKC;
      if (need_w && !fold_w)
        sgemm(true, false, L.out, L.in, bs, 1.0f, d, L.out, a_in, L.in, 0.0f, dw.ptr, L.in,
              nullptr, false);
      if (need_b) bias_grad(d, bs, L.out, L.out, db.ptr);
      if (l > 0) {  // input gradient with the weights before this step's update
        sgemm(false, false, bs, L.in, L.out, 1.0f, d, L.out, L.weight.param, L.in, 0.0f, d_next,
              L.in, nullptr, false);
      }
      if (fold_w) {
        const float alpha = L.weight.maximize ? L.weight.lr : -L.weight.lr;
        sgemm(true, false, L.out, L.in, bs, alpha, d, L.out, a_in, L.in, 1.0f, L.weight.param,
              L.in, nullptr, false);
      } else if (need_w) {
        sgd_step(L.weight, dw.ptr);
      }
      if (need_b) sgd_step(L.bias, db.ptr);
      if (l > 0) std::swap(d, d_next);
    }
  }
  return loss_sum;
}

}  // namespace fastmlp
