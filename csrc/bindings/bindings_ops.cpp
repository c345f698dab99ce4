// pybind11 bindings for the non-GEMM kernels (relu, bias_grad, cross_entropy,
// nll_loss, the elementwise losses, softmax/log_softmax and their backward,
// sgd_update, adam_update, adamw_update, rmsprop_update, adagrad_update, total_norm).
// Called from bindings.cpp's PYBIND11_MODULE.
// Every argument is checked before any kernel touches memory (TypeError for a
// wrong kind of object or dtype, ValueError for shape/layout/value, naming the
// argument); kernels run with the GIL released.
#include <cstdint>
#include <string>
#include <vector>
#include "bindings/bindings_util.h"
#include "kernels.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {


std::string num_str(double v) { return std::string(py::str(py::float_(v))); }  // as Python prints it

// ------------------------------------------------------------------ ReLU ----

py::array relu_forward_py(py::handle x_obj, py::handle out_obj) {
  py::array_t<float> x = input_f32(x_obj, "x", -1);
  const index_t n = x.size();
  py::array out = out_obj.is_none() ? py::array(new_f32(shape_vec(x)))
                                    : output_like(out_obj, "out", x, "x");
  float* y = static_cast<float*>(out.mutable_data());
  check_alias(y, fbytes(n), "out", x.data(), fbytes(n), "x", true);
  {
    py::gil_scoped_release nogil;
    relu_forward(x.data(), y, n);
  }
  return out;
}

// y: relu_forward's result (an input here, not a destination).
py::array relu_backward_py(py::handle dout_obj, py::handle y_obj, py::handle dx_obj) {
  py::array_t<float> dout = input_f32(dout_obj, "dout", -1);
  py::array_t<float> y = input_like(y_obj, "y", dout, "dout");
  const index_t n = dout.size();
  py::array dx = dx_obj.is_none() ? py::array(new_f32(shape_vec(dout)))
                                  : output_like(dx_obj, "dx", dout, "dout");
  float* d = static_cast<float*>(dx.mutable_data());
  check_alias(d, fbytes(n), "dx", dout.data(), fbytes(n), "dout", true);
  check_alias(d, fbytes(n), "dx", y.data(), fbytes(n), "y", true);
  {
    py::gil_scoped_release nogil;
    relu_backward(dout.data(), y.data(), d, n);
  }
  return dx;
}

py::array bias_grad_py(py::handle dout_obj, py::handle db_obj) {
  MatView v = matrix_view(dout_obj, "dout");
  if (v.trans) {  // the kernel reads rows: make one C-ordered copy
    py::array c = c_array<float>(v.keep, "dout");
    v = MatView{static_cast<const float*>(c.data()), v.rows, v.cols, std::max<index_t>(v.cols, 1), false, c};
  }
  const index_t M = v.rows, N = v.cols;
  py::array db;
  float* dbp;
  if (db_obj.is_none()) {
    db = new_f32({N});
    dbp = static_cast<float*>(db.mutable_data());
  } else {
    dbp = output_f32(db_obj, "db", {N});
    db = py::reinterpret_borrow<py::array>(db_obj);
    if (M && N) check_alias(dbp, fbytes(N), "db", v.data, fbytes((M - 1) * v.ld + N), "dout", false);
  }
  {
    py::gil_scoped_release nogil;
    bias_grad(v.data, M, N, v.ld, dbp);
  }
  return db;
}

// --------------------------------------------------------- cross-entropy ----

