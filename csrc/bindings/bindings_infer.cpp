// pybind11 bindings of gemv_forward, gemv_max_rows, infer_forward and
// InferencePlan (ops/gemv.cpp, ops/infer.cpp; issue 12's one-call forward).
// Called from bindings.cpp's PYBIND11_MODULE. Every argument is checked before
// any kernel touches memory; kernels run with the GIL released.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>
#include "bindings/bindings_util.h"
#include "kernels.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

// A 2-D weight (N, K) read in place: float32, C-contiguous (never copied, so
// a plan sees in-place updates of the weights it holds).
py::array weight_f32(py::handle h, const std::string& name) {
  if (!py::isinstance<py::array>(h))
    type_error(name + ": expected a numpy.ndarray of float32, got " + type_name(h));
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (!a.dtype().equal(py::dtype::of<float>()))  // equal, not is: an unpickled array has its own descr
    type_error(name + ": expected dtype float32, got " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style)) value_error(name + ": expected a C-contiguous array");
  return a;
}

// A new C-contiguous float32 (rows, cols) array in memory NumPy allocates (its
// cache of small blocks: no malloc, capsule or base object per call), for the
// few-row outputs of the matrix-vector regime, where the allocation is a
// visible part of a call. Its data is only 16-byte aligned, unlike new_f32's:
// gemv_forward's threads write whole outputs of a few rows, so a line shared at
// a split costs once per row, not once per row of every GEMM tile.
py::array new_f32_few_rows(index_t rows, index_t cols) {
  auto& api = py::detail::npy_api::get();
  Py_intptr_t dims[2] = {Py_intptr_t(rows), Py_intptr_t(cols)};
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, py::dtype::of<float>().release().ptr(), 2,
                                          dims, nullptr, nullptr, 0, nullptr);
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(a);
}

// skpredict (issue 11): a new float32 (N, K) C-contiguous array holding the transpose
// of the 2-D real array-like h (K, N) (float32 rounding as NumPy's astype), copied in
// 16 x 16 blocks (both sides' cache lines reused within a block).
py::array transposed_f32(py::handle h, const std::string& name) {
  const MatView v = matrix_view(h, name.c_str());  // element (k, n) at trans ? data[n*ld + k] : data[k*ld + n]
  const index_t K = v.rows, N = v.cols;
  py::array out = new_f32({N, K});
  float* dst = static_cast<float*>(out.mutable_data());
  const float* src = v.data;
  const index_t ld = v.ld;
  const bool trans = v.trans;
  {
    py::gil_scoped_release nogil;
    constexpr index_t kB = 16;
    for (index_t n0 = 0; n0 < N; n0 += kB)
      for (index_t k0 = 0; k0 < K; k0 += kB) {
        const index_t n1 = std::min(N, n0 + kB), k1 = std::min(K, k0 + kB);
        for (index_t n = n0; n < n1; ++n)
          for (index_t k = k0; k < k1; ++k) dst[n * K + k] = trans ? src[n * ld + k] : src[k * ld + n];
      }
  }
  return out;
}

InferHead parse_head(py::handle h) {
  if (h.is_none()) return InferHead::None;
  if (!py::isinstance<py::str>(h)) type_error("head: expected None, 'softmax' or 'log_softmax', got " + type_name(h));
  const std::string s = h.cast<std::string>();
  if (s == "softmax") return InferHead::Softmax;
  if (s == "log_softmax") return InferHead::LogSoftmax;
  value_error("head: expected None, 'softmax' or 'log_softmax', got '" + s + "'");
}

