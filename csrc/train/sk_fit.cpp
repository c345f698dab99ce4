// scikit-learn's _fit_stochastic epoch loop over train_epoch (see sk_fit.h).
// Every double expression is written in the order the per-epoch Python path
// (python/fastmlp/sklearn/_mlp.py) evaluates it, and this file is compiled
// with -ffp-contract=off, so the losses and the learning rates are its bits.
#include "train/sk_fit.h"
#include "train/thread_chooser.h"
#include <algorithm>
#include <cmath>
#include <vector>

namespace fastmlp {

double numpy_pairwise_sum(const double* a, index_t n) {
  if (n < 8) {
    double res = -0.0;
    for (index_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    index_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  index_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_pairwise_sum(a, n2) + numpy_pairwise_sum(a + n2, n - n2);
}

namespace {

bool is_sgd(const TrainLayer* layers) { return layers[0].weight.opt.kind == OptimizerKind::Sgd; }

// Every weight's L2 term for batches of `batch` rows: c * alpha / batch, as
// the Python path sets its weights group's weight_decay and the binding
// parses it (Sgd keeps a float).
void set_weight_decay(TrainSession& session, int n_layers, const SkFit& f, index_t batch) {
  const double wd = f.c * f.alpha / double(batch);
  for (int l = 0; l < n_layers; ++l) {
    OptimizerSpec& o = session.weight(l).opt;
    o.weight_decay = o.kind == OptimizerKind::Sgd ? double(float(wd)) : wd;
  }
}

// _Fused._set_lr: scikit-learn's lr becomes lr (sgd only). The weights' momentum
// buffers are the session's (transposed: the rescale is elementwise).
void set_lr(TrainSession& session, TrainLayer* layers, int n_layers, SkFit* f, double lr) {
  const double old = f->learning_rate;
  f->learning_rate = lr;
  if (!is_sgd(layers)) return;
  const float slot_lr = float(lr / f->c);
  const float scale = float(old / lr);
  for (int l = 0; l < n_layers; ++l) {
    for (ParamSlot* p : {&session.weight(l), &layers[l].bias}) {
      if (!p->param || !p->update) continue;
      p->opt.lr = slot_lr;
      if (lr != old && p->opt.momentum != 0.0f && p->state[0])
        for (index_t i = 0; i < p->n; ++i) p->state[0][i] *= scale;
    }
  }
}

}  // namespace

SkFitResult sk_fit_epochs(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F,
                          const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                          index_t batch_size, const TrainLoss& loss, SkFit* fit, double* losses,
                          const std::function<bool()>& stop) {
  SkFitResult r;
  const index_t n = fit->n, B = batch_size;
  const index_t n_full = (n / B) * B;
  std::vector<double> sq(size_t(n / B + 1));
  bool interrupted = false;
  const bool sgd = is_sgd(layers);
  // The entry work (workspaces, transposed weights and state) once for every
  // epoch and both batch sizes; written back once at the end (also when a
  // stop ends the loop).
  TrainSession session(layers, n_layers, X, F, B, loss);
  const int nt = get_num_threads();
  ThreadChooser threads(nt, step_choice_key(layers, n_layers, X, B, loss, false, nt));
  threads.set_timed_rows(B);
  // Between the steps of a run: the thread choice, then the caller's stop.
  std::function<bool()> my_stop;
  if (stop || threads.active())
    my_stop = [&] {
      if (!threads.between_steps(B, stop)) return false;
      interrupted = true;
      return true;
    };
  for (index_t e = 0; e < fit->n_epochs; ++e) {
    const std::int64_t* order = perm + e * n;
    double acc = 0.0;
    const index_t starts[2] = {0, n_full}, stops[2] = {n_full, n}, sizes[2] = {B, n - n_full};
    for (int k = 0; k < 2 && !interrupted; ++k) {
      if (stops[k] == starts[k]) continue;
      const index_t bs = sizes[k];
      set_weight_decay(session, n_layers, *fit, bs);
      index_t steps = 0;
      threads.begin(bs);
      const double loss_sum = session.run(y_class, y_value, order + starts[k], stops[k] - starts[k], bs, false,
                                          &steps, sq.data(), my_stop);
      if (!interrupted) threads.end();
      r.steps += steps;
      if (interrupted) break;
      const double mean = loss_sum / double(steps);
      acc += fit->v * mean * double(steps) * double(bs) + 0.5 * fit->alpha * numpy_pairwise_sum(sq.data(), steps);
    }
    if (interrupted) break;  // this epoch is not counted
    const double loss_e = acc / double(n);
    losses[e] = loss_e;
    ++r.epochs;
    fit->t += n;
    // _update_no_improvement_count (no early stopping)
    if (loss_e > fit->best_loss - fit->tol)
      ++fit->no_improvement_count;
    else
      fit->no_improvement_count = 0;
    if (loss_e < fit->best_loss) fit->best_loss = loss_e;
    // iteration_ends
    if (sgd && fit->schedule == SkSchedule::Invscaling)
      set_lr(session, layers, n_layers, fit, fit->learning_rate_init / std::pow(double(fit->t + 1), fit->power_t));
    // trigger_stopping
    if (fit->no_improvement_count > fit->n_iter_no_change) {
      if (!sgd || fit->schedule != SkSchedule::Adaptive || fit->learning_rate <= 1e-6) {
        r.converged = true;
        break;
      }
      set_lr(session, layers, n_layers, fit, fit->learning_rate / 5.0);
      fit->no_improvement_count = 0;
    }
    if (e + 1 < fit->n_epochs && stop && stop()) {  // between epochs: every counted epoch is complete
      r.interrupted = true;
      break;
    }
  }
  if (interrupted) r.interrupted = true;
  session.finish();
  return r;
}

}  // namespace fastmlp
