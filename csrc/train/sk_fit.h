// scikit-learn's stochastic-solver epoch loop (MLPClassifier / MLPRegressor's
// _fit_stochastic, issue 11) over the fused epoch, many epochs in one call.
// The binding (bindings/bindings_sk_fit.cpp, reached through train_epoch's
// sk_fit argument) validates everything before calling in here.
#pragma once
#include <cstdint>
#include <functional>
#include "train/train.h"

namespace fastmlp {

// scikit-learn's learning_rate rules of its SGD optimizer (sgd only).
enum class SkSchedule : int { Constant = 0, Invscaling = 1, Adaptive = 2 };

// The loop's constants and its state, as fastmlp.sklearn's _Fused keeps them
// (see python/fastmlp/sklearn/_mlp.py for the mapping onto the optimizers).
struct SkFit {
  // constants
  index_t n = 0;              // rows per epoch (perm holds n_epochs * n indices)
  index_t n_epochs = 0;       // epochs at most in this call
  double alpha = 0;           // scikit-learn's L2 alpha
  double c = 1, v = 1;        // fused gradient = c * scikit-learn's; fused loss = scikit-learn's / v
  SkSchedule schedule = SkSchedule::Constant;
  double learning_rate_init = 0, power_t = 0.5;
  double tol = 0;
  std::int64_t n_iter_no_change = 10;
  // state, read and updated (scikit-learn's attributes of the same names)
  double learning_rate = 0;   // scikit-learn's current lr (sgd: the slots' lr is float(lr / c))
  double best_loss = 0;       // best_loss_
  std::int64_t no_improvement_count = 0;  // _no_improvement_count
  std::int64_t t = 0;         // t_
};

// What the loop did: epochs run (each complete), the steps run (including those
// of an epoch a stop cut short), whether the stopping rule ended it, whether
// `stop` did.
struct SkFitResult {
  index_t epochs = 0;
  index_t steps = 0;
  bool converged = false;
  bool interrupted = false;
};

// Up to fit.n_epochs epochs of scikit-learn's _fit_stochastic (without early
// stopping, verbose output or the max_iter warning, which the caller adds):
// epoch e visits perm[e*n .. (e+1)*n) in batches of batch_size (the last one
// short), as two runs of one TrainSession (train.h) kept for the whole call (the
// full batches, then the short batch; each run is train_epoch's step loop),
// each with the weights' weight_decay = c * alpha / its batch size (in the
// precision the slot's kind keeps: float for Sgd, double otherwise; biases keep
// theirs). Its loss is scikit-learn's:
//   acc = sum over the calls of v * (loss_sum / steps) * steps * batch
//         + 0.5 * alpha * numpy_sum(weight_sq_sums of the call's steps),
//   losses[e] = acc / n,
// in double and in this order (numpy_sum: numpy's pairwise float64 sum), so
// it is bitwise the per-epoch Python path's loss_. Then, as scikit-learn:
// t += n; the no-improvement count and best_loss from losses[e] and tol; sgd
// with Invscaling: lr = learning_rate_init / (t + 1)^power_t; when the count
// exceeds n_iter_no_change: sgd with Adaptive and lr > 1e-6 divides lr by 5
// and resets the count, otherwise the loop ends (converged). An sgd lr change
// sets every updated slot's lr to float(lr / c) and, when it differs, scales
// every momentum buffer by float(old / new) (so scikit-learn's velocity
// carries over). losses: (n_epochs,), entries [0, epochs) written.
// Each step runs at the caller's thread count or on one thread, whichever its
// measured steps show faster (train/thread_chooser.h): the same bits either way.
// stop (Ctrl-C) is train_epoch's, also called between epochs; when it returns
// true the loop ends: inside an epoch, that epoch's completed steps stay
// applied but the epoch is not counted (as the per-epoch path interrupted
// there).
SkFitResult sk_fit_epochs(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F,
                          const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                          index_t batch_size, const TrainLoss& loss, SkFit* fit, double* losses,
                          const std::function<bool()>& stop);

// numpy's float64 np.sum of a contiguous array (its pairwise summation: blocks of
// at most 128 summed with 8 accumulators, halves split at multiples of 8).
double numpy_pairwise_sum(const double* a, index_t n);

}  // namespace fastmlp
