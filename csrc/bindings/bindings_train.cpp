// pybind11 binding of the fused training epoch (train_step.cpp), on plain
// arrays: fastmlp.train builds these from a model, a loss and an optimizer.
// Every argument is checked (and labels range-checked) before any weight is
// written; the epoch runs with the GIL released.
#include <chrono>
#include <functional>
#include <memory>
#include <limits>
#include <type_traits>
#include <string>
#include <vector>
#include "bindings/bindings_train.h"
#include "bindings/bindings_sk_fit.h"  // issue 11
#include "bindings/bindings_util.h"
#include "train/train.h"
#include "train/thread_chooser.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

const char* kTrainDoc = R"doc(One epoch of minibatch training of a stack of Linear(+activation) layers, in place.

train_epoch(weights, biases, activations, X, y, perm, batch_size, drop_last, optimizer, *,
            loss, reduction="mean", class_weight=None, ignore_index=-100,
            label_smoothing=0.0, normalize=None, dropouts=None, delta=1.0, beta=1.0, pos_weight=None,
            log_softmax=False, clip_grad_norm=None, weight_sq_sums=False, comm=None)
  -> (loss_sum, steps), or (loss_sum, steps, sq) with weight_sq_sums=True

weights[l]: (out_l, in_l) float32 C-contiguous writeable, in_0 == X.shape[1],
  in_l == out_{l-1}. biases[l]: (out_l,) like weights, or None.
  activations[l]: None | name | {'name': name, **params}, as sgemm's `activation`, applied after layer l.
X (N, F) float32 (converted when not); or, with normalize=(mean, std) (each
  a number or None), uint8 images (N, F) whose gathered rows are converted
  exactly as fastmlp.data.normalize(rows, mean, std) does; y: (N,) integer class indices for
  loss="cross_entropy" (each in [0, C) or == ignore_index), or (N, C) floats
  for loss="mse"; perm: int64 indices into [0, N), visited in order in
  batches of batch_size (the last one short unless drop_last).
optimizer: {"kind": "sgd" | "adam" | "adamw", "params": [...]}, params one dict per parameter in
  the order W0, b0 (when present), W1, ... For kind "sgd" each dict has keys
  lr (required), momentum, dampening, weight_decay, nesterov, maximize
  (torch.optim.SGD's), momentum_buffer (float32 array of the parameter's
  shape, required when momentum != 0, updated in place), first_step (True:
  the buffer holds nothing yet) and update (False: leave this parameter alone).
  For kinds "adam" and "adamw" (torch.optim.Adam's and AdamW's): lr (required),
  beta1, beta2, eps, weight_decay, amsgrad, maximize, step (the updates so far,
  a whole number), exp_avg, exp_avg_sq and, with amsgrad, max_exp_avg_sq
  (float32 arrays of the parameter's shape, zeros before the first update,
  updated in place), and update.
  For kind "rmsprop" (torch.optim.RMSprop's): lr (required), alpha, eps,
  weight_decay, momentum, centered, maximize, step, square_avg and, with
  momentum > 0, momentum_buffer and, with centered, grad_avg (zeros before the
  first update), and update. For kind "adagrad" (torch.optim.Adagrad's): lr
  (required), lr_decay, weight_decay, eps, maximize, step, sum (the
  initial_accumulator_value before the first update), and update.
clip_grad_norm: None, or max_norm >= 0: every step runs
  torch.nn.utils.clip_grad_norm_(all parameters, max_norm) (norm_type 2,
  error_if_nonfinite=False: a non-finite norm scales by its NaN or 0
  coefficient) between the backward pass and the updates, exactly
  fastmlp.nn.utils.clip_grad_norm_'s arithmetic (kernels.total_norm); every
  parameter must then be updated.
dropouts: None, or one entry per layer: None or {"p": float in [0, 1), "seeds": uint64
  array (steps,)}: dropout (fastmlp.kernels.dropout_forward) after layer l's activation,
  step s with seeds[s]; steps is ceil(len(perm) / batch_size) (floor with drop_last).
loss: "cross_entropy" | "nll" (y class indices; class_weight (C,), ignore_index;
  label_smoothing for cross_entropy) or "mse" | "l1" | "huber" (delta > 0) |
  "smooth_l1" (beta >= 0) | "bce_with_logits" (class_weight: its weight, and
  pos_weight, each None or of shape () or (C,)) (y (N, C) floats), on the last
  layer's output, or on its log_softmax when log_softmax=True (the model ends
  with LogSoftmax over the outputs).
comm: None, or distributed training (issue 13; built by
  fastmlp.distributed.fused_comm): a dict {"allreduce": the address of the
  MPI library's MPI_Allreduce, "int_handles": bool (MPICH family: int
  handles; Open MPI: pointer handles), "comm", "float", "sum", "in_place": the
  handles of the communicator, MPI_FLOAT, MPI_SUM and MPI_IN_PLACE as
  integers, "rank", "world"}. perm and batch_size are then the global ones
  (the same on every rank), each rank trains on its slice of every global
  batch and the gradients are summed over the ranks with one in-place
  allreduce per step; the loss sum is the global batches'. The dict's
  "seconds" is set to the time spent in the allreduce.
