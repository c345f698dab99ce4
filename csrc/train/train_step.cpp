// Fused training epoch for a Linear(+activation) stack with cross-entropy or
// MSE and an optimizer (OptimizerSpec, see train.h). Every step calls exactly
// the kernels the Python path calls (fastmlp.nn / fastmlp.optim), on the same
// shapes and in an order that gives every kernel the same inputs, so the two
// paths give the same bits:
//
//   xb (B,F)      = X[perm[s:s+B]]                        gather
//   a_l (B,out_l) = act_l(a_{l-1} @ W_l^T + b_l)          sgemm, fused epilogue
//   loss, d (B,C) = cross_entropy(a_L, y) | mse_loss(a_L, y) | ... (TrainLoss's kind;
//                   with log_softmax: of log_softmax(a_L), then log_softmax_backward)
//   for l = L..1:
//     d            *= act_l'(a_l or z_l)                  relu_backward / activation_backward
//     dW (out,in)   = d^T @ a_{l-1}                       sgemm(trans_a)
//     db (out,)     = column sums of d                    bias_grad
//     d' (B,in)     = d @ W_l   (not for l == 1)          sgemm, with W_l before
//     W_l, b_l      = apply_update(...)                      its update
//                     (sgd_update, adam_update, adamw_update, rmsprop_update,
//                     adagrad_update, or folded into the dW GEMM, or an
//                     elementwise step per block of dW: dw_update_blocks)
//
// Updating layer l right after its gradients (instead of after the whole
// backward pass) is the same arithmetic: d' is computed from W_l before W_l
// changes, and the updates of different parameters are independent. It keeps
// one dW buffer for all layers, hot in cache when the update reads it.
// Gradient clipping and distributed training (GradClip) need every gradient
// first: they keep all gradients in one contiguous buffer, written by the
// backward pass in place, and run the updates after the backward pass.
//
// Distributed (GradAllreduce, train.h): every rank computes the gradient of
// its slice's mean loss into that buffer, scales it (and its step loss, kept
// in the buffer's last float) by its share normaliser(slice) /
// normaliser(global batch), sums the buffer over the ranks with one in-place
// allreduce, and applies the updates: every rank applies the same updates to
// the same summed gradients, so all ranks keep bitwise identical weights.
//
// Inside the epoch each weight (and its optimizer state) is kept transposed,
// WT (in,out), and transposed back at the end. The forward GEMM then reads
// WT in place instead of packing (transposing) W on every step, and the
// arithmetic is unchanged element for element: WT's update is computed as
// dW^T = a_{l-1}^T @ d, whose entries are the same FMA chains over the batch
// as dW's (a*b == b*a exactly, the same k order), and d' = d @ (WT)^T reads
// the same values as d @ W. So the bits still match the Python loop's.
//
// A layer's dropout (TrainLayer::dropout_p) runs dropout_forward on its
// activation's output with that step's seed, and its backward multiplies d
// by the regenerated mask (dropout_backward) before the activation's
// backward, which reads the output kept from before the dropout: the Python
// loop's nn.Dropout calls, the same kernel on the same (B, out) array.
#include <algorithm>
#include <cmath>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>
#include "common.h"
#include "cpu/by_isa.h"
#include "gemm/kernel_table.h"
#include "train/batch_loss.h"
#include "gemm/gemm_plan.h"
#include "train/normalize_row.h"
#include "train/train.h"
#include "train/thread_chooser.h"
#include "ops/optim_step.h"
#include "ops/cross_entropy_chunks.h"

namespace fastmlp {

// Defined in gemm/sgemm.cpp: whether sgemm takes its dot path on this shape
// (the dot path sums over K in another order than the micro-kernels, and the
// choice depends on M).
bool sgemm_uses_dot_path(bool trans_a, index_t M, index_t N, index_t K);

namespace {

// Whether a GEMM with this K runs its K loop as one block on the active path
// (the plan's KC: per CPU, never per thread count).
bool gemm_one_k_block(index_t K) { return K <= gemm_plan(active_isa()).blocking.KC; }

// dst (cols, rows) = src (rows, cols)^T, both row-major; 32 x 32 blocks.
void transpose(const float* src, index_t rows, index_t cols, float* dst) {
  constexpr index_t T = 32;
  for (index_t i0 = 0; i0 < rows; i0 += T)
    for (index_t j0 = 0; j0 < cols; j0 += T)
      for (index_t i = i0; i < std::min(rows, i0 + T); ++i)
        for (index_t j = j0; j < std::min(cols, j0 + T); ++j) dst[j * rows + i] = src[i * cols + j];
}

// dst (F,) = normalize(src (F,) uint8) as TrainInput describes: the baseline
// build of normalize_row.h's body (the AVX2 one is picked when it can run).
void normalize_row(const std::uint8_t* src, index_t F, bool has_mean, bool has_std, float mean,
                   float sd, float* dst) {
  normalize_row_body(src, F, has_mean, has_std, mean, sd, dst);
}

// ------------------------------------------------------ gradient clipping ----
// train_epoch(clip_grad_norm >= 0): clip_grad_norm_ needs every gradient of the
// step before any update, so each parameter's gradient gets its own buffer
// and the updates run after the whole backward pass (the same arithmetic as
// updating each layer right after its gradients: see the top of the file).
struct GradClip {
  double max_norm = -1.0;         // < 0: no clipping
  bool separate = false;          // gradients in `grads`, updates after the backward pass
  AlignedBuffer<float> grads;     // every layer's dW^T (in,out), then db (out,), back to back,
                                  // then one float: the step's loss (distributed)
  index_t total = 0;              // gradient floats in grads
  std::vector<float*> dw, db;     // layer l's (db[l] == nullptr: no bias)
  AlignedBuffer<double> sums, row_sums;

  void init(const TrainLayer* layers, int n_layers, double max_norm_, bool distributed) {
    max_norm = max_norm_;
    separate = max_norm >= 0.0 || distributed;
    if (!separate) return;
    index_t max_out = 1;
    for (int l = 0; l < n_layers; ++l) {
      total += layers[l].out * layers[l].in + (layers[l].bias.param ? layers[l].out : 0);
      max_out = std::max(max_out, layers[l].out);
    }
    float* g = grads.reserve(size_t(total) + 1);
    std::fill(g, g + total + 1, 0.0f);  // a parameter left alone keeps a zero gradient slot
    for (int l = 0; l < n_layers; ++l) {
      dw.push_back(g);
      g += layers[l].out * layers[l].in;
      db.push_back(layers[l].bias.param ? g : nullptr);
      if (layers[l].bias.param) g += layers[l].out;
    }
    sums.reserve(size_t(2 * n_layers));
    row_sums.reserve(size_t(max_out));
  }

