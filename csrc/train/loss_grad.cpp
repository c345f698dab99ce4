// Full-data loss and gradient (loss_grad.h): per chunk of rows
//
//   a_l (bs,out_l) = act_l(a_{l-1} @ W_l^T + b_l)          sgemm (trans_b), fused epilogue
//   loss, d (bs,C) = batch_loss(a_L, y)                    train/batch_loss.h, the epoch's
//   for l = L..1:
//     d            *= act_l'(a_l or z_l)                  relu_backward / activation_backward
//     dW_l (out,in) (+)= d^T @ a_{l-1}                    sgemm(trans_a), beta 1 after chunk 0
//     db_l (out,)   (+)= column sums of d                 bias_grad, then added in chunk order
//     d' (bs,in)     = d @ W_l   (not for l == 1)         sgemm
//
// the kernels and the orientation of the Python path's Linear forward and
// backward (fastmlp.nn.Linear), so one chunk gives its bits.
#include <algorithm>
#include <limits>
#include <vector>
#include "common.h"
#include "train/batch_loss.h"
#include "train/loss_grad.h"

namespace fastmlp {

namespace {

// The mean's denominator over all rows (see loss_grad.h), in double; *kept:
// whether any row is not ignored.
double mean_denominator(const TrainLoss& loss, const std::int64_t* y_class, index_t N, index_t C,
                        bool* kept) {
  *kept = true;
  if (!class_targets(loss.kind)) return double(N) * double(C);
  double total = 0.0;
  *kept = false;
  for (index_t i = 0; i < N; ++i) {
    const std::int64_t t = y_class[i];
    if (t == loss.ignore_index) continue;
    *kept = true;
    total += loss.class_weight ? double(loss.class_weight[t]) : 1.0;
  }
  return total;
}

}  // namespace

double loss_and_grad(const TrainLayer* layers, int n_layers, const float* X, index_t N, index_t F,
                     const std::int64_t* y_class, const float* y_value, const TrainLoss& loss,
                     float* const* dw, float* const* db, index_t chunk) {
  const index_t C = layers[n_layers - 1].out;
  const index_t B = std::max<index_t>(1, std::min(chunk, N));
  const bool one_chunk = N <= B;
  TrainLoss chunk_loss = loss;
  if (!one_chunk) chunk_loss.reduction = Reduction::Sum;

  // ---- workspace, (B, width) arrays ----
  index_t max_out = 0;
  std::vector<float*> act(static_cast<size_t>(n_layers)), pre(static_cast<size_t>(n_layers), nullptr);
  size_t act_total = 0, pre_total = 0;
  auto needs_pre = [](const TrainLayer& L) {
    return L.activation.kind != Activation::Identity && !activation_saves_output(L.activation.kind);
  };
  for (int l = 0; l < n_layers; ++l) {
    max_out = std::max(max_out, layers[l].out);
    act_total += size_t(B * layers[l].out);
    if (needs_pre(layers[l])) pre_total += size_t(B * layers[l].out);
  }
  AlignedBuffer<float> acts{act_total}, pres{pre_total};
  AlignedBuffer<float> g0{size_t(B * max_out)}, g1{size_t(B * max_out)}, dbc{size_t(max_out)};
  AlignedBuffer<float> lsm{loss.log_softmax ? size_t(B * C) : 0};
  float *ap = acts.data(), *pp = pres.data();
  for (int l = 0; l < n_layers; ++l) {
    act[l] = ap;
    ap += B * layers[l].out;
    if (needs_pre(layers[l])) {
      pre[l] = pp;
      pp += B * layers[l].out;
    }
  }

  double loss_sum = 0.0;
  for (index_t r0 = 0; r0 < N; r0 += B) {
    const index_t bs = std::min(B, N - r0);
    const bool first = r0 == 0;
    // forward: a_l = act_l(a_in @ W^T + b), fused, or through z_l (pre[l])
    for (int l = 0; l < n_layers; ++l) {
      const TrainLayer& L = layers[l];
      const float* a_in = l ? act[l - 1] : X + r0 * F;
      float* const out = pre[l] ? pre[l] : act[l];
      sgemm(false, true, bs, L.out, L.in, 1.0f, a_in, L.in, L.weight.param, L.in, 0.0f, out, L.out,
            L.bias.param, pre[l] ? ActivationSpec{} : L.activation);
      if (pre[l]) activation_forward_parallel(L.activation, pre[l], act[l], bs * L.out);
    }
    float* d = g0.data();
    float* d_next = g1.data();
    loss_sum += double(batch_loss(chunk_loss, act[n_layers - 1], y_class ? y_class + r0 : nullptr,
                                  y_value ? y_value + r0 * C : nullptr, bs, C, lsm.data(), d));
    for (int l = n_layers - 1; l >= 0; --l) {
      const TrainLayer& L = layers[l];
      const float* a_in = l ? act[l - 1] : X + r0 * F;
      if (L.activation.kind == Activation::Relu)
        relu_backward(d, act[l], d, bs * L.out);
      else if (L.activation.kind != Activation::Identity)
        activation_backward_parallel(L.activation, d, pre[l] ? pre[l] : act[l], d, bs * L.out);
      sgemm(true, false, L.out, L.in, bs, 1.0f, d, L.out, a_in, L.in, first ? 0.0f : 1.0f, dw[l], L.in,
            nullptr, ActivationSpec{});
      if (db[l]) {
        if (first) {
          bias_grad(d, bs, L.out, L.out, db[l]);
        } else {
          bias_grad(d, bs, L.out, L.out, dbc.data());
          for (index_t j = 0; j < L.out; ++j) db[l][j] += dbc.data()[j];
        }
      }
      if (l > 0) {
        sgemm(false, false, bs, L.in, L.out, 1.0f, d, L.out, L.weight.param, L.in, 0.0f, d_next, L.in,
              nullptr, ActivationSpec{});
        std::swap(d, d_next);
      }
    }
  }
  if (one_chunk || loss.reduction != Reduction::Mean) return loss_sum;

  // Mean over all rows: the sums times 1/denominator, once. A zero denominator
  // (CE/NLL: every row ignored, or zero class weights) is the kernels' (PyTorch's)
  // 0/0: the loss is NaN, and so is every gradient a kept row reaches (all of
  // them: a NaN row of d reaches every entry of dW, db and the rows below);
  // with no kept row every gradient is 0.
  bool kept;
  const double denom = mean_denominator(loss, y_class, N, C, &kept);
  const float scale = denom != 0.0 ? float(1.0 / denom) : kept ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
  for (int l = 0; l < n_layers; ++l) {
    const TrainLayer& L = layers[l];
    float* const g = dw[l];
    const index_t n = L.out * L.in;
    parallel_or_inline(threads_if(n >= (index_t(1) << 15)), [&](int t, int nt) {
      index_t b, e;
      split_range(n, t, nt, 16, &b, &e);
      for (index_t i = b; i < e; ++i) g[i] *= scale;
    });
    if (db[l])
      for (index_t j = 0; j < L.out; ++j) db[l][j] *= scale;
  }
  return denom != 0.0 ? loss_sum / denom : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace fastmlp
