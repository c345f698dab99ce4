// Fused whole-epoch training of a Linear(+ReLU) stack: declarations.
// The binding (bindings/bindings_train.cpp) validates everything before calling in
// here; train_epoch trusts its inputs.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include "kernels.h"

namespace fastmlp {

// The optimizers the fused epoch runs. Adding one is an enumerator here, its
// hyperparameters in OptimizerSpec, its update kernel in kernels.h, its case
// in apply_update (train_step.cpp) and its name and keys in
// bindings/bindings_train.cpp.
enum class OptimizerKind : int { Sgd = 0, Adam = 1, AdamW = 2, Rmsprop = 3, Adagrad = 4 };

// One parameter's optimizer: the kind and its hyperparameters. lr and
// weight_decay are kept in double: Adam forms its step's scalars from them in
// double (as PyTorch does from Python floats); Sgd casts them to float.
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 0, weight_decay = 0;
  bool maximize = false;
  // Sgd: torch.optim.SGD's options (see sgd_update).
  float momentum = 0, dampening = 0;
  bool nesterov = false;
  // Adam, AdamW: torch.optim.Adam's options (see adam_update).
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool amsgrad = false;
  // Adam only (scikit-learn's MLP Adam, issue 11): the step's eps is
  // eps / (1 - beta2^step)^0.5 (in double), which turns torch's
  // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) into scikit-learn's
  // p -= lr*sqrt(bc2)/bc1 * m / (sqrt(v) + eps). The kernel is adam_update as is.
  bool eps_bias_corrected = false;
  // Rmsprop: torch.optim.RMSprop's options (see rmsprop_update; eps above,
  // momentum in double: torch branches on momentum > 0 as a Python float).
  double alpha = 0.99, rms_momentum = 0;
  bool centered = false;
  // Adagrad: torch.optim.Adagrad's lr_decay (see adagrad_update; eps above).
  double lr_decay = 0;
};

// Per-parameter optimizer state buffers (n,) a kind may use.
constexpr int kMaxState = 3;

// One parameter, its optimizer and its state.
struct ParamSlot {
  float* param = nullptr;  // (n,), updated in place; nullptr: absent (no bias)
  index_t n = 0;
  bool update = true;      // false: not in the optimizer, never changed
  OptimizerSpec opt;
  // state[s]: (n,), laid out like param, or nullptr when unused.
  //   Sgd: state[0] = momentum buffer, set only when momentum != 0.
  //   Adam, AdamW: state[0] = exp_avg, state[1] = exp_avg_sq, state[2] =
  //   max_exp_avg_sq (only when amsgrad); zeros before the first update.
  //   Rmsprop: state[0] = square_avg, state[1] = momentum_buffer (only when
  //   momentum > 0), state[2] = grad_avg (only when centered).
  //   Adagrad: state[0] = sum (initial_accumulator_value before the first update).
  float* state[kMaxState] = {};
  // Updates applied so far. Sgd's state holds nothing while it is 0 and its
  // first update does not read it (the buffer is set to g); Sgd only tells 0
  // (first_step) from > 0. Adam's update number step + 1 enters its bias
  // corrections, Adagrad's its lr decay; Rmsprop only counts.
  std::int64_t step = 0;
};

// param = update(param, grad) by p.opt.kind, then ++p.step; nothing when the
// slot is absent or not updated. grad (n,).
void apply_update(ParamSlot& p, const float* grad);

// Whether p's update is exactly param = fl(param + fl(alpha * grad)), as a
// GEMM epilogue computes C = 1*C + alpha*(A@B) from its accumulator, so it can
// be folded into the GEMM that produces grad (then ++p.step by the caller).
// Sgd: when momentum == 0 and weight_decay == 0 (alpha = maximize ? lr : -lr).
bool update_folds_into_gemm(const ParamSlot& p, float* alpha);

// One Linear layer and its activation (kernels.h):
//   y (B,out) = activation(x (B,in) @ W(out,in)^T + b)
struct TrainLayer {
  index_t in = 0, out = 0;
  ParamSlot weight;  // (out, in) row-major, and so is its state
  ParamSlot bias;    // (out,); bias.param == nullptr: no bias
  ActivationSpec activation;  // Identity by default
  // Dropout after the activation (kernels.h dropout_forward): step s drops
  // with dropout_seeds[s] (n_steps of them); dropout_p == 0: no dropout.
  double dropout_p = 0.0;
  const std::uint64_t* dropout_seeds = nullptr;
};