// The shared binding of the class-index losses (cross_entropy, nll_loss):
// `x` (N, C) float32 (called `xname`), target (N,) checked by class_labels_i64,
// weight (C,) or None, the reduction, and the gradient destination `dname`:
// None (new), False (skipped) or a float32 C-contiguous writeable (N, C) array
// that may be x itself and must not overlap weight or target. check() runs the
// loss's own checks; run(x, t, N, C, weight, red, loss, dx) calls the kernel
// with the GIL released. Everything is checked before any memory is touched.
template <class Check, class Run>
py::tuple class_loss_py(py::handle x_obj, const char* xname, py::handle target_obj, py::handle weight_obj,
                        std::int64_t ignore_index, const std::string& reduction, py::handle dx_obj,
                        const char* dname, Check check, Run run) {
  py::array_t<float> x = input_f32(x_obj, xname, 2);
  const index_t N = x.shape(0), C = x.shape(1);
  if (C < 1) value_error(std::string(xname) + ": expected at least one class (C >= 1), got shape " + shape_str(x));
  const std::string rows = std::string("N rows of ") + xname;
  py::array_t<std::int64_t> target = class_labels_i64(target_obj, N, C, ignore_index, "target", "value", rows.c_str());
  const float* weight = nullptr;
  py::array_t<float> weight_arr;
  const std::string classes = std::string("C classes of ") + xname;
  if (!weight_obj.is_none()) {
    weight_arr = input_f32_len(weight_obj, "weight", C, classes.c_str());
    weight = weight_arr.data();
  }
  check();
  const Reduction red = parse_reduction(reduction);

  py::object dx = py::none();
  float* dl = nullptr;
  const bool want_grad = !(py::isinstance<py::bool_>(dx_obj) && !dx_obj.cast<bool>());
  if (want_grad) {
    if (dx_obj.is_none()) {
      dx = new_f32({N, C});
      dl = static_cast<float*>(py::reinterpret_borrow<py::array>(dx).mutable_data());
    } else {
      dl = output_f32(dx_obj, dname, {N, C});
      dx = py::reinterpret_borrow<py::object>(dx_obj);
      check_alias(dl, fbytes(N * C), dname, x.data(), fbytes(N * C), xname, true);
      if (weight) check_alias(dl, fbytes(N * C), dname, weight, fbytes(C), "weight", false);
      check_alias(dl, fbytes(N * C), dname, target.data(), size_t(N) * 8, "target", false);
    }
  }
  py::object loss_obj;
  float loss_scalar = 0.0f;
  float* loss = &loss_scalar;
  if (red == Reduction::None) {
    py::array_t<float> l(N);
    loss = l.mutable_data();
    loss_obj = l;
  }
  {
    py::gil_scoped_release nogil;
    run(x.data(), target.data(), N, C, weight, red, loss, dl);
  }
  if (red != Reduction::None) loss_obj = py::float_(double(loss_scalar));
  return py::make_tuple(loss_obj, dx);
}

py::tuple cross_entropy_py(py::handle logits_obj, py::handle target_obj, py::handle weight_obj,
                           std::int64_t ignore_index, double label_smoothing, const std::string& reduction,
                           py::handle dlogits_obj) {
  return class_loss_py(
      logits_obj, "logits", target_obj, weight_obj, ignore_index, reduction, dlogits_obj, "dlogits",
      [&] { check_label_smoothing(label_smoothing, "label_smoothing"); },
      [&](const float* x, const std::int64_t* t, index_t N, index_t C, const float* w, Reduction r, float* l,
          float* d) { cross_entropy(x, t, N, C, w, ignore_index, float(label_smoothing), r, l, d); });
}

// ------------------------------------------------------ elementwise losses ----
// mse_loss, l1_loss, huber_loss, smooth_l1_loss, bce_with_logits share this.

// An input the gradient must not overlap (weight, pos_weight...).
struct Guarded {
  const void* ptr;
  size_t bytes;
  const char* name;
};

// The shared binding: `pred` (any shape; called `pname`) and `target` (pred's
// shape, no broadcasting) as float32, the reduction, and the gradient
// destination `dname`: None (new), False (skipped) or a float32 C-contiguous
// writeable array of pred's shape, which may be pred or target itself and must
// not overlap them otherwise, nor the inputs `extra(pred)` returns.
// extra(pred) checks the loss's own array arguments against pred and returns
// them; run(p, t, n, red, loss, dp) calls the kernel, with the GIL released.
// Everything is checked before any memory is touched.
template <class Extra, class Run>
py::tuple elementwise_loss_py(py::handle pred_obj, py::handle target_obj, const std::string& reduction,
                              py::handle dpred_obj, const char* pname, const char* dname, Extra extra,
                              Run run) {
  py::array_t<float> pred = input_f32(pred_obj, pname, -1);
  py::array_t<float> target = input_like(target_obj, "target", pred, pname);
  const Reduction red = parse_reduction(reduction);
  const std::vector<Guarded> guarded = extra(pred);
  const index_t n = pred.size();
  py::object dpred = py::none();
  float* dp = nullptr;
  const bool want_grad = !(py::isinstance<py::bool_>(dpred_obj) && !dpred_obj.cast<bool>());
  if (want_grad) {
    const bool given = !dpred_obj.is_none();
    py::array d = given ? output_like(dpred_obj, dname, pred, pname) : py::array(new_f32(shape_vec(pred)));
    dp = static_cast<float*>(d.mutable_data());
    if (given) {
      check_alias(dp, fbytes(n), dname, pred.data(), fbytes(n), pname, true);
      check_alias(dp, fbytes(n), dname, target.data(), fbytes(n), "target", true);
      for (const Guarded& g : guarded) check_alias(dp, fbytes(n), dname, g.ptr, g.bytes, g.name, false);
    }
    dpred = d;
  }
  py::object loss_obj;
  float loss_scalar = 0.0f;
  float* loss = &loss_scalar;
  if (red == Reduction::None) {
    py::array_t<float> l(shape_vec(pred));
    loss = l.mutable_data();
    loss_obj = l;
  }
  {
    py::gil_scoped_release nogil;
    run(pred.data(), target.data(), n, red, loss, dp);
  }
  if (red != Reduction::None) loss_obj = py::float_(double(loss_scalar));
  return py::make_tuple(loss_obj, dpred);
}