// The layers of a one-call forward, validated once; it keeps the arrays alive
// and reads them in place at every run (their contents may change, e.g. by
// training, between runs).
class InferencePlan {
 public:
  // transpose (skpredict, issue 11): weights[l] given as (in_features, out_features),
  // scikit-learn's coefs_ layout, as any real array-like: the plan keeps its own float32
  // (out, in) copy of each (and a float32 copy of each bias), so it reads them as they
  // were when it was made.
  InferencePlan(py::handle weights, py::handle biases, py::handle activations, py::handle head,
                bool transpose = false) {
    auto seq = [](py::handle h, const char* name) {
      if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h))
        type_error(std::string(name) + ": expected a list, got " + type_name(h));
      return py::reinterpret_borrow<py::sequence>(h);
    };
    py::sequence ws = seq(weights, "weights"), bs = seq(biases, "biases"), as = seq(activations, "activations");
    const size_t n = py::len(ws);
    if (n == 0) value_error("weights: expected at least one layer, got an empty list");
    if (py::len(bs) != n || py::len(as) != n)
      value_error("biases, activations: expected one entry per layer (" + std::to_string(n) + "), got " +
                  std::to_string(py::len(bs)) + " and " + std::to_string(py::len(as)));
    head_ = parse_head(head);
    for (size_t l = 0; l < n; ++l) {
      const std::string idx = "[" + std::to_string(l) + "]";
      py::array w = transpose ? transposed_f32(ws[l], "weights" + idx) : weight_f32(ws[l], "weights" + idx);
      if (w.ndim() != 2)
        value_error("weights" + idx + ": expected a 2-D (out_features, in_features) array, got shape " + shape_str(w));
      InferLayer L{static_cast<const float*>(w.data()), nullptr, index_t(w.shape(1)), index_t(w.shape(0)),
                   parse_activation(as[l], "activations" + idx)};
      check_size(L.out_features, L.in_features, ("weights" + idx).c_str());
      if (l > 0 && L.in_features != layers_.back().out_features)
        value_error("weights" + idx + ": expected in_features " + std::to_string(layers_.back().out_features) +
                    " (the previous layer's out_features), got shape " + shape_str(w));
      keep_.push_back(w);
      py::handle b = bs[l];
      if (!b.is_none()) {
        const std::string bname = "biases" + idx;
        py::array ba = transpose ? py::array(input_f32(b, bname.c_str(), -1)) : weight_f32(b, bname);
        if (ba.ndim() != 1 || ba.shape(0) != L.out_features)
          value_error("biases" + idx + ": expected shape (" + std::to_string(L.out_features) + ",), got " +
                      shape_str(ba));
        L.bias = static_cast<const float*>(ba.data());
        keep_.push_back(ba);
      }
      layers_.push_back(L);
    }
  }

  index_t in_features() const { return layers_.front().in_features; }
  index_t out_features() const { return layers_.back().out_features; }

  // nonfinite: infer_forward's (kernels.h), or nullptr for no check.
  py::array run(py::handle x_obj, py::handle out_obj, bool* nonfinite = nullptr) const {
    // A C-contiguous float64 x is converted a block of rows at a time
    // (infer_forward_f64), never copied whole; any other x is made float32 first.
    // (No py::array is default-constructed here: a default py::array is a new empty
    // NumPy array, which costs as much as the result's.)
    bool f64 = false;
    if (py::isinstance<py::array>(x_obj)) {
      py::array a = py::reinterpret_borrow<py::array>(x_obj);
      f64 = a.dtype().equal(py::dtype::of<double>()) && (a.flags() & py::array::c_style) && a.ndim() == 2;
    }
    const py::array xa = f64 ? py::reinterpret_borrow<py::array>(x_obj) : py::array(input_f32(x_obj, "x", 2));
    const index_t M = xa.shape(0), C = out_features();
    if (xa.shape(1) != in_features())
      value_error("x: expected shape (N, " + std::to_string(in_features()) + "), got " + shape_str(xa));
    check_size(M, C, "out");
    const bool fresh = out_obj.is_none();
    float* y = fresh ? nullptr : output_f32(out_obj, "out", {M, C});
    py::array out = !fresh ? py::reinterpret_borrow<py::array>(out_obj)
                    : M <= gemv_max_rows() ? new_f32_few_rows(M, C) : py::array(new_f32({M, C}));
    if (fresh) {
      y = static_cast<float*>(out.mutable_data());
    } else {
      const size_t yb = fbytes(M * C);
      bool bad = overlaps(y, yb, xa.data(), size_t(xa.nbytes()));
      for (const py::array& a : keep_) bad = bad || overlaps(y, yb, a.data(), fbytes(a.size()));
      if (bad) value_error("out: must not share memory with x or any weight or bias");
    }
    {
      py::gil_scoped_release nogil;
      if (f64)
        infer_forward_f64(static_cast<const double*>(xa.data()), M, layers_.data(), int(layers_.size()), head_, y,
                          nonfinite);
      else
        infer_forward(static_cast<const float*>(xa.data()), M, layers_.data(), int(layers_.size()), head_, y,
                      nonfinite);
    }
    return out;
  }

 private:
  std::vector<InferLayer> layers_;
  std::vector<py::array> keep_;
  InferHead head_ = InferHead::None;
};

}  // namespace