Returns the sum of the step losses (float64 of float32 values) and the
number of steps.
Signals: called from the main thread, the epoch runs Python's signal handlers
between steps (about every 50 ms); an exception one raises (KeyboardInterrupt on
Ctrl-C) ends the epoch after the step just completed, with the weights and
optimizer state of the completed steps, and is raised with attributes
fastmlp_steps (steps completed) and fastmlp_loss_sum.
weight_sq_sums=True (scikit-learn's L2 loss term, issue 11): also returns sq, float64
  (steps,): sq[s] = the sum over layers of sum(W_l**2) (kernels.sum_squares of each
  weight, added in layer order) with the weights step s's forward pass reads.
Adam and AdamW params may also have eps_bias_corrected (default False): True
  makes step t's eps eps / (1 - beta2**t) ** 0.5, scikit-learn's Adam.
sk_fit: None, or a dict (issue 11, fastmlp.sklearn's fit): scikit-learn's
  _fit_stochastic epoch loop, many epochs in one call (train/sk_fit.h). perm
  holds one order of sk_fit['n'] rows per epoch (epochs = len(perm) / n);
  batch_size <= n; optimizer 'sgd' or 'adam'; no dropouts, clip_grad_norm, comm,
  weight_sq_sums or drop_last. Keys read: n, alpha, c, v, schedule ('constant' |
  'invscaling' | 'adaptive'), learning_rate_init, learning_rate, power_t, tol,
  n_iter_no_change, best_loss, no_improvement_count, t; written back: epochs,
  converged, interrupted, losses (float64 (epochs,)), learning_rate, best_loss,
  no_improvement_count, t (also when a signal's exception ends the loop; its
  fastmlp_steps counts the steps of every epoch run). Returns (nan, steps).)doc";

std::string at(const char* name, size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

// A parameter array we write into: float32, C-contiguous, writeable, ndim-D.
float* param_array(py::handle h, const std::string& name, int ndim, std::vector<index_t>* shape) {
  if (!py::isinstance<py::array>(h))
    type_error(name + ": expected a numpy.ndarray of float32, got " + type_name(h));
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (a.ndim() != ndim)
    value_error(name + ": expected a " + std::to_string(ndim) + "-D array, got shape " + shape_str(a));
  shape->assign(a.shape(), a.shape() + a.ndim());
  if (ndim == 1) return output_f32(h, name, {(*shape)[0]});
  return output_f32(h, name, {(*shape)[0], (*shape)[1]});
}

template <typename T>
T get_opt(const py::dict& d, const char* key, T dflt, const std::string& name) {
  if (!d.contains(key)) return dflt;
  try {
    return d[key].cast<T>();
  } catch (const py::cast_error&) {
    type_error(name + "['" + key + "']: expected a " + (std::is_same<T, bool>::value ? "bool" : "number"));
  }
}

// optimizer['kind'] -> OptimizerKind; a new kind adds its row.
struct OptimizerName {
  const char* name;
  OptimizerKind kind;
};
constexpr OptimizerName kOptimizerNames[] = {
    {"sgd", OptimizerKind::Sgd}, {"adam", OptimizerKind::Adam}, {"adamw", OptimizerKind::AdamW},
    {"rmsprop", OptimizerKind::Rmsprop}, {"adagrad", OptimizerKind::Adagrad}};

OptimizerKind parse_optimizer_kind(const py::dict& opt) {
  std::string accepted;
  for (const OptimizerName& o : kOptimizerNames) accepted += std::string(accepted.empty() ? "'" : ", '") + o.name + "'";
  if (!opt.contains("kind") || !py::isinstance<py::str>(opt["kind"]))
    type_error("optimizer['kind']: expected a str, one of " + accepted);
  const std::string kind = opt["kind"].cast<std::string>();
  for (const OptimizerName& o : kOptimizerNames)
    if (kind == o.name) return o.kind;
  value_error("optimizer['kind']: expected one of " + accepted + ", got '" + kind + "'");
}

// One parameter's torch.optim.SGD options (keys as sgd_update's arguments),
// rejected exactly where sgd_update rejects them (check_sgd_options).
template <typename StateArray>
void parse_sgd(const py::dict& d, const std::string& name, ParamSlot* p, StateArray&& state_array) {
  if (!d.contains("lr")) value_error(name + ": 'lr' is required");
  const double lr = get_opt<double>(d, "lr", 0.0, name);
  const double momentum = get_opt<double>(d, "momentum", 0.0, name);
  const double dampening = get_opt<double>(d, "dampening", 0.0, name);
  const double weight_decay = get_opt<double>(d, "weight_decay", 0.0, name);
  OptimizerSpec& o = p->opt;
  o.nesterov = get_opt<bool>(d, "nesterov", false, name);
  o.maximize = get_opt<bool>(d, "maximize", false, name);
  p->update = get_opt<bool>(d, "update", true, name);
  p->step = get_opt<bool>(d, "first_step", true, name) ? 0 : 1;
  check_sgd_options(lr, momentum, dampening, weight_decay, o.nesterov, name);
  o.lr = float(lr);
  o.momentum = float(momentum);
  o.dampening = float(dampening);
  o.weight_decay = float(weight_decay);
  if (p->update && o.momentum != 0.0f) state_array(d, "momentum_buffer", 0, "momentum != 0");
}

// d['step']: the updates so far (PyTorch's state["step"]), a whole number >= 0.
std::int64_t parse_update_count(const py::dict& d, const std::string& name) {
  const double step = get_opt<double>(d, "step", 0.0, name);
  if (!(step >= 0.0 && step < 9007199254740992.0 && step == std::floor(step)))
    value_error(name + "['step']: expected the number of updates so far, a whole number >= 0, got " +
                std::string(py::str(py::float_(step))));
  return std::int64_t(step);
}

// One parameter's torch.optim.Adam / AdamW options (keys as adam_update's
// arguments; weight_decay defaults to the kind's default), its update count
// `step` (a whole number >= 0, PyTorch's state["step"]) and its state arrays.
template <typename StateArray>
void parse_adam(const py::dict& d, const std::string& name, ParamSlot* p, StateArray&& state_array) {
  if (!d.contains("lr")) value_error(name + ": 'lr' is required");
  OptimizerSpec& o = p->opt;
  o.lr = get_opt<double>(d, "lr", 0.0, name);
  o.beta1 = get_opt<double>(d, "beta1", 0.9, name);
  o.beta2 = get_opt<double>(d, "beta2", 0.999, name);
  o.eps = get_opt<double>(d, "eps", 1e-8, name);
  o.weight_decay = get_opt<double>(d, "weight_decay", o.kind == OptimizerKind::AdamW ? 1e-2 : 0.0, name);
  o.amsgrad = get_opt<bool>(d, "amsgrad", false, name);
  o.maximize = get_opt<bool>(d, "maximize", false, name);
  o.eps_bias_corrected = get_opt<bool>(d, "eps_bias_corrected", false, name);  // issue 11
  p->update = get_opt<bool>(d, "update", true, name);
  check_adam_hyper(name, o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
  p->step = parse_update_count(d, name);
  if (!p->update) return;
  state_array(d, "exp_avg", 0, "updating");
  state_array(d, "exp_avg_sq", 1, "updating");
  if (o.amsgrad) state_array(d, "max_exp_avg_sq", 2, "amsgrad");
}

// ---- losses (issue 10) ----

// loss names as train_epoch takes them; a new LossKind adds its row.
struct LossName {
  const char* name;
  LossKind kind;
};
constexpr LossName kLossNames[] = {
    {"cross_entropy", LossKind::CrossEntropy}, {"mse", LossKind::Mse}, {"l1", LossKind::L1},
    {"huber", LossKind::Huber}, {"smooth_l1", LossKind::SmoothL1}, {"bce_with_logits", LossKind::BceWithLogits},
    {"nll", LossKind::Nll}};

// bce_with_logits' weight / pos_weight in the fused epoch: None, or shape () or
// (C,) (the trailing parts of every batch's (B, C) that do not depend on B).
py::array_t<float> bce_weight(py::handle h, const char* name, index_t C) {
  py::array_t<float> a = input_f32(h, name, -1);
  if (!(a.ndim() == 0 || (a.ndim() == 1 && a.shape(0) == C)))
    value_error(std::string(name) + ": expected shape () or (" + std::to_string(C) +
                ",) (one per output) for loss='bce_with_logits', got " + shape_str(a));
  return a;
}

}  // namespace

// The loss arguments of train_epoch, every one checked as its kernel's binding
// checks it; the weight arrays are kept alive in *class_weight / *pos_weight.
TrainLoss parse_loss(const std::string& name, const std::string& reduction, py::handle class_weight_obj,
                     long long ignore_index, double label_smoothing, double delta, double beta,
                     py::handle pos_weight_obj, bool log_softmax, index_t C, py::array_t<float>* class_weight,
                     py::array_t<float>* pos_weight) {
  TrainLoss loss;
  bool known = false;
  std::string accepted;
  for (const LossName& l : kLossNames) {
    accepted += std::string(accepted.empty() ? "'" : ", '") + l.name + "'";
    if (name == l.name) {
      loss.kind = l.kind;
      known = true;
    }
  }
  if (!known) value_error("loss: expected one of " + accepted + ", got '" + name + "'");
  loss.reduction = parse_reduction(reduction);
  if (loss.reduction == Reduction::None)
    value_error("reduction: training needs a scalar loss ('mean' or 'sum'), got 'none'");
  if (!class_weight_obj.is_none()) {
    if (class_targets(loss.kind)) {
      *class_weight = input_f32_len(class_weight_obj, "class_weight", C, "one per class");
    } else if (loss.kind == LossKind::BceWithLogits) {
      *class_weight = bce_weight(class_weight_obj, "class_weight", C);
      loss.n_weight = class_weight->size();
    } else {
      value_error("class_weight: only for loss='cross_entropy', 'nll' or 'bce_with_logits' (its weight)");
    }
    loss.class_weight = class_weight->data();
  }
  if (!pos_weight_obj.is_none()) {
    if (loss.kind != LossKind::BceWithLogits) value_error("pos_weight: only for loss='bce_with_logits'");
    *pos_weight = bce_weight(pos_weight_obj, "pos_weight", C);
    loss.pos_weight = pos_weight->data();
    loss.n_pos_weight = pos_weight->size();
  }
  check_label_smoothing(label_smoothing, "label_smoothing");
  if (label_smoothing != 0.0 && loss.kind != LossKind::CrossEntropy)
    value_error("label_smoothing: only for loss='cross_entropy'");
  loss.label_smoothing = float(label_smoothing);
  loss.ignore_index = ignore_index;
  if (loss.kind == LossKind::Huber) {
    if (!(delta > 0.0)) value_error("delta: huber_loss needs delta > 0, got " + num_str(delta));
    loss.param = delta;
  }
  if (loss.kind == LossKind::SmoothL1) {
    if (!(beta >= 0.0)) value_error("beta: smooth_l1_loss needs beta >= 0, got " + num_str(beta));
    loss.param = beta;
  }
  loss.log_softmax = log_softmax;
  return loss;
}

namespace {  // (parse_loss is shared with bindings_loss_grad.cpp: bindings_train.h)

// One parameter's torch.optim.RMSprop options (keys as rmsprop_update's
// arguments), its update count `step` and its state arrays.
template <typename StateArray>
void parse_rmsprop(const py::dict& d, const std::string& name, ParamSlot* p, StateArray&& state_array) {
  if (!d.contains("lr")) value_error(name + ": 'lr' is required");
  OptimizerSpec& o = p->opt;
  o.lr = get_opt<double>(d, "lr", 0.0, name);
  o.alpha = get_opt<double>(d, "alpha", 0.99, name);
  o.eps = get_opt<double>(d, "eps", 1e-8, name);
  o.weight_decay = get_opt<double>(d, "weight_decay", 0.0, name);
  o.rms_momentum = get_opt<double>(d, "momentum", 0.0, name);
  o.centered = get_opt<bool>(d, "centered", false, name);
  o.maximize = get_opt<bool>(d, "maximize", false, name);
  p->update = get_opt<bool>(d, "update", true, name);
  check_rmsprop_hyper(name, o.lr, o.alpha, o.eps, o.weight_decay, o.rms_momentum);
  p->step = parse_update_count(d, name);
  if (!p->update) return;
  state_array(d, "square_avg", 0, "updating");
  if (o.rms_momentum > 0.0) state_array(d, "momentum_buffer", 1, "momentum > 0");
  if (o.centered) state_array(d, "grad_avg", 2, "centered");
}

// One parameter's torch.optim.Adagrad options (keys as adagrad_update's
// arguments), its update count `step` and its state array `sum`.
template <typename StateArray>
void parse_adagrad(const py::dict& d, const std::string& name, ParamSlot* p, StateArray&& state_array) {
  if (!d.contains("lr")) value_error(name + ": 'lr' is required");
  OptimizerSpec& o = p->opt;
  o.lr = get_opt<double>(d, "lr", 0.0, name);
  o.lr_decay = get_opt<double>(d, "lr_decay", 0.0, name);
  o.weight_decay = get_opt<double>(d, "weight_decay", 0.0, name);
  o.eps = get_opt<double>(d, "eps", 1e-10, name);
  o.maximize = get_opt<bool>(d, "maximize", false, name);
  p->update = get_opt<bool>(d, "update", true, name);
  check_adagrad_hyper(name, o.lr, o.lr_decay, o.weight_decay, o.eps);
  p->step = parse_update_count(d, name);
  if (!p->update) return;
  state_array(d, "sum", 0, "updating");
}

struct Region {
  const void* p;
  size_t bytes;
  std::string name;
};

// ------------------------------------------ distributed training (issue 13) ----
// comm's integer entry `key` (a handle or an address), range-checked.
long long comm_int(const py::dict& d, const char* key, long long lo, long long hi) {
  const std::string name = std::string("comm['") + key + "']";
  if (!d.contains(key)) value_error(name + ": required");
  py::handle h = d[key];
  if (py::isinstance<py::bool_>(h) || !py::isinstance<py::int_>(h))
    type_error(name + ": expected an int, got " + type_name(h));
  long long v;
  try {
    v = h.cast<long long>();
  } catch (const py::cast_error&) {
    value_error(name + ": out of range");
  }
  if (v < lo || v > hi) value_error(name + ": expected a value in [" + std::to_string(lo) + ", " +
                                    std::to_string(hi) + "], got " + std::to_string(v));
  return v;
}

void parse_comm(py::handle h, const std::vector<TrainLayer>& layers, GradAllreduce* out) {
  if (!py::isinstance<py::dict>(h))
    type_error("comm: expected None or a dict (fastmlp.distributed.fused_comm), got " + type_name(h));
  const py::dict d = h.cast<py::dict>();
  constexpr long long kMin = std::numeric_limits<long long>::min(), kMax = std::numeric_limits<long long>::max();
  const long long fn = comm_int(d, "allreduce", kMin, kMax);
  if (fn == 0) value_error("comm['allreduce']: expected the address of MPI_Allreduce, got 0");
  if (!d.contains("int_handles") || !py::isinstance<py::bool_>(d["int_handles"]))
    type_error("comm['int_handles']: expected a bool");
  out->allreduce = reinterpret_cast<void*>(std::intptr_t(fn));
  out->int_handles = d["int_handles"].cast<bool>();
  const long long hlo = out->int_handles ? std::numeric_limits<int>::min() : kMin;
  const long long hhi = out->int_handles ? std::numeric_limits<int>::max() : kMax;
  out->comm = std::intptr_t(comm_int(d, "comm", hlo, hhi));
  out->dtype_float = std::intptr_t(comm_int(d, "float", hlo, hhi));
  out->op_sum = std::intptr_t(comm_int(d, "sum", hlo, hhi));
  out->in_place = std::intptr_t(comm_int(d, "in_place", kMin, kMax));
  out->world = int(comm_int(d, "world", 1, std::numeric_limits<int>::max()));
  out->rank = int(comm_int(d, "rank", 0, out->world - 1));
  // One allreduce of every gradient and the step's loss: an MPI int count.
  long long count = 1;
  for (const TrainLayer& T : layers) count += (long long)T.out * T.in + (T.bias.param ? T.out : 0);
  if (count > std::numeric_limits<int>::max())
    value_error("comm: " + std::to_string(count) + " gradient floats exceed one MPI_Allreduce's int count");
}

py::tuple train_epoch_binding(py::list weights, py::list biases, py::list activations, py::handle X_obj,
                              py::handle y_obj, py::handle perm_obj, long long batch_size,
                              bool drop_last, py::handle optimizer, const std::string& loss_name,
                              const std::string& reduction, py::handle class_weight_obj,
                              long long ignore_index, double label_smoothing,
                              py::handle normalize, py::handle dropouts, double delta, double beta, py::handle pos_weight_obj,
                              bool log_softmax, py::handle clip_obj, bool want_sq, py::handle comm_obj,
                              py::handle sk_obj) {
  const size_t L = layer_count(weights, biases, activations);
  if (batch_size < 1) value_error("batch_size: expected an int >= 1, got " + std::to_string(batch_size));

  std::vector<TrainLayer> layers(L);
  std::vector<Region> writable;
  std::vector<index_t> shape;
  for (size_t l = 0; l < L; ++l) {
    TrainLayer& T = layers[l];
    T.weight.param = param_array(weights[l], at("weights", l), 2, &shape);
    T.out = shape[0];
    T.in = shape[1];
    if (T.out < 1 || T.in < 1) value_error(at("weights", l) + ": empty, shape " + shape_str(weights[l]));
    check_size(T.out, T.in, at("weights", l).c_str());
    T.weight.n = T.out * T.in;
    if (l && T.in != layers[l - 1].out)
      value_error(at("weights", l) + ": expected " + std::to_string(layers[l - 1].out) +
                  " input features (the previous layer's outputs), got shape " + shape_str(weights[l]));
    writable.push_back({T.weight.param, size_t(T.weight.n) * 4, at("weights", l)});
    if (!biases[l].is_none()) {
      T.bias.param = param_array(biases[l], at("biases", l), 1, &shape);
      if (shape[0] != T.out)
        value_error(at("biases", l) + ": expected shape (" + std::to_string(T.out) + ",), got " +
                    shape_str(biases[l]));
      T.bias.n = T.out;
      writable.push_back({T.bias.param, size_t(T.bias.n) * 4, at("biases", l)});
    }
    T.activation = parse_activation(activations[l], at("activations", l));
  }
  const index_t F = layers[0].in, C = layers[L - 1].out;

  // X: float32 rows, or uint8 images normalized per gathered row
  TrainInput input;
  py::array X;
  if (normalize.is_none()) {
    py::array_t<float> Xf = input_f32(X_obj, "X", 2);
    input.f32 = Xf.data();
    X = Xf;
  } else {
    if (!py::isinstance<py::tuple>(normalize) || py::len(normalize) != 2)
      type_error("normalize: expected None or a (mean, std) tuple (each a number or None)");
    py::tuple ms = normalize.cast<py::tuple>();
    auto number = [&](py::handle h, const char* what) {
      try {
        return h.cast<double>();
      } catch (const py::cast_error&) {
        type_error(std::string("normalize: ") + what + " must be a number or None");
      }
    };
    if (!ms[0].is_none()) {
      input.has_mean = true;
      input.mean = float(number(ms[0], "mean"));
      if (!std::isfinite(input.mean))
        value_error("normalize: mean must be finite in float32, got " + num_str(number(ms[0], "mean")));
    }
    if (!ms[1].is_none()) {
      input.has_std = true;
      const double sd = number(ms[1], "std");
      // the batches are divided by float(std): 0, subnormal (flushed to zero) or inf in
      // float32 would make them inf or 0
      if (!(float(sd) >= std::numeric_limits<float>::min() && float(sd) <= std::numeric_limits<float>::max()))
        value_error("normalize: std must be > 0, got " + num_str(sd) +
                    (sd > 0 ? " (0, subnormal or inf in float32: it must be a normal float32)" : ""));
      input.std = float(sd);
    }
    py::array a = py::array::ensure(X_obj);
    if (!a || a.dtype().kind() != 'u' || a.itemsize() != 1)
      type_error("X: with normalize, expected uint8 images, got " +
                 (a ? "dtype " + std::string(py::str(a.dtype())) : std::string("a non-array")));
    if (a.ndim() != 2) value_error("X: expected a 2-D array, got shape " + shape_str(a));
    auto Xu = c_array<std::uint8_t>(a, "X");
    input.u8 = Xu.data();
    X = Xu;
  }
  const index_t N = X.shape(0);
  if (X.shape(1) != F)
    value_error("X: the first Linear layer takes " + std::to_string(F) + " features, X has " +
                std::to_string(X.shape(1)) + " (shape " + shape_str(X) + ")");

  // loss
  py::array_t<float> class_weight, pos_weight;
  const TrainLoss loss = parse_loss(loss_name, reduction, class_weight_obj, ignore_index, label_smoothing,
                                    delta, beta, pos_weight_obj, log_softmax, C, &class_weight, &pos_weight);

  // y (every label checked now, before any weight changes)
  py::array y_keep;
  const std::int64_t* y_class = nullptr;
  const float* y_value = nullptr;
  if (class_targets(loss.kind)) {
    py::array_t<std::int64_t> yi =
        class_labels_i64(y_obj, N, C, ignore_index, "y", "label", "one label per row of X");
    y_class = yi.data();
    y_keep = yi;
  } else {
    py::array_t<float> y = input_f32(y_obj, "y", -1);
    if (y.ndim() != 2 || y.shape(0) != N || y.shape(1) != C)
      value_error("y: expected " + loss_name + " targets of shape (" + std::to_string(N) + ", " + std::to_string(C) +
                  ") (the model's output shape), got " + shape_str(y));
    y_value = y.data();
    y_keep = y;
  }

  // perm
  py::array perm_any = py::array::ensure(perm_obj);
  if (!perm_any || (perm_any.dtype().kind() != 'i' && perm_any.dtype().kind() != 'u'))
    type_error("perm: expected an integer index array");
  if (perm_any.ndim() != 1) value_error("perm: expected a 1-D index array, got shape " + shape_str(perm_any));
  auto perm = c_array<std::int64_t>(perm_any, "perm");
  const index_t n_perm = perm.shape(0);
  for (index_t i = 0; i < n_perm; ++i)
    if (perm.data()[i] < 0 || perm.data()[i] >= N)
      value_error("perm: index " + std::to_string(perm.data()[i]) + " at position " + std::to_string(i) +
                  " is out of range [0, " + std::to_string(N) + ")");

  // dropouts: per layer None or {'p': ..., 'seeds': uint64 (n_steps,)}
  std::vector<py::array_t<std::uint64_t>> seed_keep;
  if (!dropouts.is_none()) {
    if (!py::isinstance<py::list>(dropouts) || py::len(dropouts) != L)
      value_error("dropouts: expected None or a list of " + std::to_string(L) + " entries (one per weight)");
    const index_t n_steps = drop_last ? n_perm / batch_size : (n_perm + batch_size - 1) / batch_size;
    const py::list dl = dropouts.cast<py::list>();
    for (size_t l = 0; l < L; ++l) {
      if (dl[l].is_none()) continue;
      const std::string name = at("dropouts", l);
      if (!py::isinstance<py::dict>(dl[l]) || !dl[l].contains("p") || !dl[l].contains("seeds"))
        type_error(name + ": expected None or a dict {'p': float, 'seeds': uint64 array}");
      const py::dict d = dl[l].cast<py::dict>();
      layers[l].dropout_p = dropout_probability(d["p"], name + "['p']");
      py::array sa = py::array::ensure(d["seeds"]);
      if (!sa || sa.dtype().kind() != 'u' || sa.itemsize() != 8)
        type_error(name + "['seeds']: expected a uint64 array");
      if (sa.ndim() != 1 || sa.shape(0) != n_steps)
        value_error(name + "['seeds']: expected shape (" + std::to_string(n_steps) + ",) (one per step), got " +
                    shape_str(sa));
      seed_keep.push_back(c_array<std::uint64_t>(sa, name + "['seeds']"));
      layers[l].dropout_seeds = seed_keep.back().data();
    }
  }

  // optimizer: {'kind': ..., 'params': [one dict per parameter]}
  std::vector<ParamSlot*> order;
  std::vector<const TrainLayer*> owner;
  for (auto& T : layers) {
    order.push_back(&T.weight);
    owner.push_back(&T);
    if (T.bias.param) {
      order.push_back(&T.bias);
      owner.push_back(&T);
    }
  }
  if (!py::isinstance<py::dict>(optimizer))
    type_error("optimizer: expected a dict {'kind': 'sgd', 'params': [...]}");
  const py::dict opt = optimizer.cast<py::dict>();
  const OptimizerKind kind = parse_optimizer_kind(opt);
  if (!opt.contains("params") || !py::isinstance<py::list>(opt["params"]))
    type_error("optimizer['params']: expected a list of dicts, one per parameter");
  const py::list params = opt["params"].cast<py::list>();
  if (py::len(params) != order.size())
    value_error("optimizer['params']: expected " + std::to_string(order.size()) +
                " dicts (W0, b0, W1, ... without absent biases), got " + std::to_string(py::len(params)));
  for (size_t k = 0; k < order.size(); ++k) {
    const std::string name = at("optimizer['params']", k);
    if (!py::isinstance<py::dict>(params[k])) type_error(name + ": expected a dict of optimizer options");
    ParamSlot& p = *order[k];
    const TrainLayer& T = *owner[k];
    const bool is_weight = order[k] == &T.weight;
    // state[s] (the parameter's shape, updated in place) from key `key` of d.
    auto state_array = [&](const py::dict& d, const char* key, int s, const char* when) {
      py::object buf = d.contains(key) ? py::object(d[key]) : py::none();
      const std::string bname = name + "['" + key + "']";
      if (buf.is_none()) value_error(bname + ": required when " + when);
      p.state[s] = is_weight ? output_f32(buf, bname.c_str(), {T.out, T.in})
                             : output_f32(buf, bname.c_str(), {T.out});
      writable.push_back({p.state[s], size_t(p.n) * 4, bname});
    };
    p.opt.kind = kind;
    switch (kind) {
      case OptimizerKind::Sgd: parse_sgd(params[k].cast<py::dict>(), name, &p, state_array); break;
      case OptimizerKind::Adam:
      case OptimizerKind::AdamW: parse_adam(params[k].cast<py::dict>(), name, &p, state_array); break;
      case OptimizerKind::Rmsprop: parse_rmsprop(params[k].cast<py::dict>(), name, &p, state_array); break;
      case OptimizerKind::Adagrad: parse_adagrad(params[k].cast<py::dict>(), name, &p, state_array); break;
    }
  }

  // clip_grad_norm: None, or max_norm >= 0 (clip_grad_norm_ of every parameter, each updated)
  double clip = -1.0;
  if (!clip_obj.is_none()) {
    if (py::isinstance<py::bool_>(clip_obj) || py::isinstance<py::str>(clip_obj))
      type_error("clip_grad_norm: expected None or a float max_norm, got " + type_name(clip_obj));
    try {
      clip = clip_obj.cast<double>();
    } catch (const py::cast_error&) {
      type_error("clip_grad_norm: expected None or a float max_norm, got " + type_name(clip_obj));
    }
    if (!(clip >= 0.0)) value_error("clip_grad_norm: expected max_norm >= 0, got " + num_str(clip));
    for (size_t k = 0; k < order.size(); ++k)
      if (!order[k]->update)
        value_error("clip_grad_norm: every parameter must be updated, but optimizer['params'][" +
                    std::to_string(k) + "] has update=False (the Python loop's gradients of "
                    "parameters outside the optimizer accumulate across steps)");
  }

  // sk_fit (issue 11): scikit-learn's epoch loop (bindings_sk_fit.cpp)
  const bool sk = !sk_obj.is_none();
  SkFit sk_fit;
  if (sk) {
    if (!dropouts.is_none() || !clip_obj.is_none() || !comm_obj.is_none() || want_sq || drop_last)
      value_error("sk_fit: not with dropouts, clip_grad_norm, comm, weight_sq_sums or drop_last");
    sk_fit = parse_sk_fit(sk_obj, n_perm, batch_size, kind);
  }

  // Nothing we write may share memory with anything else we read or write.
  for (size_t i = 0; i < writable.size(); ++i) {
    for (size_t j = i + 1; j < writable.size(); ++j)
      if (overlaps(writable[i].p, writable[i].bytes, writable[j].p, writable[j].bytes))
        value_error(writable[i].name + ": shares memory with " + writable[j].name);
    if (overlaps(writable[i].p, writable[i].bytes, X.data(), size_t(X.nbytes())))
      value_error(writable[i].name + ": shares memory with X");
    if (overlaps(writable[i].p, writable[i].bytes, y_keep.data(), size_t(y_keep.nbytes())))
      value_error(writable[i].name + ": shares memory with y");
    if (class_weight && overlaps(writable[i].p, writable[i].bytes, class_weight.data(), size_t(class_weight.nbytes())))
      value_error(writable[i].name + ": shares memory with class_weight");
    if (pos_weight && overlaps(writable[i].p, writable[i].bytes, pos_weight.data(), size_t(pos_weight.nbytes())))
      value_error(writable[i].name + ": shares memory with pos_weight");
  }

  // Workspaces are (B, width) rows: B = min(batch_size, n_perm + 1) keeps the
  // step count (ceil or floor of n_perm / batch_size) and every batch, and no
  // workspace is larger than the epoch's rows. Their total size is checked for
  // overflow here; one that cannot be allocated is a MemoryError naming
  // batch_size, raised before any weight changes (they are allocated first).
  const index_t B = index_t(std::min<long long>(batch_size, (long long)n_perm + 1));
  index_t row_floats = 2 * F + 2;  // two gather buffers, labels
  for (const TrainLayer& T : layers) row_floats += 6 * T.out;  // outputs, saved inputs, d and d'

  row_floats += 2 * C;  // y values, log_softmax
  if (B > (index_t(1) << 60) / row_floats / index_t(sizeof(float)))
    memory_error("batch_size: a batch of " + std::to_string(B) + " rows of " + std::to_string(F) +
                 " features needs workspaces beyond any memory (" + std::to_string(row_floats) +
                 " floats a row)");
  // comm: None, or the distributed allreduce (see kTrainDoc)
  GradAllreduce dist;
  const bool distributed = !comm_obj.is_none();
  if (distributed) parse_comm(comm_obj, layers, &dist);

  index_t steps = 0;
  double loss_sum = 0.0;
  bool no_memory = false;
  // Ctrl-C (issue 15): between steps, at most every kSignalCheck of wall
  // time, the main thread takes the GIL back briefly and runs Python's signal
  // handlers; an exception from one (KeyboardInterrupt) ends the epoch after
  // the step that just finished and is raised with the completed steps in
  // `fastmlp_steps` and their loss sum in `fastmlp_loss_sum`.
  std::unique_ptr<py::error_already_set> pending;
  std::function<bool()> stop;
  const bool main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>() ==
                           PyThread_get_thread_ident();
  constexpr auto kSignalCheck = std::chrono::milliseconds(50);
  auto last_check = std::chrono::steady_clock::now();
  // Not in distributed training: a rank that stopped alone would leave the
  // others waiting in the step's allreduce; there signals act at the epoch's end.
  if (main_thread && !distributed)
    stop = [&] {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_check < kSignalCheck) return false;
      last_check = now;
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() == 0) return false;
      pending.reset(new py::error_already_set());
      return true;
    };
  // weight_sq_sums (issue 11): one entry per step, allocated here.
  const index_t n_sq = !want_sq ? 0 : drop_last ? n_perm / B : (n_perm + B - 1) / B;
  py::array_t<double> sq(want_sq ? n_sq : 0);
  py::array_t<double> sk_losses(sk ? sk_fit.n_epochs : 0);
  SkFitResult sk_result;
  {
    py::gil_scoped_release nogil;
    try {
      if (sk) {  // issue 11
        sk_result = sk_fit_epochs(layers.data(), int(L), input, F, y_class, y_value, perm.data(), B, loss,
                                  &sk_fit, sk_losses.mutable_data(), stop);
        steps = sk_result.steps;
        loss_sum = std::numeric_limits<double>::quiet_NaN();
      } else
      loss_sum = train_epoch(layers.data(), int(L), input, F, y_class, y_value, perm.data(), n_perm, B,
                             drop_last, loss, &steps, clip, distributed ? &dist : nullptr,
                             want_sq ? sq.mutable_data() : nullptr, stop);
    } catch (const std::bad_alloc&) {
      no_memory = true;
    }
  }
  if (no_memory)
    memory_error("batch_size: cannot allocate the workspaces of a batch of " +
                 std::to_string(std::min<index_t>(B, std::max<index_t>(n_perm, 1))) + " rows (" +
                 std::to_string(size_t(B) * size_t(row_floats) * sizeof(float)) + " bytes or so)");
  if (distributed) comm_obj.cast<py::dict>()["seconds"] = dist.seconds;
  if (sk) store_sk_fit(sk_obj, sk_fit, sk_result, sk_losses);
  if (pending) {
    if (PyObject_SetAttrString(pending->value().ptr(), "fastmlp_steps", py::int_(steps).ptr()) != 0 ||
        PyObject_SetAttrString(pending->value().ptr(), "fastmlp_loss_sum", py::float_(loss_sum).ptr()) != 0)
      PyErr_Clear();  // an exception type without a __dict__: raised as it is
    throw *pending;
  }
  if (want_sq) return py::make_tuple(loss_sum, steps, sq);
  return py::make_tuple(loss_sum, steps);
}

}  // namespace