std::vector<Guarded> no_extra(const py::array&) { return {}; }

// A loss kernel of mse_loss's signature, bound over the shared checks.
using PlainLoss = void (*)(const float*, const float*, index_t, Reduction, float*, float*);
template <PlainLoss Kernel>
py::tuple plain_loss_py(py::handle pred_obj, py::handle target_obj, const std::string& reduction,
                        py::handle dpred_obj) {
  return elementwise_loss_py(pred_obj, target_obj, reduction, dpred_obj, "pred", "dpred", no_extra, Kernel);
}

// A loss kernel with one double hyperparameter (huber's delta, smooth_l1's beta)
// before the reduction; the caller checked the hyperparameter.
using ParamLoss = void (*)(const float*, const float*, index_t, double, Reduction, float*, float*);
template <ParamLoss Kernel>
py::tuple param_loss(py::handle pred_obj, py::handle target_obj, double param, const std::string& reduction,
                     py::handle dpred_obj) {
  return elementwise_loss_py(pred_obj, target_obj, reduction, dpred_obj, "pred", "dpred", no_extra,
                             [param](const float* p, const float* t, index_t n, Reduction r, float* l,
                                     float* d) { Kernel(p, t, n, param, r, l, d); });
}

py::tuple huber_loss_py(py::handle pred_obj, py::handle target_obj, double delta, const std::string& reduction,
                        py::handle dpred_obj) {
  if (!(delta > 0.0)) value_error("delta: huber_loss needs delta > 0, got " + num_str(delta));
  return param_loss<huber_loss>(pred_obj, target_obj, delta, reduction, dpred_obj);
}

py::tuple smooth_l1_loss_py(py::handle pred_obj, py::handle target_obj, double beta,
                            const std::string& reduction, py::handle dpred_obj) {
  if (!(beta >= 0.0)) value_error("beta: smooth_l1_loss needs beta >= 0, got " + num_str(beta));
  return param_loss<smooth_l1_loss>(pred_obj, target_obj, beta, reduction, dpred_obj);
}

// weight / pos_weight of bce_with_logits: None, or an array whose shape is a
// trailing part of the logits' shape (so entry i % size goes with element i).
struct TrailingArg {
  py::array_t<float> arr;
  const float* data = nullptr;
  index_t size = 0;
};

TrailingArg trailing_f32(py::handle h, const char* name, const py::array& like, const char* like_name) {
  TrailingArg a;
  if (h.is_none()) return a;
  a.arr = input_f32(h, name, -1);
  const py::ssize_t k = a.arr.ndim(), nd = like.ndim();
  bool ok = k <= nd;
  for (py::ssize_t j = 0; ok && j < k; ++j) ok = a.arr.shape(k - 1 - j) == like.shape(nd - 1 - j);
  if (!ok)
    value_error(std::string(name) + ": expected a shape that is a trailing part of " + like_name + "'s " +
                shape_str(like) + " (e.g. (C,) for (N, C)), got " + shape_str(a.arr) +
                " (other broadcasts are not supported)");
  a.data = a.arr.data();
  a.size = a.arr.size();
  return a;
}