  // g[i] *= f for the n first floats of the buffer, in contiguous ranges.
  void scale(index_t n, float f) {
    float* g = grads.data();
    parallel_or_inline(threads_if(n >= (index_t(1) << 15)), [&](int t, int nt) {
      index_t b, e;
      split_range(n, t, nt, 16, &b, &e);
      for (index_t i = b; i < e; ++i) g[i] = g[i] * f;
    });
  }

  // Distributed: this rank's gradients of its slice's mean loss and that
  // loss (step_loss) become its share (times `share`) of the global batch's,
  // summed over the ranks in place; returns the global batch's loss.
  // empty: this rank has no rows of the batch (or none kept); its share is
  // zeros, and the loss is NaN when the global normaliser is 0 too (the
  // kernels' 0/0).
  float reduce(const GradAllreduce& dist, bool empty, float step_loss, double share_num,
               double share_den) {
    float* g = grads.data();
    if (empty) {
      std::fill(g, g + total, 0.0f);
      g[total] = share_den == 0.0 ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    } else {
      g[total] = step_loss;
      if (share_num != share_den) scale(total + 1, float(share_num / share_den));
    }
    if (dist.sum_in_place(g, int(total + 1)) != 0)
      throw std::runtime_error("train_epoch: MPI_Allreduce of the gradients failed");
    return g[total];
  }

  // clip_grad_norm_(W0, b0, W1, ..., max_norm) when clipping, then every
  // update. The norm of W_l's gradient is taken over its (out,in) layout
  // (sum_squares_transposed of dW^T), so it is bitwise
  // fastmlp.nn.utils.clip_grad_norm_'s.
  void clip_and_update(TrainLayer* layers, std::vector<ParamSlot>& wt, int n_layers) {
    if (max_norm >= 0.0) clip(layers, n_layers);
    for (int l = 0; l < n_layers; ++l) {
      apply_update(wt[l], dw[l]);
      if (db[l]) apply_update(layers[l].bias, db[l]);
    }
  }

