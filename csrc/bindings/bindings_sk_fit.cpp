// train_epoch's sk_fit argument (issue 11): scikit-learn's epoch loop over
// the fused epoch (train/sk_fit.h), parsed and checked before any weight is
// written; the results go back into the same dict.
#include "bindings/bindings_sk_fit.h"
#include <cmath>
#include <limits>
#include <string>
#include "bindings/bindings_util.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

std::string key_name(const char* key) { return std::string("sk_fit['") + key + "']"; }

double real_key(const py::dict& d, const char* key, double lo, bool allow_inf = false) {
  const std::string name = key_name(key);
  if (!d.contains(key)) value_error(name + ": required");
  py::handle h = d[key];
  if (py::isinstance<py::bool_>(h) || py::isinstance<py::str>(h))
    type_error(name + ": expected a number, got " + type_name(h));
  double v;
  try {
    v = h.cast<double>();
  } catch (const py::cast_error&) {
    type_error(name + ": expected a number, got " + type_name(h));
  }
  if (std::isnan(v) || (!allow_inf && std::isinf(v)) || v < lo)
    value_error(name + ": expected a " + (allow_inf ? "" : "finite ") + "number >= " + num_str(lo) + ", got " +
                num_str(v));
  return v;
}

long long int_key(const py::dict& d, const char* key, long long lo) {
  if (!d.contains(key)) value_error(key_name(key) + ": required");
  return int_in_range(d[key], key_name(key), lo, std::numeric_limits<long long>::max() / 4);
}

}  // namespace

SkFit parse_sk_fit(py::handle obj, index_t n_perm, long long batch_size, OptimizerKind kind) {
  if (!py::isinstance<py::dict>(obj)) type_error("sk_fit: expected None or a dict, got " + type_name(obj));
  const py::dict d = obj.cast<py::dict>();
  if (kind != OptimizerKind::Sgd && kind != OptimizerKind::Adam)
    value_error("sk_fit: scikit-learn's loop runs optimizer kind 'sgd' or 'adam' only");
  SkFit f;
  f.n = index_t(int_key(d, "n", 1));
  if (n_perm % f.n != 0)
    value_error("sk_fit['n']: perm's length " + std::to_string(n_perm) + " is not a multiple of n = " +
                std::to_string(f.n) + " (one order of n rows per epoch)");
  f.n_epochs = n_perm / f.n;
  if (batch_size > f.n)
    value_error("batch_size: with sk_fit expected at most sk_fit['n'] = " + std::to_string(f.n) + ", got " +
                std::to_string(batch_size) + " (scikit-learn clips it to the rows)");
  f.alpha = real_key(d, "alpha", 0.0);
  f.c = real_key(d, "c", 0.0);
  f.v = real_key(d, "v", 0.0);
  if (!(f.c > 0.0)) value_error("sk_fit['c']: expected a number > 0, got " + num_str(f.c));
  if (!d.contains("schedule") || !py::isinstance<py::str>(d["schedule"]))
    type_error("sk_fit['schedule']: expected 'constant', 'invscaling' or 'adaptive'");
  const std::string s = d["schedule"].cast<std::string>();
  if (s == "constant") f.schedule = SkSchedule::Constant;
  else if (s == "invscaling") f.schedule = SkSchedule::Invscaling;
  else if (s == "adaptive") f.schedule = SkSchedule::Adaptive;
  else value_error("sk_fit['schedule']: expected 'constant', 'invscaling' or 'adaptive', got '" + s + "'");
  f.learning_rate_init = real_key(d, "learning_rate_init", 0.0);
  f.learning_rate = real_key(d, "learning_rate", 0.0);
  f.power_t = real_key(d, "power_t", -std::numeric_limits<double>::infinity());
  f.tol = real_key(d, "tol", 0.0);
  f.n_iter_no_change = int_key(d, "n_iter_no_change", 1);
  f.best_loss = real_key(d, "best_loss", -std::numeric_limits<double>::infinity(), true);
  f.no_improvement_count = int_key(d, "no_improvement_count", 0);
  f.t = int_key(d, "t", 0);
  return f;
}

void store_sk_fit(py::handle obj, const SkFit& fit, const SkFitResult& r, const py::array_t<double>& losses) {
  py::dict d = py::reinterpret_borrow<py::dict>(obj);
  d["epochs"] = r.epochs;
  d["converged"] = r.converged;
  d["interrupted"] = r.interrupted;
  d["losses"] = losses[py::slice(0, r.epochs, 1)];
  d["learning_rate"] = fit.learning_rate;
  d["best_loss"] = fit.best_loss;
  d["no_improvement_count"] = fit.no_improvement_count;
  d["t"] = fit.t;
}