py::tuple bce_with_logits_py(py::handle logits_obj, py::handle target_obj, py::handle weight_obj,
                             py::handle pos_weight_obj, const std::string& reduction, py::handle dlogits_obj) {
  TrailingArg w, pw;
  auto extra = [&](const py::array& logits) {
    w = trailing_f32(weight_obj, "weight", logits, "logits");
    pw = trailing_f32(pos_weight_obj, "pos_weight", logits, "logits");
    std::vector<Guarded> g;
    if (w.data) g.push_back({w.data, fbytes(w.size), "weight"});
    if (pw.data) g.push_back({pw.data, fbytes(pw.size), "pos_weight"});
    return g;
  };
  return elementwise_loss_py(logits_obj, target_obj, reduction, dlogits_obj, "logits", "dlogits", extra,
                             [&](const float* x, const float* t, index_t n, Reduction r, float* l, float* d) {
                               bce_with_logits(x, t, n, w.data, w.size, pw.data, pw.size, r, l, d);
                             });
}

// --------------------------------------------------------------- softmax ----

// x (..., C), any ndim >= 1, over the last dimension; out as relu_forward's.
using RowKernel = void (*)(const float*, float*, index_t, index_t);
template <RowKernel Kernel>
py::array row_softmax_py(py::handle x_obj, py::handle out_obj) {
  py::array_t<float> x = input_f32(x_obj, "x", -1);
  if (x.ndim() < 1) value_error("x: expected at least 1 dimension (softmax runs over the last), got a 0-d array");
  const index_t C = x.shape(x.ndim() - 1), n = x.size();
  index_t rows = 1;
  for (py::ssize_t k = 0; k + 1 < x.ndim(); ++k) rows *= x.shape(k);
  py::array out = out_obj.is_none() ? py::array(new_f32(shape_vec(x))) : output_like(out_obj, "out", x, "x");
  float* y = static_cast<float*>(out.mutable_data());
  check_alias(y, fbytes(n), "out", x.data(), fbytes(n), "x", true);
  if (n > 0) {
    py::gil_scoped_release nogil;
    Kernel(x.data(), y, rows, C);
  }
  return out;
}

// ------------------------------------- softmax backward, NLL (issue 10) ----

// dout (..., C), any ndim >= 1, y (the forward's output) of dout's shape, dx
// as relu_backward's (may be dout or y exactly).
using RowBackward = void (*)(const float*, const float*, float*, index_t, index_t);
template <RowBackward Kernel>
py::array row_softmax_backward_py(py::handle dout_obj, py::handle y_obj, py::handle dx_obj) {
  py::array_t<float> dout = input_f32(dout_obj, "dout", -1);
  if (dout.ndim() < 1)
    value_error("dout: expected at least 1 dimension (softmax runs over the last), got a 0-d array");
  py::array_t<float> y = input_like(y_obj, "y", dout, "dout");
  const index_t C = dout.shape(dout.ndim() - 1), n = dout.size();
  const index_t rows = C ? n / C : 0;
  py::array dx = dx_obj.is_none() ? py::array(new_f32(shape_vec(dout))) : output_like(dx_obj, "dx", dout, "dout");
  float* d = static_cast<float*>(dx.mutable_data());
  check_alias(d, fbytes(n), "dx", dout.data(), fbytes(n), "dout", true);
  check_alias(d, fbytes(n), "dx", y.data(), fbytes(n), "y", true);
  if (n > 0) {
    py::gil_scoped_release nogil;
    Kernel(dout.data(), y.data(), d, rows, C);
  }
  return dx;
}

py::tuple nll_loss_py(py::handle input_obj, py::handle target_obj, py::handle weight_obj,
                      std::int64_t ignore_index, const std::string& reduction, py::handle dinput_obj) {
  return class_loss_py(
      input_obj, "input", target_obj, weight_obj, ignore_index, reduction, dinput_obj, "dinput", [] {},
      [&](const float* x, const std::int64_t* t, index_t N, index_t C, const float* w, Reduction r, float* l,
          float* d) { nll_loss(x, t, N, C, w, ignore_index, r, l, d); });
}

// ------------------------------------------------------------------- SGD ----