void bind_train(py::module_& m) {
  // ---- step thread choice: benchmark/test hooks (train/thread_chooser.h) ----
  m.def("_step_threads", [](int mode, py::handle team_obj) {
          if (mode < 0 || mode > 2) throw py::value_error("mode: expected 0 (choose), 1 (caller's count) or 2 (one thread)");
          const int team = py::isinstance<py::bool_>(team_obj) ? int(team_obj.cast<bool>())
                                                               : int(int_in_range(team_obj, "team", 0, 2));
          step_threads_mode().store(mode);
          ThreadChoiceMemory::forget_all();
          team_step_mode().store(team);
        }, py::arg("mode"), py::arg("team") = true,
        "Force the training steps' and infer_forward's thread choice (0: measured, 1: the caller's "
        "count, 2: one thread), forgetting every remembered choice; team: False/0 never the one-region "
        "team step (benchmarks), True/1 where it pays, 2 wherever it applies (tests).");
  m.def("_step_thread_stats", [] {
          const StepThreadStats s = last_step_thread_stats().load();
          py::dict d;
          d["threads"] = s.threads;
          d["sec_per_row"] = py::make_tuple(s.avg[0], s.avg[1]);
          d["min_sec_per_row"] = py::make_tuple(s.min[0], s.min[1]);
          d["timed_steps"] = py::make_tuple(s.timed[0], s.timed[1]);
          d["team_steps"] = team_step_count().load();
          return d;
        }, "The last step loop's chooser: per option (caller's count, one thread) its estimate of seconds per row (the mean of its last timed steps) and the loop's timed steps and fastest step; team_steps: steps run as one parallel region since import.");
  m.def("_thread_choice_simulate", [](py::handle times_obj) {
          // tests: ThreadChoiceState's rules on synthetic times, every step a full batch
          py::array_t<double, py::array::c_style | py::array::forcecast> times =
              py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(times_obj);
          if (!times || times.ndim() != 2 || times.shape(1) != 2)
            throw py::value_error("times: expected a (n_steps, 2) array of seconds per row (caller's count, one thread)");
          const index_t n = times.shape(0);
          const double* t = times.data();
          for (index_t i = 0; i < 2 * n; ++i)
            if (!(t[i] > 0.0) || !std::isfinite(t[i])) throw py::value_error("times: expected finite values > 0");
          py::array_t<std::int8_t> ran(n);
          std::int8_t* out = ran.mutable_data();
          {
            py::gil_scoped_release nogil;
            ThreadChoiceState st;
            for (index_t i = 0; i < n; ++i) {
              out[i] = std::int8_t(st.cur);
              st.step_done(t[2 * i + st.cur], true);
            }
          }
          return ran;
        }, py::arg("times"),
        "Tests: the option (0: the caller's count, 1: one thread) each step runs on when step i would take "
        "times[i, option] seconds per row (train/thread_chooser.h's rules, no clock).");
  m.def("_thread_choice_memory_size", [] { return thread_choice_memory().size(); },
        "Tests: how many step loops' thread choices the calling thread remembers (train/thread_chooser.h).");
  m.def("train_epoch", &train_epoch_binding, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("X"), py::arg("y"), py::arg("perm"), py::arg("batch_size"), py::arg("drop_last"),
        py::arg("optimizer"), py::kw_only(), py::arg("loss"), py::arg("reduction") = "mean",
        py::arg("class_weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("normalize") = py::none(),
        py::arg("dropouts") = py::none(),
        // losses (issue 10)
        py::arg("delta") = 1.0, py::arg("beta") = 1.0, py::arg("pos_weight") = py::none(),
        py::arg("log_softmax") = false, py::arg("clip_grad_norm") = py::none(),
        py::arg("weight_sq_sums") = false, py::arg("comm") = py::none(),
        py::arg("sk_fit") = py::none(), kTrainDoc);
}