// The rows the epoch trains on: float32 X (N,F), or uint8 images (N,F) that
// each gathered row converts exactly as fastmlp.data.normalize does, in
// float32 and in this order: x = float(u) / 255, x -= mean (when has_mean),
// x /= std (when has_std). Every operation is a correctly rounded float32
// division or subtraction, so the rows are bitwise normalize()'s, at a
// quarter of the memory traffic of gathering float32 rows.
struct TrainInput {
  const float* f32 = nullptr;        // (N,F), or nullptr when u8 is set
  const std::uint8_t* u8 = nullptr;  // (N,F), or nullptr
  bool has_mean = false, has_std = false;
  float mean = 0.0f, std = 1.0f;
};

// The losses the fused epoch runs, each its kernel of kernels.h on the batch's
// outputs (B, C): class-index targets (y_class) for CrossEntropy and Nll,
// float targets (B, C) (y_value) for the others.
enum class LossKind : int { CrossEntropy = 0, Mse = 1, L1 = 2, Huber = 3, SmoothL1 = 4, BceWithLogits = 5,
                            Nll = 6 };

// Whether `kind` takes class-index targets (y_class) rather than float ones (y_value).
inline bool class_targets(LossKind kind) { return kind == LossKind::CrossEntropy || kind == LossKind::Nll; }

struct TrainLoss {
  LossKind kind = LossKind::CrossEntropy;
  Reduction reduction = Reduction::Mean;  // Mean or Sum (a scalar loss)
  const float* class_weight = nullptr;    // CE, Nll: (C,); BceWithLogits: its weight (n_weight,); or nullptr
  index_t n_weight = 0;                   // BceWithLogits: class_weight's size (1 or C)
  const float* pos_weight = nullptr;      // BceWithLogits: (n_pos_weight,) (1 or C) or nullptr
  index_t n_pos_weight = 0;
  std::int64_t ignore_index = -100;       // CE, Nll
  float label_smoothing = 0.0f;           // CE
  double param = 0.0;                     // Huber: delta; SmoothL1: beta
  // The model's last module is LogSoftmax over the outputs: the loss reads
  // y = log_softmax(a_L) and its gradient goes through log_softmax_backward
  // (the kernels the Python path's F.log_softmax calls).
  bool log_softmax = false;
};

// One epoch of minibatch training, exactly the Python loop
//   for each batch idx = perm[s : s+B]:  forward, loss, backward, optimizer step
// X: the (N, F) rows (see TrainInput); y_class (N,) int64 class indices for cross-entropy
// and NLL (class_targets), or y_value (N, out_last) for the others; perm (n_perm,) indices into [0, N).
// Steps: ceil(n_perm / B) (floor with drop_last); the last one may be short.
// All workspace is allocated once before the first step; the per-step work is
// the kernels of kernels.h and nothing else. Returns the sum over steps of
// the (float32) step losses, accumulated in double; *steps gets the count.
//
// clip_grad_norm >= 0: every step clips as torch.nn.utils.clip_grad_norm_(
// all parameters, clip_grad_norm) (norm_type 2, error_if_nonfinite False)
// between the backward pass and the updates: total = float(combine_norms of
// each gradient's sum_squares, in the order W0, b0, W1, ...), coef =
// min(float(max_norm) / (total + float(1e-6)), 1) in float32 (NaN stays NaN),
// every gradient *= coef. Every parameter must be updated (ParamSlot::update).
// Negative: no clipping.
//
// dist (distributed training, issue 13; nullptr or world == 1: one process):
// perm and batch_size are the GLOBAL order and batch, the same on every rank;
// this rank trains on its slice of every global batch (rank_slice) and, after
// its backward pass, reduces the step's gradients with dist's allreduce
// (GradAllreduce); every rank then applies the same updates. The returned loss
// sum is the global batches' losses.
// weight_sq_sums (n_steps,) or nullptr (issue 11, scikit-learn's L2 loss term):
// entry s = sum over layers l in order of sum_squares(W_l) (kernels.h, over its
// (out,in) layout) with the weights step s's forward pass reads (before its update).
// stop (issue 15, Ctrl-C): when set, called after every step but the last
// (between steps, outside any parallel region); returning true ends the
// epoch there: the weights (back in the caller's layout), the optimizer
// state and *steps are those of the steps completed, as if the epoch had been
// given only their rows.
// Each step runs at the caller's thread count (get_num_threads()) or on one
// thread, whichever its measured steps show faster (train/thread_chooser.h):
// the same bits either way; the caller's OpenMP limit is restored on return.
// At more than one thread a step may run as one parallel region (the team
// step, train_step.cpp: where the overlapped head is not taken), again with
// the same bits.
struct GradAllreduce;
double train_epoch(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F,
                   const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                   index_t n_perm, index_t batch_size, bool drop_last, const TrainLoss& loss,
                   index_t* steps, double clip_grad_norm = -1.0,
                   const GradAllreduce* dist = nullptr,
                   double* weight_sq_sums = nullptr,
                   const std::function<bool()>& stop = {});