  void clip(const TrainLayer* layers, int n_layers) {
    int k = 0;
    for (int l = 0; l < n_layers; ++l) {
      const TrainLayer& L = layers[l];
      sums.data()[k++] = sum_squares_transposed(dw[l], L.out, L.in, row_sums.data());
      if (db[l]) sums.data()[k++] = sum_squares(db[l], 1, L.out, row_sums.data());
    }
    // nn.utils.clip_grad_norm_'s float32 steps: np.float32(total),
    // np.float32(max_norm) / (total + np.float32(1e-6)), np.minimum(coef, 1).
    const float norm = float(combine_norms(sums.data(), k));
    float coef = float(max_norm) / (norm + float(1e-6));
    coef = std::min(coef, 1.0f);  // (1 < NaN) is false: NaN stays NaN, as np.minimum
    scale(total, coef);
  }
};

}  // namespace

// ------------------------------------------------- optimizer dispatch ----

namespace {

// p's update as an elementwise step (ops/optim_step.h: every kind is one),
// formed from p's options and step count exactly as the kernel apply_update
// would call computes it.
OptimStep elementwise_step(const ParamSlot& p) {
  static_assert(kMaxState == kMaxOptimState, "ParamSlot::state is OptimStep's state");
  const OptimizerSpec& o = p.opt;
  switch (o.kind) {
    case OptimizerKind::Sgd:  // sgd_update's arguments (Sgd's state holds nothing while step is 0)
      return sgd_step(float(o.lr), o.momentum, o.dampening, float(o.weight_decay), o.nesterov, o.maximize,
                    p.step == 0);
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW:
      return adam_step(o.lr, o.beta1, o.beta2,
                     o.eps_bias_corrected
                         ? o.eps / std::pow(1.0 - std::pow(o.beta2, double(p.step + 1)), 0.5)
                         : o.eps,
                     o.weight_decay, o.amsgrad, o.maximize, double(p.step + 1),
                     o.kind == OptimizerKind::AdamW);
    case OptimizerKind::Rmsprop:
      return rmsprop_step(o.lr, o.alpha, o.eps, o.weight_decay, o.rms_momentum, o.centered,
                        o.maximize);
    case OptimizerKind::Adagrad:
      return adagrad_step(o.lr, o.lr_decay, o.weight_decay, o.eps, o.maximize, double(p.step + 1));
  }
  std::abort();  // every OptimizerKind is a case above (the bindings parse no other)
}

// ------------------------------------ weight gradient and update, by block ----
// An elementwise update (elementwise_step) of a layer's WT (in,out) applied
// block by block right after the block of dW^T = a_in^T @ d it reads, while
// that block is in L1: the gradient never goes to memory, and the update
// reads WT and its state once. Each thread takes a contiguous range of WT's
// rows (splitting the columns instead, as the forward GEMM does, was slower
// in interleaved runs: bench/results/README.md) and walks it in blocks of at
// most kDwBlockFloats. The bits are those of the whole dW GEMM followed by
// the update kernel: every element of a GEMM is the same FMA chain over K
// whatever the shape of the call around it (the K blocking depends on K
// alone; the same property the transposed dW^T relies on, top of the file),
// and the update is elementwise.
constexpr index_t kDwBlockFloats = 3072;  // a block of dW^T, 12 KiB: 3/8 of a 32 KiB L1d, 1/4 of a 48 KiB one

// Parallel when either part is large enough to pay for its region: the update
// (kOptimParallelMin elements, as the optimizer kernels decide) or the dW GEMM
// (kParallelMinFlops multiply-adds, as sgemm decides for the same GEMM).
bool dw_blocks_parallel(index_t bs, index_t in, index_t out) {
  return in * out >= kOptimParallelMin || double(in) * double(out) * double(bs) >= kParallelMinFlops;
}

// Thread t of nt's share of dw_update_blocks: a contiguous range of WT's rows
// (scratch: this thread's kDwBlockFloats floats). Does not count the step.
void dw_update_rows(const OptimStep& k, ParamSlot& w, const float* a_in, const float* d, index_t bs,
                    index_t in, index_t out, float* g, int t, int nt) {
  index_t r_lo, r_hi;
  split_range(in, t, nt, 1, &r_lo, &r_hi);
  for (index_t c0 = 0; c0 < out; c0 += 256) {
    const index_t cc = std::min<index_t>(256, out - c0);
    index_t R = kDwBlockFloats / cc;  // >= 12
    if (R >= 24) R = R / 24 * 24;     // whole register tiles of 8 and 12 rows
    for (index_t r0 = r_lo; r0 < r_hi; r0 += R) {
      const index_t rows = std::min(R, r_hi - r0);
      sgemm(true, false, rows, cc, bs, 1.0f, a_in + r0, in, d + c0, out, 0.0f, g, cc, nullptr,
            ActivationSpec{});
      // Row by row, or the whole block at once when it spans WT's rows (cc == out).
      const index_t n_runs = cc == out ? 1 : rows, len = cc == out ? rows * cc : cc;
      for (index_t r = 0; r < n_runs; ++r) {
        const index_t off = (r0 + r) * out + c0;
        float* st[kMaxOptimState];
        for (int j = 0; j < kMaxOptimState; ++j) st[j] = w.state[j] ? w.state[j] + off : nullptr;
        k.run(w.param + off, g + r * cc, st, 0, len);
      }
    }
  }
}

void dw_update_blocks(const OptimStep& k, ParamSlot& w, const float* a_in, const float* d,
                      index_t bs, index_t in, index_t out, float* scratch) {
  parallel_or_inline(threads_if(dw_blocks_parallel(bs, in, out)), [&](int t, int nt) {
    dw_update_rows(k, w, a_in, d, bs, in, out, scratch + kDwBlockFloats * t, t, nt);
  });
  ++w.step;
}

}  // namespace

void apply_update(ParamSlot& p, const float* grad) {
  if (!p.param || !p.update) return;
  optim_step_apply(elementwise_step(p), p.param, grad, p.state, p.n);
  ++p.step;
}

bool update_folds_into_gemm(const ParamSlot& p, float* alpha) {
  const OptimizerSpec& o = p.opt;
  switch (o.kind) {
    case OptimizerKind::Sgd:
      // g = ±grad, param -= lr*g: fl(W - fl(lr*grad)), or fl(W + fl(lr*grad)) when maximize.
      if (o.momentum != 0.0f || float(o.weight_decay) != 0.0f) return false;
      *alpha = o.maximize ? float(o.lr) : -float(o.lr);
      return true;
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW:
      return false;  // param moves by exp_avg / denom, not by a multiple of grad
    case OptimizerKind::Rmsprop:
    case OptimizerKind::Adagrad:
      return false;  // param moves by grad / a running root mean square
  }
  return false;
}

// How a step updates weight slot w inside its backward pass, from the dW GEMM
// over K = bs rows:
//   Folded: as the dW GEMM's epilogue, W = 1*W + alpha*(d^T a) (*alpha set;
//     update_folds_into_gemm). With one K block (bs <= KC) the epilogue computes
//     fl(W + fl(alpha*acc)) from the accumulator a separate dW GEMM would store,
//     and the update kernel fl(W + fl(alpha*dW)): the same bits, with no dW
//     round trip through memory.
//   Blocks: otherwise, elementwise block by block right after its block of
//     dW^T (*k set; dw_update_blocks / dw_update_rows).
// (Separate: no update inside the backward pass: the slot is not updated, or
// the gradients are clipped or summed over ranks first, then apply_update.)
namespace {
enum class InlineUpdate { Separate, Folded, Blocks };
InlineUpdate inline_update(const ParamSlot& w, index_t bs, float* alpha, OptimStep* k) {
  if (gemm_one_k_block(bs) && update_folds_into_gemm(w, alpha)) return InlineUpdate::Folded;
  *k = elementwise_step(w);
  return InlineUpdate::Blocks;
}
}  // namespace

// ------------------------------------------------ the session: entry and exit ----
// train_epoch's entry work, done once for any number of runs (TrainSession,
// train.h): the workspaces for batches of at most max_batch rows, and each
// weight and its optimizer state transposed to WT (in,out) (see the top of the
// file), kept in that layout across runs until finish() writes them back.
struct TrainSession::Impl {
  TrainLayer* layers;
  int n_layers;
  TrainInput X;
  index_t F, max_batch, C = 0;
  TrainLoss loss;
  const GradAllreduce* dist;
  bool distributed, separate = false, finished = false;
  AlignedBuffer<float> xb, xb2;                 // gathered inputs (two: see `overlap`)
  AlignedBuffer<float> acts;                    // each layer's output
  AlignedBuffer<float> g0, g1;                  // d, d'
  AlignedBuffer<float> dw, db, dw_blocks;       // dw_blocks: dw_update_blocks' scratch
  AlignedBuffer<std::int64_t> yb_class;
  AlignedBuffer<float> yb_value, lsm;           // lsm: log_softmax(a_L), when the model ends with it
  AlignedBuffer<float> drops, pres, wts;
  AlignedBuffer<double> sq_rows;                // weight_sq_sums' row sums scratch
  std::vector<float*> act, drop_kept, pre;
  GradClip clip;
  std::vector<ParamSlot> wt;                    // layer l's weight, transposed
  // The team step's (see team_step_ok): every layer's output gradient (B, out_l)
  // and bias gradient (out_l,), kept until the weight phase; the loss's chunk partials.
  AlignedBuffer<float> team_d, team_db;
  AlignedBuffer<double> team_part;
  std::vector<float*> dact, dbias;

