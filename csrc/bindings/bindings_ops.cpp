// pybind11 bindings for the non-GEMM kernels (relu, bias_grad, cross_entropy,
// mse_loss, sgd_update, adam_update, adamw_update). Called from bindings.cpp's PYBIND11_MODULE.
// Every argument is checked before any kernel touches memory (TypeError for a
// wrong kind of object or dtype, ValueError for shape/layout/value, naming the
// argument); kernels run with the GIL released.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>
#include "bindings/bindings_util.h"
#include "kernels.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

using f32_c = py::array_t<float, py::array::c_style | py::array::forcecast>;

std::vector<py::ssize_t> shape_vec(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

std::string type_name(py::handle h) { return std::string(py::str(py::type::of(h).attr("__name__"))); }

// A float32 ndarray we write into (any shape): writeable, C-contiguous, never converted.
py::array inplace_f32(py::handle h, const char* name, const char* what) {
  if (!py::isinstance<py::array>(h))
    type_error(std::string(name) + ": expected a numpy.ndarray of float32 " + what + ", got " + type_name(h));
  py::array arr = py::reinterpret_borrow<py::array>(h);
  if (!arr.dtype().is(py::dtype::of<float>()))
    type_error(std::string(name) + ": expected dtype float32, got " + std::string(py::str(arr.dtype())));
  if (!(arr.flags() & py::array::c_style))
    value_error(std::string(name) + ": expected a C-contiguous array (np.ascontiguousarray)");
  if (!arr.writeable()) value_error(std::string(name) + ": array is read-only");
  return arr;
}

// An output given by the caller with exactly `like`'s shape (any ndim).
py::array output_like(py::handle h, const char* name, const py::array& like, const char* like_name) {
  py::array arr = inplace_f32(h, name, "to write into");
  if (shape_vec(arr) != shape_vec(like))
    value_error(std::string(name) + ": expected shape " + shape_str(like) + " (the shape of " + like_name +
                "), got " + shape_str(arr));
  return arr;
}

// `in` of shape `like`: same-shape input check (converted if needed).
py::array_t<float> input_like(py::handle h, const char* name, const py::array& like, const char* like_name) {
  py::array_t<float> arr = input_f32(h, name, -1);
  if (shape_vec(arr) != shape_vec(like))
    value_error(std::string(name) + ": expected shape " + shape_str(like) + " (the shape of " + like_name +
                "), got " + shape_str(arr));
  return arr;
}

// An output may be exactly an input (same memory, same layout: elementwise
// in place) when allow_same, and must not otherwise overlap it.
void check_alias(const void* out, size_t out_bytes, const char* out_name, const void* in, size_t in_bytes,
                 const char* in_name, bool allow_same) {
  if (allow_same && out == in && out_bytes == in_bytes) return;
  if (overlaps(out, out_bytes, in, in_bytes))
    value_error(std::string(out_name) + (allow_same ? ": must be " + std::string(in_name) +
                                                          " itself or not share memory with it"
                                                    : ": must not share memory with " + std::string(in_name)));
}

size_t fbytes(index_t n) { return size_t(n) * sizeof(float); }

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

py::array relu_backward_py(py::handle dout_obj, py::handle out_obj, py::handle dx_obj) {
  py::array_t<float> dout = input_f32(dout_obj, "dout", -1);
  py::array_t<float> out = input_like(out_obj, "out", dout, "dout");
  const index_t n = dout.size();
  py::array dx = dx_obj.is_none() ? py::array(new_f32(shape_vec(dout)))
                                  : output_like(dx_obj, "dx", dout, "dout");
  float* d = static_cast<float*>(dx.mutable_data());
  check_alias(d, fbytes(n), "dx", dout.data(), fbytes(n), "dout", true);
  check_alias(d, fbytes(n), "dx", out.data(), fbytes(n), "out", true);
  {
    py::gil_scoped_release nogil;
    relu_backward(dout.data(), out.data(), d, n);
  }
  return dx;
}

py::array bias_grad_py(py::handle dout_obj, py::handle db_obj) {
  MatView v = matrix_view(dout_obj, "dout");
  if (v.trans) {  // the kernel reads rows: make one C-ordered copy
    py::array c = f32_c::ensure(v.keep);
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

// target (N,) integer class indices -> int64 C-contiguous; bool/float -> TypeError.
py::array_t<std::int64_t> target_i64(py::handle h, index_t N) {
  if (h.is_none()) type_error("target: expected an array of integer class indices, got None");
  const bool given_array = py::isinstance<py::array>(h);
  py::array arr = py::array::ensure(h);
  if (!arr) type_error("target: expected an array-like of integer class indices, got " + type_name(h));
  const char kind = arr.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    // np.asarray([]) is float64: an empty Python sequence is an empty index list.
    if (!given_array && arr.size() == 0 && arr.ndim() == 1) {
      arr = py::array_t<std::int64_t>(0);
    } else {
      type_error("target: expected integer class indices, got dtype " + std::string(py::str(arr.dtype())) +
                 (kind == 'f' ? " (use target.astype(np.int64) if the values are whole numbers)" : ""));
    }
  }
  if (arr.ndim() != 1 || arr.shape(0) != N)
    value_error("target: expected shape (" + std::to_string(N) + ",) (N rows of logits), got " + shape_str(arr));
  if (kind == 'u' && arr.itemsize() == 8) {  // uint64 above INT64_MAX would wrap to negatives
    auto u = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
    const std::uint64_t* p = u.data();
    for (index_t i = 0; i < N; ++i)
      if (p[i] > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        value_error("target: value " + std::to_string(p[i]) + " at index " + std::to_string(i) +
                    " is out of range");
  }
  return py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
}

py::tuple cross_entropy_py(py::handle logits_obj, py::handle target_obj, py::handle weight_obj,
                           std::int64_t ignore_index, double label_smoothing, const std::string& reduction,
                           py::handle dlogits_obj) {
  py::array_t<float> logits = input_f32(logits_obj, "logits", 2);
  const index_t N = logits.shape(0), C = logits.shape(1);
  if (C < 1) value_error("logits: expected at least one class (C >= 1), got shape " + shape_str(logits));
  py::array_t<std::int64_t> target = target_i64(target_obj, N);
  const float* weight = nullptr;
  py::array_t<float> weight_arr;
  if (!weight_obj.is_none()) {
    weight_arr = input_f32(weight_obj, "weight", 1);
    if (weight_arr.shape(0) != C)
      value_error("weight: expected shape (" + std::to_string(C) + ",) (C classes of logits), got " +
                  shape_str(weight_arr));
    weight = weight_arr.data();
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    value_error("label_smoothing: expected a float in [0, 1], got " + std::string(py::str(py::float_(label_smoothing))));
  const Reduction red = parse_reduction(reduction);

  py::object dlogits = py::none();
  float* dl = nullptr;
  const bool want_grad = !(py::isinstance<py::bool_>(dlogits_obj) && !dlogits_obj.cast<bool>());
  if (want_grad) {
    if (dlogits_obj.is_none()) {
      dlogits = new_f32({N, C});
      dl = static_cast<float*>(py::reinterpret_borrow<py::array>(dlogits).mutable_data());
    } else {
      dl = output_f32(dlogits_obj, "dlogits", {N, C});
      dlogits = py::reinterpret_borrow<py::object>(dlogits_obj);
      check_alias(dl, fbytes(N * C), "dlogits", logits.data(), fbytes(N * C), "logits", true);
      if (weight) check_alias(dl, fbytes(N * C), "dlogits", weight, fbytes(C), "weight", false);
      check_alias(dl, fbytes(N * C), "dlogits", target.data(), size_t(N) * 8, "target", false);
    }
  }
  const std::int64_t* t = target.data();
  for (index_t i = 0; i < N; ++i)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
      value_error("target: value " + std::to_string(t[i]) + " at index " + std::to_string(i) +
                  " is out of range [0, " + std::to_string(C) + ") and is not ignore_index (" +
                  std::to_string(ignore_index) + ")");

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
    cross_entropy(logits.data(), t, N, C, weight, ignore_index, float(label_smoothing), red, loss, dl);
  }
  if (red != Reduction::None) loss_obj = py::float_(double(loss_scalar));
  return py::make_tuple(loss_obj, dlogits);
}

// ------------------------------------------------------------------- MSE ----

py::tuple mse_loss_py(py::handle pred_obj, py::handle target_obj, const std::string& reduction,
                      py::handle dpred_obj) {
  py::array_t<float> pred = input_f32(pred_obj, "pred", -1);
  py::array_t<float> target = input_like(target_obj, "target", pred, "pred");
  const Reduction red = parse_reduction(reduction);
  const index_t n = pred.size();
  py::object dpred = py::none();
  float* dp = nullptr;
  const bool want_grad = !(py::isinstance<py::bool_>(dpred_obj) && !dpred_obj.cast<bool>());
  if (want_grad) {
    py::array d = dpred_obj.is_none() ? py::array(new_f32(shape_vec(pred)))
                                      : output_like(dpred_obj, "dpred", pred, "pred");
    dp = static_cast<float*>(d.mutable_data());
    check_alias(dp, fbytes(n), "dpred", pred.data(), fbytes(n), "pred", true);
    check_alias(dp, fbytes(n), "dpred", target.data(), fbytes(n), "target", true);
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
    mse_loss(pred.data(), target.data(), n, red, loss, dp);
  }
  if (red != Reduction::None) loss_obj = py::float_(double(loss_scalar));
  return py::make_tuple(loss_obj, dpred);
}

// ------------------------------------------------------------------- SGD ----

void sgd_update_py(py::handle param_obj, py::handle grad_obj, py::handle buf_obj, double lr, double momentum,
                   double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  py::array param = inplace_f32(param_obj, "param", "(updated in place)");
  py::array_t<float> grad = input_like(grad_obj, "grad", param, "param");
  auto num = [](double v) { return std::string(py::str(py::float_(v))); };
  // PyTorch's checks (and NaN, which would silently poison the parameter).
  if (!(lr >= 0.0)) value_error("lr: invalid learning rate " + num(lr) + " (expected lr >= 0)");
  if (!(momentum >= 0.0)) value_error("momentum: invalid momentum value " + num(momentum) + " (expected >= 0)");
  if (!(weight_decay >= 0.0))
    value_error("weight_decay: invalid weight_decay value " + num(weight_decay) + " (expected >= 0)");
  if (std::isnan(dampening)) value_error("dampening: expected a number, got nan");
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    value_error("nesterov: requires momentum > 0 and dampening == 0 (got momentum=" + num(momentum) +
                ", dampening=" + num(dampening) + ")");
  const index_t n = param.size();
  float* p = static_cast<float*>(param.mutable_data());
  check_alias(p, fbytes(n), "param", grad.data(), fbytes(n), "grad", false);
  float* buf = nullptr;
  if (float(momentum) != 0.0f) {
    if (buf_obj.is_none()) value_error("momentum_buffer: required when momentum != 0");
    py::array b = inplace_f32(buf_obj, "momentum_buffer", "(updated in place)");
    if (shape_vec(b) != shape_vec(param))
      value_error("momentum_buffer: expected shape " + shape_str(param) + " (the shape of param), got " +
                  shape_str(b));
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
  struct Named {
    float* p;
    const char* name;
  };
  std::vector<Named> state;
  auto state_arg = [&](py::handle h, const char* name) {
    py::array a = inplace_f32(h, name, "(updated in place)");
    if (shape_vec(a) != shape_vec(param))
      value_error(std::string(name) + ": expected shape " + shape_str(param) + " (the shape of param), got " +
                  shape_str(a));
    float* q = static_cast<float*>(a.mutable_data());
    check_alias(q, fbytes(n), name, p, fbytes(n), "param", false);
    check_alias(q, fbytes(n), name, grad.data(), fbytes(n), "grad", false);
    for (const Named& o : state) check_alias(q, fbytes(n), name, o.p, fbytes(n), o.name, false);
    state.push_back({q, name});
    return q;
  };
  float* m = state_arg(exp_avg_obj, "exp_avg");
  float* v = state_arg(exp_avg_sq_obj, "exp_avg_sq");
  float* mx = nullptr;
  if (amsgrad) {
    if (max_obj.is_none()) value_error("max_exp_avg_sq: required when amsgrad=True");
    mx = state_arg(max_obj, "max_exp_avg_sq");
  }
  {
    py::gil_scoped_release nogil;
    (Decoupled ? adamw_update : adam_update)(p, grad.data(), m, v, mx, n, lr, beta1, beta2, eps, weight_decay,
                                             amsgrad, maximize, step);
  }
}

}  // namespace

void bind_ops(py::module_& m) {
  m.def("relu_forward", &relu_forward_py, py::arg("x"), py::arg("out") = py::none(),
        "relu_forward(x, out=None): y = max(x, 0), any shape; out may be x (in place).");
  m.def("relu_backward", &relu_backward_py, py::arg("dout"), py::arg("out"), py::arg("dx") = py::none(),
        "relu_backward(dout, out, dx=None): dx = dout * (out > 0); dx may be dout.");
  m.def("bias_grad", &bias_grad_py, py::arg("dout"), py::arg("db") = py::none(),
        "bias_grad(dout, db=None): column sums of dout (M, N) -> (N,).");
  m.def("cross_entropy", &cross_entropy_py, py::arg("logits"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("reduction"), py::arg("dlogits"),
        "cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction, dlogits)"
        " -> (loss, dlogits); dlogits=False skips the gradient.");
  m.def("mse_loss", &mse_loss_py, py::arg("pred"), py::arg("target"), py::arg("reduction"), py::arg("dpred"),
        "mse_loss(pred, target, reduction, dpred) -> (loss, dpred); dpred=False skips the gradient.");
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
}