// The ThreadChooser memory key (train/thread_chooser.h) of a step loop: its
// layers' sizes, activations, dropout and optimizers, the input's kind, the
// loss, the batch rows, whether distributed, and the thread count. Loops of
// equal keys run steps of equal cost (train_epoch's and sk_fit_epochs' on one
// model: one scikit-learn fit's epochs, whichever path runs them).
std::uint64_t step_choice_key(const TrainLayer* layers, int n_layers, const TrainInput& X, index_t batch_size,
                              const TrainLoss& loss, bool distributed, int threads);

// train_epoch in parts (issue 11: scikit-learn's many epochs in one call, and
// batches of two sizes in each): the constructor does its entry work once
// (the workspaces for batches of at most max_batch rows, each weight and its
// optimizer state transposed to the epoch's layout WT (in,out)), run() is its
// step loop (the same arguments and results as train_epoch, with batch_size
// <= max_batch; weight_sq_sums and stop as there), any number of times, and
// finish() writes every weight, its state and its step count back in the
// caller's layout (once; the destructor does not: a session that threw
// leaves the caller's arrays as they were when it started). Between runs the
// weights live in the session: weight(l) is layer l's slot there (its param
// and state in the (in,out) layout, the options and step count the runs use;
// a change of its options or an elementwise rescale of its state applies to
// the next run). Biases stay in the caller's slots (layers[l].bias) throughout.
// train_epoch(...) == TrainSession(...).run(...) then finish(), bit for bit.
class TrainSession {
 public:
  TrainSession(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F, index_t max_batch,
               const TrainLoss& loss, double clip_grad_norm = -1.0, const GradAllreduce* dist = nullptr);
  ~TrainSession();
  TrainSession(const TrainSession&) = delete;
  TrainSession& operator=(const TrainSession&) = delete;
  double run(const std::int64_t* y_class, const float* y_value, const std::int64_t* perm, index_t n_perm,
             index_t batch_size, bool drop_last, index_t* steps, double* weight_sq_sums = nullptr,
             const std::function<bool()>& stop = {});
  ParamSlot& weight(int l);
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ------------------------------------------ distributed training (issue 13) ----
// MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, comm), called
// through a function pointer and handles the caller resolved at run time from
// the MPI library mpi4py loaded (fastmlp/distributed.py): the extension never
// links libmpi and works without it. MPI's handle types differ by family:
// Open MPI's MPI_Comm/MPI_Datatype/MPI_Op are pointers and MPI_IN_PLACE is
// (void*)1; MPICH's (and its derivatives') are int and MPI_IN_PLACE is
// (void*)-1. int_handles picks the signature the pointer is called with.
struct GradAllreduce {
  void* allreduce = nullptr;  // the library's MPI_Allreduce
  bool int_handles = false;   // MPICH family: int handles; else pointer handles
  std::intptr_t comm = 0, dtype_float = 0, op_sum = 0, in_place = 0;
  int rank = 0, world = 1;
  mutable double seconds = 0.0;  // wall time spent in allreduce, accumulated
  // buf (count,) = the elementwise sum over the ranks of their buf, in place;
  // returns MPI's error code (0: success).
  int sum_in_place(float* buf, int count) const;
};

// This rank's part [*lo, *hi) of a global batch of n rows: ranks take
// n / world rows each, the first n % world ranks one more, in rank order, so
// the ranks' parts are disjoint and their union is [0, n).
void rank_slice(index_t n, int rank, int world, index_t* lo, index_t* hi);

// The normaliser of the loss over rows idx[lo..hi) (class targets
// y_class[idx[i]], or C values per row): what the Mean reduction divides by
// (CE/NLL: the sum, in double and in row order, of the kept targets' class
// weights, or their count, as the kernels form it; the others: the element
// count (rows * C)); 1 for Sum. A rank's gradient of its part's mean loss
// times normaliser(part) / normaliser(global batch) is its share of the
// global batch's gradient.
double loss_normaliser(const TrainLoss& loss, const std::int64_t* y_class, const std::int64_t* idx,
                       index_t lo, index_t hi, index_t C);

}  // namespace fastmlp