void sgd_update_py(py::handle param_obj, py::handle grad_obj, py::handle buf_obj, double lr, double momentum,
                   double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  py::array param = inplace_f32(param_obj, "param", "(updated in place)");
  py::array_t<float> grad = input_like(grad_obj, "grad", param, "param");
  check_sgd_options(lr, momentum, dampening, weight_decay, nesterov, "");
  const index_t n = param.size();
  float* p = static_cast<float*>(param.mutable_data());
  check_alias(p, fbytes(n), "param", grad.data(), fbytes(n), "grad", false);
  float* buf = nullptr;
  if (float(momentum) != 0.0f) {
    if (buf_obj.is_none()) value_error("momentum_buffer: required when momentum != 0");
    py::array b = output_like(buf_obj, "momentum_buffer", param, "param", "(updated in place)");
    buf = static_cast<float*>(b.mutable_data());
    check_alias(buf, fbytes(n), "momentum_buffer", p, fbytes(n), "param", false);
    check_alias(buf, fbytes(n), "momentum_buffer", grad.data(), fbytes(n), "grad", false);
  }
  {
    py::gil_scoped_release nogil;
    sgd_update(p, grad.data(), buf, n, float(lr), float(momentum), float(dampening), float(weight_decay),
               nesterov, maximize, first_step);
  }
}


// ------------------------------------------------------------ Adam, AdamW ----

// An optimizer's state arrays (updated in place): each of param's shape,
// sharing memory with neither param, grad nor the state arrays before it.
struct StateArgs {
  const py::array& param;
  float* p;
  const float* grad;
  struct Named {
    float* p;
    const char* name;
  };
  std::vector<Named> seen = {};
  float* arg(py::handle h, const char* name) {
    const index_t n = param.size();
    py::array a = inplace_f32(h, name, "(updated in place)");
    if (shape_vec(a) != shape_vec(param))
      value_error(std::string(name) + ": expected shape " + shape_str(param) + " (the shape of param), got " +
                  shape_str(a));
    float* q = static_cast<float*>(a.mutable_data());
    check_alias(q, fbytes(n), name, p, fbytes(n), "param", false);
    check_alias(q, fbytes(n), name, grad, fbytes(n), "grad", false);
    for (const Named& o : seen) check_alias(q, fbytes(n), name, o.p, fbytes(n), o.name, false);
    seen.push_back({q, name});
    return q;
  }
};

// adam_update / adamw_update (kernels.h): one binding, `decoupled` picks AdamW.
template <bool Decoupled>
void adam_update_py(py::handle param_obj, py::handle grad_obj, py::handle exp_avg_obj,
                    py::handle exp_avg_sq_obj, py::handle max_obj, double lr, double beta1, double beta2,
                    double eps, double weight_decay, bool amsgrad, bool maximize, double step) {
  py::array param = inplace_f32(param_obj, "param", "(updated in place)");
  py::array_t<float> grad = input_like(grad_obj, "grad", param, "param");
  check_adam_hyper("", lr, beta1, beta2, eps, weight_decay);
  if (!(step >= 1.0))
    value_error("step: expected this update's number, >= 1, got " + std::string(py::str(py::float_(step))));
  const index_t n = param.size();
  float* p = static_cast<float*>(param.mutable_data());
  check_alias(p, fbytes(n), "param", grad.data(), fbytes(n), "grad", false);
  StateArgs state{param, p, grad.data(), {}};
  float* m = state.arg(exp_avg_obj, "exp_avg");
  float* v = state.arg(exp_avg_sq_obj, "exp_avg_sq");
  float* mx = nullptr;
  if (amsgrad) {
    if (max_obj.is_none()) value_error("max_exp_avg_sq: required when amsgrad=True");
    mx = state.arg(max_obj, "max_exp_avg_sq");
  }
  {
    py::gil_scoped_release nogil;
    (Decoupled ? adamw_update : adam_update)(p, grad.data(), m, v, mx, n, lr, beta1, beta2, eps, weight_decay,
                                             amsgrad, maximize, step);
  }
}

// ------------------------------------------------- RMSprop, Adagrad ----

void rmsprop_update_py(py::handle param_obj, py::handle grad_obj, py::handle square_avg_obj,
                       py::handle buf_obj, py::handle grad_avg_obj, double lr, double alpha, double eps,
                       double weight_decay, double momentum, bool centered, bool maximize) {
  py::array param = inplace_f32(param_obj, "param", "(updated in place)");
  py::array_t<float> grad = input_like(grad_obj, "grad", param, "param");
  check_rmsprop_hyper("", lr, alpha, eps, weight_decay, momentum);
  const index_t n = param.size();
  float* p = static_cast<float*>(param.mutable_data());
  check_alias(p, fbytes(n), "param", grad.data(), fbytes(n), "grad", false);
  StateArgs state{param, p, grad.data(), {}};
  float* v = state.arg(square_avg_obj, "square_avg");
  float* buf = nullptr;
  if (momentum > 0.0) {
    if (buf_obj.is_none()) value_error("momentum_buffer: required when momentum > 0");
    buf = state.arg(buf_obj, "momentum_buffer");
  }
  float* ga = nullptr;
  if (centered) {
    if (grad_avg_obj.is_none()) value_error("grad_avg: required when centered=True");
    ga = state.arg(grad_avg_obj, "grad_avg");
  }
  {
    py::gil_scoped_release nogil;
    rmsprop_update(p, grad.data(), v, buf, ga, n, lr, alpha, eps, weight_decay, momentum, centered, maximize);
  }
}