  Impl(TrainLayer* layers_, int n_layers_, const TrainInput& X_, index_t F_, index_t max_batch_,
       const TrainLoss& loss_, double clip_grad_norm, const GradAllreduce* dist_)
      : layers(layers_), n_layers(n_layers_), X(X_), F(F_), max_batch(max_batch_), loss(loss_), dist(dist_),
        distributed(dist_ && dist_->world > 1) {
    finished = n_layers == 0;
    if (n_layers == 0) return;
    const index_t B = max_batch;
    C = layers[n_layers - 1].out;
    index_t max_out = 0, max_w = 0;
    size_t act_total = 0;
    for (int l = 0; l < n_layers; ++l) {
      max_out = std::max(max_out, layers[l].out);
      max_w = std::max(max_w, layers[l].out * layers[l].in);
      act_total += size_t(B * layers[l].out);
    }
    xb.reserve(size_t(B * F));
    xb2.reserve(size_t(B * F));
    acts.reserve(act_total);
    g0.reserve(size_t(B * max_out));
    g1.reserve(size_t(B * max_out));
    dw.reserve(size_t(max_w));
    db.reserve(size_t(max_out));
    dw_blocks.reserve(size_t(kDwBlockFloats * get_num_threads()));
    yb_class.reserve(size_t(B));
    yb_value.reserve(size_t(B * C));
    lsm.reserve(loss.log_softmax ? size_t(B * C) : 0);
    sq_rows.reserve(size_t(std::max<index_t>(1, max_out)));
    act.resize(size_t(n_layers));
    float* ap = acts.data();
    for (int l = 0; l < n_layers; ++l) {
      act[l] = ap;
      ap += B * layers[l].out;
    }
    {  // the team step's gradients (team_d: as acts)
      float* dp = team_d.reserve(act_total);
      size_t out_total = 0;
      for (int l = 0; l < n_layers; ++l) out_total += size_t(layers[l].out);
      float* bp = team_db.reserve(out_total);
      team_part.reserve(size_t(cross_entropy_n_chunks(B)) + 1);
      dact.resize(size_t(n_layers));
      dbias.resize(size_t(n_layers));
      for (int l = 0; l < n_layers; ++l) {
        dact[l] = dp;
        dp += B * layers[l].out;
        dbias[l] = bp;
        bp += layers[l].out;
      }
    }
    // One (B, out_l) buffer for each layer l where keep(layers[l]), nullptr for
    // the others, all in `buf`.
    auto layer_buffers = [&](AlignedBuffer<float>& buf, auto keep) {
      std::vector<float*> ptrs(static_cast<size_t>(n_layers), nullptr);
      size_t total = 0;
      for (int l = 0; l < n_layers; ++l)
        if (keep(layers[l])) total += size_t(B * layers[l].out);
      float* p = buf.reserve(total);
      for (int l = 0; l < n_layers; ++l)
        if (keep(layers[l])) {
          ptrs[l] = p;
          p += B * layers[l].out;
        }
      return ptrs;
    };
    // Dropout after layer l: between layer l's forward and its backward, act[l]
    // is the dropped output (what layer l+1 and the loss read) and drop_kept[l]
    // the activation's output (what the activation's backward reads); the
    // backward swaps them back. The mask is regenerated, never stored.
    drop_kept = layer_buffers(drops, [](const TrainLayer& L) { return L.dropout_p != 0.0; });
    // Pre-activations z_l = a_{l-1} @ W_l^T + b_l, kept only for the layers
    // whose activation's backward reads its input (gelu, silu, ...): their
    // forward is the Identity GEMM into z_l, then activation_forward(z_l) ->
    // a_l, the same bits as the fused epilogue (kernels.h sgemm's contract).
    pre = layer_buffers(pres, [](const TrainLayer& L) {
      return L.activation.kind != Activation::Identity && !activation_saves_output(L.activation.kind);
    });
    // Transposed weights and optimizer state, WT (in,out): see the top of the file.
    size_t wt_total = 0;
    for (int l = 0; l < n_layers; ++l) {
      size_t arrays = 1;
      for (const float* st : layers[l].weight.state) arrays += st != nullptr;
      wt_total += size_t(layers[l].out * layers[l].in) * arrays;
    }
    wts.reserve(wt_total);
    clip.init(layers, n_layers, clip_grad_norm, distributed);
    separate = clip.separate;  // gradients in clip's buffer, updates after the backward
    wt.resize(size_t(n_layers));
    float* wp = wts.data();
    for (int l = 0; l < n_layers; ++l) {
      const TrainLayer& L = layers[l];
      wt[l] = L.weight;
      wt[l].param = wp;
      transpose(L.weight.param, L.out, L.in, wp);
      wp += L.out * L.in;
      for (int s = 0; s < kMaxState; ++s) {
        if (!L.weight.state[s]) continue;
        wt[l].state[s] = wp;
        // (Sgd's buffer holds nothing yet at step 0, Adam's moments are zeros: copied alike.)
        transpose(L.weight.state[s], L.out, L.in, wp);
        wp += L.out * L.in;
      }
    }
  }

