// pybind11 bindings for the non-GEMM kernels (relu, bias_grad, cross_entropy,
// mse_loss, sgd_update). Called from bindings.cpp's PYBIND11_MODULE.
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

using f32_c = py::array_t<float, py::array::c_style | py::array::forcecast>;

std::vector<py::ssize_t> shape_vec(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// `arr` (argument `name`) has exactly `like`'s shape (any ndim).
void check_shape_like(const py::array& arr, const char* name, const py::array& like, const char* like_name) {
  if (shape_vec(arr) != shape_vec(like))
    value_error(std::string(name) + ": expected shape " + shape_str(like) + " (the shape of " + like_name +
                "), got " + shape_str(arr));
}

// An array given by the caller to write into (inplace_f32), with exactly
// `like`'s shape (any ndim).
py::array output_like(py::handle h, const char* name, const py::array& like, const char* like_name,
                      const char* what = "to write into") {
  py::array arr = inplace_f32(h, name, what);
  check_shape_like(arr, name, like, like_name);
  return arr;
}

// `in` of shape `like`: same-shape input check (converted if needed).
py::array_t<float> input_like(py::handle h, const char* name, const py::array& like, const char* like_name) {
  py::array_t<float> arr = input_f32(h, name, -1);
  check_shape_like(arr, name, like, like_name);
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

py::tuple cross_entropy_py(py::handle logits_obj, py::handle target_obj, py::handle weight_obj,
                           std::int64_t ignore_index, double label_smoothing, const std::string& reduction,
                           py::handle dlogits_obj) {
  py::array_t<float> logits = input_f32(logits_obj, "logits", 2);
  const index_t N = logits.shape(0), C = logits.shape(1);
  if (C < 1) value_error("logits: expected at least one class (C >= 1), got shape " + shape_str(logits));
  py::array_t<std::int64_t> target =
      class_labels_i64(target_obj, N, C, ignore_index, "target", "value", "N rows of logits");
  const float* weight = nullptr;
  py::array_t<float> weight_arr;
  if (!weight_obj.is_none()) {
    weight_arr = input_f32_len(weight_obj, "weight", C, "C classes of logits");
    weight = weight_arr.data();
  }
  check_label_smoothing(label_smoothing, "label_smoothing");
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

}  // namespace

void bind_ops(py::module_& m) {
  m.def("relu_forward", &relu_forward_py, py::arg("x"), py::arg("out") = py::none(),
        "relu_forward(x, out=None): y = max(x, 0), any shape; out may be x (in place).");
  m.def("relu_backward", &relu_backward_py, py::arg("dout"), py::arg("y"), py::arg("dx") = py::none(),
        "relu_backward(dout, y, dx=None): dx = dout * (y > 0), y = relu_forward(x); dx may be dout or y.");
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
}