void adagrad_update_py(py::handle param_obj, py::handle grad_obj, py::handle sum_obj, double lr,
                       double lr_decay, double weight_decay, double eps, bool maximize, double step) {
  py::array param = inplace_f32(param_obj, "param", "(updated in place)");
  py::array_t<float> grad = input_like(grad_obj, "grad", param, "param");
  check_adagrad_hyper("", lr, lr_decay, weight_decay, eps);
  if (!(step >= 1.0)) value_error("step: expected this update's number, >= 1, got " + num_str(step));
  const index_t n = param.size();
  float* p = static_cast<float*>(param.mutable_data());
  check_alias(p, fbytes(n), "param", grad.data(), fbytes(n), "grad", false);
  StateArgs state{param, p, grad.data(), {}};
  float* s = state.arg(sum_obj, "state_sum");
  {
    py::gil_scoped_release nogil;
    adagrad_update(p, grad.data(), s, n, lr, lr_decay, weight_decay, eps, maximize, step);
  }
}

// total_norm(arrays): each array viewed as (size / last dim, last dim); 0-d as (1, 1).
double total_norm_py(py::handle arrays_obj) {
  if (py::isinstance<py::array>(arrays_obj) || py::isinstance<py::str>(arrays_obj) ||
      !py::hasattr(arrays_obj, "__iter__"))
    type_error("arrays: expected a sequence of float32 arrays, got " + type_name(arrays_obj));
  std::vector<py::array_t<float>> keep;
  std::vector<const float*> ptrs;
  std::vector<index_t> rows, cols;
  index_t max_rows = 0;
  for (py::handle h : arrays_obj) {
    const std::string name = "arrays[" + std::to_string(keep.size()) + "]";
    keep.push_back(input_f32(h, name.c_str(), -1));
    const py::array_t<float>& a = keep.back();
    const index_t c = a.ndim() ? index_t(a.shape(a.ndim() - 1)) : 1;
    const index_t r = c ? index_t(a.size()) / c : 0;
    ptrs.push_back(a.data());
    rows.push_back(r);
    cols.push_back(c);
    max_rows = std::max(max_rows, r);
  }
  if (keep.size() > size_t(1) << 30) value_error("arrays: too many arrays");
  std::vector<double> sums(keep.size()), row_sums(size_t(max_rows) + 1);
  py::gil_scoped_release nogil;
  return total_norm(ptrs.data(), rows.data(), cols.data(), int(keep.size()), sums.data(), row_sums.data());
}

}  // namespace