  // Back to the caller's (out,in) layout, once.
  void finish() {
    if (finished) return;
    finished = true;
    for (int l = 0; l < n_layers; ++l) {
      TrainLayer& L = layers[l];
      transpose(wt[l].param, L.in, L.out, L.weight.param);
      for (int s = 0; s < kMaxState; ++s)
        if (wt[l].state[s]) transpose(wt[l].state[s], L.in, L.out, L.weight.state[s]);
      L.weight.step = wt[l].step;
    }
  }
};

TrainSession::TrainSession(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F, index_t max_batch,
                           const TrainLoss& loss, double clip_grad_norm, const GradAllreduce* dist)
    : impl_(new Impl(layers, n_layers, X, F, max_batch, loss, clip_grad_norm, dist)) {}

TrainSession::~TrainSession() = default;

ParamSlot& TrainSession::weight(int l) { return impl_->wt[size_t(l)]; }

void TrainSession::finish() { impl_->finish(); }

std::uint64_t step_choice_key(const TrainLayer* layers, int n_layers, const TrainInput& X, index_t batch_size,
                              const TrainLoss& loss, bool distributed, int threads) {
  ChoiceKey k;
  k.add(std::uint64_t(n_layers)).add(X.u8 ? 1 : 0).add(std::uint64_t(loss.kind)).add(std::uint64_t(batch_size));
  k.add(distributed ? 1 : 0).add(std::uint64_t(threads));
  for (int l = 0; l < n_layers; ++l) {
    const TrainLayer& L = layers[l];
    k.add(std::uint64_t(L.in)).add(std::uint64_t(L.out)).add(std::uint64_t(L.activation.kind));
    k.add(L.bias.param ? 1 : 0).add(L.dropout_p > 0.0 ? 1 : 0);
    k.add(std::uint64_t(L.weight.opt.kind)).add(L.weight.update ? 1 : 0);
  }
  return k.value();
}

double train_epoch(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F,
                   const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                   index_t n_perm, index_t batch_size, bool drop_last, const TrainLoss& loss,
                   index_t* steps, double clip_grad_norm, const GradAllreduce* dist,
                   double* weight_sq_sums, const std::function<bool()>& stop) {
  const index_t n_steps = drop_last ? n_perm / batch_size : (n_perm + batch_size - 1) / batch_size;
  *steps = n_steps;
  if (n_steps == 0 || n_layers == 0) return 0.0;
  TrainSession session(layers, n_layers, X, F, batch_size, loss, clip_grad_norm, dist);
  // Each step at the caller's thread count or on one thread, whichever its
  // measured steps show faster (thread_chooser.h): the same bits either way.
  const int nt = get_num_threads();
  ThreadChooser threads(nt, step_choice_key(layers, n_layers, X, batch_size, loss, dist && dist->world > 1, nt));
  threads.set_timed_rows(batch_size);
  std::function<bool()> my_stop = stop;
  if (threads.active())
    my_stop = [&] { return threads.between_steps(batch_size, stop); };
  threads.begin(batch_size);
  const double loss_sum = session.run(y_class, y_value, perm, n_perm, batch_size, drop_last, steps,
                                      weight_sq_sums, my_stop);
  session.finish();
  return loss_sum;
}

// train_epoch's step loop on the session's workspaces and transposed weights.
double TrainSession::run(const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                         index_t n_perm, index_t batch_size, bool drop_last, index_t* steps,
                         double* weight_sq_sums, const std::function<bool()>& stop) {
  Impl& ws = *impl_;
  const index_t B = batch_size;
  const index_t n_steps = drop_last ? n_perm / B : (n_perm + B - 1) / B;
  *steps = n_steps;
  if (n_steps == 0 || ws.n_layers == 0) return 0.0;
  TrainLayer* const layers = ws.layers;
  const int n_layers = ws.n_layers;
  const TrainInput& X = ws.X;
  const index_t F = ws.F, C = ws.C;
  const TrainLoss& loss = ws.loss;
  const GradAllreduce* const dist = ws.dist;
  const bool distributed = ws.distributed, separate = ws.separate;
  GradClip& clip = ws.clip;
  std::vector<ParamSlot>& wt = ws.wt;
  std::vector<float*>& act = ws.act;
  std::vector<float*>& drop_kept = ws.drop_kept;
  const std::vector<float*>& pre = ws.pre;
  AlignedBuffer<float>&g0 = ws.g0, &g1 = ws.g1, &dw = ws.dw, &db = ws.db, &dw_blocks = ws.dw_blocks;
  AlignedBuffer<std::int64_t>& yb_class = ws.yb_class;
  AlignedBuffer<float>&yb_value = ws.yb_value, &lsm = ws.lsm;
  AlignedBuffer<double>& sq_rows = ws.sq_rows;

  // ---- batch rows: X[perm[s*B : s*B+bs]] (distributed: this rank's slice of it) ----
  auto batch_rows = [&](index_t s, const std::int64_t** idx, index_t* bs) {
    *idx = perm + s * B;
    *bs = std::min(B, n_perm - s * B);
    if (distributed) {
      index_t lo, hi;
      rank_slice(*bs, dist->rank, dist->world, &lo, &hi);
      *idx += lo;
      *bs = hi - lo;
    }
  };
  auto consecutive = [&](const std::int64_t* idx, index_t bs) {
    if (!X.f32) return false;  // uint8 rows are always converted into a buffer
    for (index_t i = 1; i < bs; ++i)
      if (idx[i] != idx[0] + i) return false;
    return true;
  };
  // Rows are gathered into xb[s % 2]: the next batch's can be gathered while
  // this step still reads its own (see `overlap`).
  float* const xbuf[2] = {ws.xb.data(), ws.xb2.data()};
  // Pulls row idx[i] of X toward this core's L2 (not L1: it is needed a whole
  // step later, and L1 holds the GEMM panels).
  const index_t row_bytes = F * index_t(X.f32 ? sizeof(float) : 1);
  auto prefetch_row = [&](const std::int64_t* idx, index_t i) {
    const char* row = X.f32 ? reinterpret_cast<const char*>(X.f32 + idx[i] * F)
                            : reinterpret_cast<const char*>(X.u8 + idx[i] * F);
    for (index_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(row + off, 0, 2);
  };
  // AVX-512 CPUs run the AVX2 row conversion (there is no AVX-512 variant).
  const auto convert_row = FASTMLP_BY_ISA(active_isa(), &normalize_row, &normalize_row_avx2,
                                          &normalize_row_avx2);
  auto gather_row = [&](const std::int64_t* idx, index_t i, float* dst) {
    if (X.f32)
      std::memcpy(dst + i * F, X.f32 + idx[i] * F, size_t(F) * sizeof(float));
    else
      convert_row(X.u8 + idx[i] * F, F, X.has_mean, X.has_std, X.mean, X.std, dst + i * F);
  };
  // A batch's rows for the GEMMs: read in place when consecutive float32 rows
  // (gather == false), else copied (converted) into buf by all threads.
  // An empty batch (a rank's slice of a short last batch) reads no index: idx
  // may then point one past the end of perm.
  auto place_rows = [&](const std::int64_t* idx, index_t bs, bool gather, float* buf) {
    if (!gather) return bs > 0 ? X.f32 + idx[0] * F : X.f32;
    // Not parallel_or_inline: this conversion has always run without a
    // DenormalGuard (FTZ/DAZ could flush a denormal mean or quotient, which
    // fastmlp.data.normalize keeps); the overlapped gather below runs under one.
#pragma omp parallel for schedule(static) if (bs * F > 32768) num_threads(get_num_threads())
    for (index_t i = 0; i < bs; ++i) gather_row(idx, i, buf);
    return static_cast<const float*>(buf);
  };

  // The layers after the first (and the loss) are small for a typical MLP
  // (784-128-10: 0.25 M multiply-adds per step at batch 64, against 6.4 M for
  // layer 1 alone): a handful of one-thread kernels, while the other thread
  // would only spin. Copying the next batch's rows from random places of X is
  // latency bound and costs about as much (bench/results/README.md#fused-epoch).
  // So when the head is small (head_macs below), the step runs it on thread 0
  // while thread 1 gathers the next batch; thread 0 joins the gather when done
  // (rows handed out by an atomic counter). Every kernel does the same
  // arithmetic on one thread as on several, so the bits do not change.
  // Whether a step has two threads is asked at each step (get_num_threads()
  // there): the steps' callers (ThreadChooser) may run a step on one thread,
  // the first one included, and the next on the caller's count.
  double head_macs = 0.0;
  for (int l = 1; l < n_layers; ++l) head_macs += 3.0 * double(B) * double(layers[l].in * layers[l].out);
  const bool overlap_ok = n_steps > 1 && head_macs <= 8.0 * double(B) * double(F);

  // ---- the team step: a whole step in one parallel region ----
  // Where the overlapped head is not taken, a step at >= 2 threads runs as
  // one parallel region with one barrier, instead of one region per kernel
  // large enough to split and every smaller kernel on one thread:
  //   rows phase: thread t takes a contiguous range of the batch's rows (on
  //     cross_entropy's chunk boundaries) and runs everything row-local on
  //     them: every layer's forward, the loss's chunks and their dlogits rows,
  //     and for l = L..1 the activation's backward and d' = d @ W_l (W_l not yet
  //     updated: no update runs before the barrier); thread 0 also
  //     takes the weights' squared sums (weight_sq_sums, read before the updates).
  //     Any loss but cross-entropy without log_softmax: after the forward a
  //     barrier, the per-kernel step's batch_loss call on thread 0 (the whole
  //     batch's loss and gradient, so the same bits), a barrier, then the
  //     backward of the rows;
  //   barrier;
  //   weights phase: for every layer, thread t takes a contiguous range of
  //     WT's rows: dW^T's rows and their update (dw_update_rows, or the folded
  //     GEMM), and layer l's bias gradient and update go to thread l % nt;
  //     meanwhile the threads gather their share of the next batch's rows.
  // The loss is then cross_entropy_total of the chunks' partials. Every
  // kernel runs on the calling thread of the region (get_num_threads() is 1
  // inside it) on a block of rows or columns, and a GEMM element's FMA chain
  // and an elementwise update do not depend on the block around them
  // (kernels.h), so the bits are those of the one-kernel-per-region step.
  // Taken for: no clipping or distribution, no dropout, every activation in
  // the GEMM's epilogue (no separate pre-activation), and a row split
  // that keeps each row-phase GEMM on the whole batch's path
  // (team_rows_keep_paths); else the per-kernel step below.
  const int team_mode_hook = team_step_mode().load();
  bool team_ok = team_mode_hook != 0 && !overlap_ok && !separate && !distributed && B >= 1;
  // Cross-entropy (without log_softmax) runs in the rows phase by chunks; any other loss
  // is one batch_loss call on thread 0 between two barriers (see above).
  const bool team_ce_chunks = loss.kind == LossKind::CrossEntropy && !loss.log_softmax;
  for (int l = 0; l < n_layers && team_ok; ++l) team_ok = layers[l].dropout_p == 0.0 && !pre[l];
  // Whether splitting a batch of bs rows over tn threads keeps every row-phase
  // GEMM (forward, d') on the path the whole batch's would take: the dot
  // path's choice depends on M, and it sums in another order.
  auto team_rows_keep_paths = [&](index_t bs, int tn) {
    const index_t chunk = cross_entropy_chunk_rows();
    for (int t = 0; t < tn; ++t) {
      index_t r0, r1;
      split_range(bs, t, tn, chunk, &r0, &r1);
      if (r1 == r0) continue;
      for (int l = 0; l < n_layers; ++l) {
        const TrainLayer& L = layers[l];
        if (sgemm_uses_dot_path(false, r1 - r0, L.out, L.in) != sgemm_uses_dot_path(false, bs, L.out, L.in))
          return false;
        if (l > 0 && sgemm_uses_dot_path(false, r1 - r0, L.in, L.out) != sgemm_uses_dot_path(false, bs, L.in, L.out))
          return false;
      }
    }
    return true;
  };
  // Whether a step of bs rows has a GEMM large enough for sgemm to split it
  // (kParallelMinFlops): else the per-kernel step runs every kernel on one
  // thread, without a parallel region, and the team step would only add its
  // region and barriers (bench/results/README.md, "The team step for every loss").
  auto team_pays = [&](index_t bs) {
    for (int l = 0; l < n_layers; ++l)
      if (double(bs) * double(layers[l].in) * double(layers[l].out) >= kParallelMinFlops) return true;
    return false;
  };
  std::vector<OptimStep> team_k(static_cast<size_t>(n_layers));
  std::vector<float> team_alpha(static_cast<size_t>(n_layers));
  std::vector<InlineUpdate> team_mode(static_cast<size_t>(n_layers));  // Separate: no update
  // One team step on this step's rows x / yb_class (bs of them), gathering the
  // next batch's into nxb when gather_next; returns the step's loss.
  auto team_step = [&](const float* x, index_t bs, const std::int64_t* nidx, index_t nbs,
                       bool gather_next, float* nxb, double* sq) {
    for (int l = 0; l < n_layers; ++l) {
      team_mode[l] = wt[l].update ? inline_update(wt[l], bs, &team_alpha[l], &team_k[l]) : InlineUpdate::Separate;
    }
    const index_t chunk = cross_entropy_chunk_rows();
    double* const part = ws.team_part.data();
    const std::int64_t* const yb = yb_class.data();
    const int team_nt = get_num_threads();
    float other_loss = 0.0f;  // (!team_ce_chunks)
#pragma omp parallel num_threads(team_nt)
    {
      DenormalGuard ftz;
      const int t = omp_get_thread_num(), tn = omp_get_num_threads();
      index_t r0, r1;
      split_range(bs, t, tn, chunk, &r0, &r1);
      const index_t rows = r1 - r0;
      if (sq && t == 0) {  // (thread 0's row range is the shorter one)
        double v = 0.0;
        for (int l = 0; l < n_layers; ++l)
          v += sum_squares_transposed(wt[l].param, layers[l].out, layers[l].in, ws.sq_rows.data());
        *sq = v;
      }
      if (rows > 0) {
        const float* a_in = x + r0 * F;
        for (int l = 0; l < n_layers; ++l) {
          const TrainLayer& L = layers[l];
          sgemm(false, false, rows, L.out, L.in, 1.0f, a_in, L.in, wt[l].param, L.out, 0.0f,
                act[l] + r0 * L.out, L.out, L.bias.param, L.activation);
          a_in = act[l] + r0 * L.out;
        }
        if (team_ce_chunks)
          cross_entropy_chunks(act[n_layers - 1], yb, bs, C, loss.class_weight, loss.ignore_index,
                               loss.label_smoothing, loss.reduction, r0 / chunk, (r1 + chunk - 1) / chunk, part,
                               ws.dact[n_layers - 1]);
      }
      if (!team_ce_chunks) {  // the whole batch's outputs, then its loss and gradient on one thread
#pragma omp barrier
        if (t == 0)
          other_loss = batch_loss(loss, act[n_layers - 1], yb, yb_value.data(), bs, C, lsm.data(),
                                  ws.dact[n_layers - 1]);
#pragma omp barrier
      }
      if (rows > 0) {
        for (int l = n_layers - 1; l >= 0; --l) {
          const TrainLayer& L = layers[l];
          float* const d = ws.dact[l] + r0 * L.out;
          if (L.activation.kind == Activation::Relu)
            relu_backward(d, act[l] + r0 * L.out, d, rows * L.out);
          else if (L.activation.kind != Activation::Identity)
            activation_backward_parallel(L.activation, d, act[l] + r0 * L.out, d, rows * L.out);
          if (l > 0)
            sgemm(false, true, rows, L.in, L.out, 1.0f, d, L.out, wt[l].param, L.out, 0.0f,
                  ws.dact[l - 1] + r0 * L.in, L.in, nullptr, ActivationSpec{});
        }
      }
#pragma omp barrier
      for (int l = n_layers - 1; l >= 0; --l) {
        TrainLayer& L = layers[l];
        const float* a_in = l ? act[l - 1] : x;
        if (team_mode[l] == InlineUpdate::Blocks) {
          dw_update_rows(team_k[l], wt[l], a_in, ws.dact[l], bs, L.in, L.out,
                         dw_blocks.data() + kDwBlockFloats * t, t, tn);
        } else if (team_mode[l] == InlineUpdate::Folded) {
          index_t i0, i1;
          split_range(L.in, t, tn, 1, &i0, &i1);
          if (i1 > i0)
            sgemm(true, false, i1 - i0, L.out, bs, team_alpha[l], a_in + i0, L.in, ws.dact[l], L.out, 1.0f,
                  wt[l].param + i0 * L.out, L.out, nullptr, ActivationSpec{});
        }
        if (L.bias.param && L.bias.update && l % tn == t) {
          bias_grad(ws.dact[l], bs, L.out, L.out, ws.dbias[l]);
          apply_update(L.bias, ws.dbias[l]);
        }
      }
      if (gather_next) {
        index_t g0, g1;
        split_range(nbs, t, tn, 1, &g0, &g1);
        for (index_t i = g0; i < g1; ++i) gather_row(nidx, i, nxb);
      }
    }
    for (int l = 0; l < n_layers; ++l)
      if (team_mode[l] != InlineUpdate::Separate) ++wt[l].step;
    team_step_count().fetch_add(1, std::memory_order_relaxed);
    return team_ce_chunks ? cross_entropy_total(part, bs, yb, loss.class_weight, loss.ignore_index, loss.reduction)
                          : other_loss;
  };

  double loss_sum = 0.0;
  const float* x;  // this step's rows: X itself (consecutive) or xbuf[s % 2]
  {
    const std::int64_t* idx;
    index_t bs;
    batch_rows(0, &idx, &bs);
    x = place_rows(idx, bs, !consecutive(idx, bs), xbuf[0]);
  }
  for (index_t s = 0; s < n_steps; ++s) {
    const index_t team_bs = std::min(B, n_perm - s * B);  // (not distributed: this step's rows)
    const bool team_now = team_ok && get_num_threads() > 1 && (team_mode_hook == 2 || team_pays(team_bs)) &&
                          team_rows_keep_paths(team_bs, get_num_threads());
    if (weight_sq_sums && !team_now) {  // the weights this step's forward pass reads (WT holds W^T)
      double t = 0.0;
      for (int l = 0; l < n_layers; ++l)
        t += sum_squares_transposed(wt[l].param, layers[l].out, layers[l].in, sq_rows.data());
      weight_sq_sums[s] = t;
    }
    const std::int64_t* idx;
    index_t bs;
    batch_rows(s, &idx, &bs);
    const std::int64_t* nidx = nullptr;
    index_t nbs = 0;
    if (s + 1 < n_steps) batch_rows(s + 1, &nidx, &nbs);
    const bool next_gather = nidx && !consecutive(nidx, nbs);
    const bool overlap = overlap_ok && next_gather && bs > 0 && get_num_threads() >= 2;
    float* const nxb = xbuf[(s + 1) % 2];

    if (class_targets(loss.kind)) {
      for (index_t i = 0; i < bs; ++i) yb_class.data()[i] = y_class[idx[i]];
    } else {
      for (index_t i = 0; i < bs; ++i)
        std::memcpy(yb_value.data() + i * C, y_value + idx[i] * C, size_t(C) * sizeof(float));
    }
    if (next_gather && !overlap) {  // start pulling the next batch's rows in while this step computes
      for (index_t i = 0; i < nbs; ++i) prefetch_row(nidx, i);
    }

    // The team step (above), when this step runs on more than one thread.
    if (team_now) {
      const bool gather_here = next_gather && X.f32;  // (uint8 rows: converted outside any region)
      loss_sum += double(team_step(x, bs, nidx, nbs, gather_here, nxb, weight_sq_sums ? weight_sq_sums + s : nullptr));
      if (nidx) x = gather_here ? nxb : place_rows(nidx, nbs, next_gather, nxb);
      if (stop && s + 1 < n_steps && stop()) {  // a pending signal: end after this step
        *steps = s + 1;
        break;
      }
      continue;
    }

    // Layer l's dropout (after its activation): see drop_kept.
    auto dropout_fwd = [&](int l) {
      const TrainLayer& L = layers[l];
      if (L.dropout_p == 0.0) return;
      dropout_forward(act[l], drop_kept[l], bs * L.out, L.dropout_p, L.dropout_seeds[s]);
      std::swap(act[l], drop_kept[l]);
    };

    // ---- forward, layer 1 ----
    // a_l = act_l(a_in @ W_l^T + b_l): the fused epilogue, or through z_l (pre[l]).
    auto forward_layer = [&](int l, const float* a_in) {
      const TrainLayer& L = layers[l];
      float* const out = pre[l] ? pre[l] : act[l];
      sgemm(false, false, bs, L.out, L.in, 1.0f, a_in, L.in, wt[l].param, L.out, 0.0f, out, L.out,
            L.bias.param, pre[l] ? ActivationSpec{} : L.activation);
      if (pre[l]) activation_forward_parallel(L.activation, pre[l], act[l], bs * L.out);
    };
    forward_layer(0, x);
    dropout_fwd(0);

    float* d = g0.data();
    float* d_next = g1.data();
    float dist_loss = 0.0f;  // distributed: this rank's step loss (its slice's), reduced after
    // Backward of layer l: the activation's, dW^T, db, d' (l > 0), updates.
    auto backward = [&](int l) {
      TrainLayer& L = layers[l];
      const float* a_in = l ? act[l - 1] : x;
      if (L.dropout_p != 0.0) {  // d *= the regenerated mask; act[l]: the activation's output again
        dropout_backward(d, d, bs * L.out, L.dropout_p, L.dropout_seeds[s]);
        std::swap(act[l], drop_kept[l]);
      }
      // d = d * act_l'(.), from the layer's output a_l or its pre-activation z_l
      if (L.activation.kind == Activation::Relu)
        relu_backward(d, act[l], d, bs * L.out);
      else if (L.activation.kind != Activation::Identity)
        activation_backward_parallel(L.activation, d, pre[l] ? pre[l] : act[l], d, bs * L.out);
      const bool need_w = L.weight.update, need_b = L.bias.param && L.bias.update;
      // The update inside the backward pass (inline_update): folded into the
      // dW GEMM, or block by block after its block of dW^T (after d' has read WT).
      float fold_alpha = 0.0f;
      OptimStep step_w;
      const InlineUpdate how = need_w && !separate ? inline_update(wt[l], bs, &fold_alpha, &step_w)
                                                   : InlineUpdate::Separate;
      const bool fold_w = how == InlineUpdate::Folded, block_w = how == InlineUpdate::Blocks;
      // Clipping: the gradients go to their own buffers, updated after the backward pass.
      float* const dw_l = separate ? clip.dw[l] : dw.data();
      float* const db_l = separate ? clip.db[l] : db.data();
      // dW^T (in,out) = a_in^T @ d
      if (need_w && !fold_w && !block_w)
        sgemm(true, false, L.in, L.out, bs, 1.0f, a_in, L.in, d, L.out, 0.0f, dw_l, L.out,
              nullptr, ActivationSpec{});
      if (need_b) bias_grad(d, bs, L.out, L.out, db_l);
      if (l > 0) {  // input gradient with the weights before this step's update: d @ (WT)^T
        sgemm(false, true, bs, L.in, L.out, 1.0f, d, L.out, wt[l].param, L.out, 0.0f, d_next,
              L.in, nullptr, ActivationSpec{});
      }
      if (fold_w) {
        sgemm(true, false, L.in, L.out, bs, fold_alpha, a_in, L.in, d, L.out, 1.0f, wt[l].param,
              L.out, nullptr, ActivationSpec{});
        ++wt[l].step;
      } else if (block_w) {
        dw_update_blocks(step_w, wt[l], a_in, d, bs, L.in, L.out, dw_blocks.data());
      }
      if (need_b && !separate) apply_update(L.bias, db.data());
      if (l > 0) std::swap(d, d_next);
    };
    // The head: layers 2..L forward, the loss and dlogits, layers L..2 backward.
    auto head = [&] {
      for (int l = 1; l < n_layers; ++l) {
        forward_layer(l, act[l - 1]);
        dropout_fwd(l);
      }
      // The loss and its gradient d (B,C) w.r.t. its input: a_L, or y = log_softmax(a_L)
      // whose backward then turns d into the gradient w.r.t. a_L, in place.
      const float step_loss = batch_loss(loss, act[n_layers - 1], yb_class.data(), yb_value.data(), bs, C,
                                         lsm.data(), d);
      if (distributed)
        dist_loss = step_loss;
      else
        loss_sum += double(step_loss);
      for (int l = n_layers - 1; l >= 1; --l) backward(l);
    };

    // Distributed: this rank's share of the global batch (see the top of the file).
    double share_num = 1.0, share_den = 1.0;
    if (distributed) {
      const std::int64_t* gidx = perm + s * B;
      const index_t gbs = std::min(B, n_perm - s * B);
      index_t lo, hi;
      rank_slice(gbs, dist->rank, dist->world, &lo, &hi);
      share_num = loss_normaliser(loss, y_class, gidx, lo, hi, C);
      share_den = loss_normaliser(loss, y_class, gidx, 0, gbs, C);
    }
    const bool empty = bs == 0 || share_num == 0.0;
    if (empty) {
      // no rows (or none kept) here: nothing to compute, a zero share
    } else if (overlap) {
      // Whoever gathers row i of batch s+1 also prefetches row i of batch s+2:
      // thread 1 starts first and takes the front rows every step, thread 0
      // the back ones, so the row is mostly in the right core's L2 a step
      // later: random rows of X come from DRAM
      // (bench/results/README.md#fused-epoch).
      const std::int64_t* idx2 = nullptr;
      index_t bs2 = 0;
      if (s + 2 < n_steps) batch_rows(s + 2, &idx2, &bs2);
      std::atomic<index_t> next_row{0};
      parallel_or_inline(2, [&](int t, int) {
        if (t == 0) {
          omp_set_num_threads(1);  // this task only: the head's kernels run inline
          head();
        }
        for (index_t i; (i = next_row.fetch_add(1, std::memory_order_relaxed)) < nbs;) {
          gather_row(nidx, i, nxb);
          if (i < bs2) prefetch_row(idx2, i);
        }
      });
    } else {
      head();
    }
    if (!empty) backward(0);
    if (distributed) loss_sum += double(clip.reduce(*dist, empty, dist_loss, share_num, share_den));
    if (separate) clip.clip_and_update(layers, wt, n_layers);

    // ---- the next step's rows (already in nxb when gathered beside the head) ----
    if (nidx) x = overlap ? nxb : place_rows(nidx, nbs, next_gather, nxb);
    if (stop && s + 1 < n_steps && stop()) {  // a pending signal: end after this step
      *steps = s + 1;
      break;
    }
  }
  return loss_sum;
}

}  // namespace fastmlp