void bind_infer(py::module_& m) {
  m.def("gemv_forward",
        [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle act_obj, py::handle out_obj) {
          py::array_t<float> x = input_f32(x_obj, "x", 2);
          py::array_t<float> w = input_f32(w_obj, "weight", 2);
          const ActivationSpec act = parse_activation(act_obj, "activation");
          const index_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
          if (w.shape(1) != K)
            value_error("weight: expected shape (out_features, " + std::to_string(K) + ") to match x " +
                        shape_str(x) + ", got " + shape_str(w));
          check_size(M, N, "out");
          const bool has_bias = !b_obj.is_none();
          py::array_t<float> b;  // (a default array_t is an empty array, not a null handle)
          if (has_bias) b = input_f32_len(b_obj, "bias", N, "weight's out_features");
          py::array out;
          float* y;
          if (out_obj.is_none()) {
            out = new_f32({M, N});
            y = static_cast<float*>(out.mutable_data());
          } else {
            y = output_f32(out_obj, "out", {M, N});
            out = py::reinterpret_borrow<py::array>(out_obj);
            const size_t yb = fbytes(M * N);
            if (overlaps(y, yb, x.data(), fbytes(x.size())) || overlaps(y, yb, w.data(), fbytes(w.size())) ||
                (has_bias && overlaps(y, yb, b.data(), fbytes(N))))
              value_error("out: must not share memory with x, weight or bias");
          }
          const float* bp = has_bias ? b.data() : nullptr;
          {
            py::gil_scoped_release nogil;
            gemv_forward(x.data(), M, K, w.data(), N, bp, y, act);
          }
          return out;
        },
        py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("activation") = py::none(),
        py::arg("out") = py::none(),
        "out (M, N) = activation(x (M, K) @ weight (N, K).T + bias), the matrix-vector path (kernels.h).");
  m.def("gemv_max_rows", [] { return gemv_max_rows(); },
        "The most rows for which infer_forward runs gemv_forward on the active path (else sgemm).");

  // The plan object is private (_InferencePlan, no constructor); infer_plan makes one and
  // infer_run runs it, so the typed surface stays functions (tests/test_core_stub.py).
  py::class_<InferencePlan>(m, "_InferencePlan", "A Linear/activation stack validated once (infer_plan).")
      .def_property_readonly("in_features", &InferencePlan::in_features)
      .def_property_readonly("out_features", &InferencePlan::out_features);
  m.def("infer_plan",
        [](py::handle weights, py::handle biases, py::handle activations, py::handle head, bool transpose) {
          return std::make_unique<InferencePlan>(weights, biases, activations, head, transpose);
        },
        py::arg("weights"), py::arg("biases"), py::arg("activations"), py::arg("head") = py::none(),
        py::arg("transpose") = false,
        "The layers of infer_forward validated once, for infer_run (it keeps the arrays alive). "
        "transpose: weights given as (in_features, out_features) (scikit-learn's coefs_), any real "
        "dtype and layout; the plan then keeps float32 (out, in) copies of them and of the biases.");
  m.def("infer_run",
        [](const InferencePlan& plan, py::handle x, py::handle out) { return plan.run(x, out); },
        py::arg("plan"), py::arg("x"), py::arg("out") = py::none(),
        "infer_forward with a plan from infer_plan: out (N, out_features).");
  // skpredict (issue 11): the run with infer_forward's finiteness check of the first
  // layer's pre-activations (scikit-learn's estimators raise its error when x holds inf/NaN).
  m.def("infer_run_checked",
        [](const InferencePlan& plan, py::handle x) {
          bool nonfinite = false;
          py::array out = plan.run(x, py::none(), &nonfinite);
          return py::make_tuple(out, !nonfinite);
        },
        py::arg("plan"), py::arg("x"),
        "(out, finite): infer_run, and whether x was all finite (float64 x: its values; float32 x: "
        "the first layer's pre-activations, False whenever x holds inf or NaN and also when they "
        "overflowed).");
  m.def("infer_forward",
        [](py::handle x, py::handle weights, py::handle biases, py::handle activations, py::handle head,
           py::handle out) { return InferencePlan(weights, biases, activations, head).run(x, out); },
        py::arg("x"), py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("head") = py::none(), py::arg("out") = py::none(),
        "out (N, out_features) = the whole stack on x in one call (kernels.h infer_forward).");
}