void bind_ops(py::module_& m) {
  m.def("relu_forward", &relu_forward_py, py::arg("x"), py::arg("out") = py::none(),
        "relu_forward(x, out=None): y = max(x, 0), any shape; out may be x (in place).");
  m.def("relu_backward", &relu_backward_py, py::arg("dout"), py::arg("y"), py::arg("dx") = py::none(),
        "relu_backward(dout, y, dx=None): dx = y <= 0 ? 0 : dout (a select, as torch's threshold_backward), y = relu_forward(x); dx may be dout or y.");
  m.def("bias_grad", &bias_grad_py, py::arg("dout"), py::arg("db") = py::none(),
        "bias_grad(dout, db=None): column sums of dout (M, N) -> (N,).");
  m.def("cross_entropy", &cross_entropy_py, py::arg("logits"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("reduction"), py::arg("dlogits"),
        "cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction, dlogits)"
        " -> (loss, dlogits); dlogits=False skips the gradient.");
  m.def("mse_loss", &plain_loss_py<mse_loss>, py::arg("pred"), py::arg("target"), py::arg("reduction"),
        py::arg("dpred"),
        "mse_loss(pred, target, reduction, dpred) -> (loss, dpred); dpred=False skips the gradient.");
  m.def("l1_loss", &plain_loss_py<l1_loss>, py::arg("pred"), py::arg("target"), py::arg("reduction"),
        py::arg("dpred"),
        "l1_loss(pred, target, reduction, dpred) -> (loss, dpred); dpred=False skips the gradient.");
  m.def("huber_loss", &huber_loss_py, py::arg("pred"), py::arg("target"), py::arg("delta"), py::arg("reduction"),
        py::arg("dpred"),
        "huber_loss(pred, target, delta, reduction, dpred) -> (loss, dpred); dpred=False skips the gradient.");
  m.def("smooth_l1_loss", &smooth_l1_loss_py, py::arg("pred"), py::arg("target"), py::arg("beta"),
        py::arg("reduction"), py::arg("dpred"),
        "smooth_l1_loss(pred, target, beta, reduction, dpred) -> (loss, dpred); dpred=False skips the gradient.");
  m.def("bce_with_logits", &bce_with_logits_py, py::arg("logits"), py::arg("target"), py::arg("weight"),
        py::arg("pos_weight"), py::arg("reduction"), py::arg("dlogits"),
        "bce_with_logits(logits, target, weight, pos_weight, reduction, dlogits) -> (loss, dlogits);"
        " dlogits=False skips the gradient.");
  m.def("log_softmax", &row_softmax_py<log_softmax>, py::arg("x"), py::arg("out"),
        "log_softmax(x, out=None): stable log-softmax over the last dimension; out may be x.");
  m.def("softmax", &row_softmax_py<softmax>, py::arg("x"), py::arg("out"),
        "softmax(x, out=None): stable softmax over the last dimension; out may be x.");
  // softmax backward, NLL (issue 10)
  m.def("log_softmax_backward", &row_softmax_backward_py<log_softmax_backward>, py::arg("dout"), py::arg("y"),
        py::arg("dx"),
        "log_softmax_backward(dout, y, dx=None): dx = dout - exp(y) * sum(dout) over the last dimension,"
        " y = log_softmax(x); dx may be dout or y.");
  m.def("softmax_backward", &row_softmax_backward_py<softmax_backward>, py::arg("dout"), py::arg("y"),
        py::arg("dx"),
        "softmax_backward(dout, y, dx=None): dx = y * (dout - sum(dout * y)) over the last dimension,"
        " y = softmax(x); dx may be dout or y.");
  m.def("nll_loss", &nll_loss_py, py::arg("input"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("reduction"), py::arg("dinput"),
        "nll_loss(input, target, weight, ignore_index, reduction, dinput) -> (loss, dinput);"
        " dinput=False skips the gradient.");
  m.def("sgd_update", &sgd_update_py, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
        py::arg("maximize"), py::arg("first_step"),
        "sgd_update(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,"
        " first_step): one torch.optim.SGD step in place.");

  for (bool decoupled : {false, true}) {
    const char* name = decoupled ? "adamw_update" : "adam_update";
    m.def(name, decoupled ? &adam_update_py<true> : &adam_update_py<false>, py::arg("param"), py::arg("grad"),
          py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"), py::arg("lr"), py::arg("beta1"),
          py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
          py::arg("step"),
          decoupled ? "adamw_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,"
                      " weight_decay, amsgrad, maximize, step): one torch.optim.AdamW step in place."
                    : "adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,"
                      " weight_decay, amsgrad, maximize, step): one torch.optim.Adam step in place.");
  }

  m.def("rmsprop_update", &rmsprop_update_py, py::arg("param"), py::arg("grad"), py::arg("square_avg"),
        py::arg("momentum_buffer"), py::arg("grad_avg"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
        "rmsprop_update(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, eps, weight_decay,"
        " momentum, centered, maximize): one torch.optim.RMSprop step in place.");
  m.def("adagrad_update", &adagrad_update_py, py::arg("param"), py::arg("grad"), py::arg("state_sum"),
        py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
        py::arg("step"),
        "adagrad_update(param, grad, state_sum, lr, lr_decay, weight_decay, eps, maximize, step):"
        " one torch.optim.Adagrad step in place (step: this update's number).");
  m.def("total_norm", &total_norm_py, py::arg("arrays"),
        "total_norm(arrays) -> float: the 2-norm of the arrays' 2-norms, in double"
        " (clip_grad_norm_'s total for norm_type 2).");
}
