// Argument checking shared by the pybind11 bindings. Every check runs before
// any kernel touches memory; failures are TypeError (wrong kind of object or
// dtype) or ValueError (wrong shape, layout, value), naming the argument.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <sstream>
#include <string>
#include <vector>
#include "common.h"
#include "kernels.h"

#pragma GCC visibility push(hidden)  // like pybind11 module code
namespace fastmlp {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

// A new C-contiguous float32 array whose data starts on a 64-byte cache line
// (like a PyTorch tensor's). NumPy's own allocations are only 16-byte aligned:
// the rows of a C that start mid-line make the threads of a column-split GEMM
// write the same line at every row boundary, and vectors straddle lines
// (bench/results/README.md#aligned-outputs). The memory is owned by a
// capsule, the array's base.
[[noreturn]] inline void memory_error(const std::string& msg) {
  PyErr_SetString(PyExc_MemoryError, msg.c_str());
  throw py::error_already_set();
}

inline std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

inline py::array_t<float> new_f32(const std::vector<py::ssize_t>& shape) {
  size_t n = 1;
  for (py::ssize_t d : shape) n *= size_t(d);
  void* p;
  try {
    p = aligned_alloc64(n * sizeof(float));
  } catch (const std::bad_alloc&) {
    memory_error("cannot allocate a float32 result of shape " + shape_str(shape) + " (" +
                 std::to_string(n * sizeof(float)) + " bytes)");
  }
  py::capsule owner(p, [](void* q) { std::free(q); });
  return py::array_t<float>(shape, static_cast<float*>(p), owner);
}

[[noreturn]] inline void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void type_error(const std::string& msg) { throw py::type_error(msg); }

// An ISA path's name ('avx512', 'avx2', 'generic'); ValueError naming `what` otherwise.
inline Isa parse_isa(const std::string& name, const char* what) {
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx2") return Isa::Avx2;
  if (name == "generic") return Isa::Generic;
  value_error(std::string(what) + ": expected 'avx512', 'avx2' or 'generic', got '" + name + "'");
}

// The Python type name of h, for messages.
inline std::string type_name(py::handle h) { return std::string(py::str(py::type::of(h).attr("__name__"))); }

// A number as Python prints it (0.1, nan), for messages.
inline std::string num_str(double v) { return std::string(py::str(py::float_(v))); }

// `arr` (argument `name`) as a C-contiguous array of T, converted (forcecast)
// and copied only when it is not one. Every binding's conversion goes through
// here: pybind11's ensure() returns a null handle when the copy cannot be
// allocated (and clears NumPy's MemoryError), which is a MemoryError naming
// the argument and the size here, never a null array.
template <typename T>
py::array_t<T, py::array::c_style | py::array::forcecast> c_array(const py::array& arr, const std::string& name) {
  auto r = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(arr);
  if (!r)
    memory_error(name + ": cannot allocate a C-contiguous " + std::string(py::str(py::dtype::of<T>())) +
                 " copy of shape " + shape_str(arr) + " (" + std::to_string(size_t(arr.size()) * sizeof(T)) +
                 " bytes)");
  return r;
}

// Any array-like of real numbers -> float32 ndarray (no copy when it already is one).
inline py::array to_f32(py::handle h, const char* name) {
  if (h.is_none()) type_error(std::string(name) + ": expected an array of float32, got None");
  // infer (issue 12): an ndarray of float32 is taken as it is (no PyArray_FromAny round trip).
  if (py::isinstance<py::array>(h)) {
    py::array a = py::reinterpret_borrow<py::array>(h);
    if (a.dtype().equal(py::dtype::of<float>())) return a;
  }
  py::array arr = py::array::ensure(h);
  if (!arr) type_error(std::string(name) + ": expected an array-like of numbers, got " +
                       std::string(py::str(py::type::of(h).attr("__name__"))));
  const char kind = arr.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    type_error(std::string(name) + ": expected a real numeric array, got dtype " +
               std::string(py::str(arr.dtype())));
  if (!arr.dtype().equal(py::dtype::of<float>()))  // equal, not is: an unpickled array has its own float32 descr object
    arr = c_array<float>(arr, name);
  return arr;
}

// Read-only float32 input of a given ndim, C-contiguous (copied if it is not).
inline py::array_t<float> input_f32(py::handle h, const char* name, int ndim) {
  py::array arr = to_f32(h, name);
  if (ndim >= 0 && arr.ndim() != ndim)
    value_error(std::string(name) + ": expected a " + std::to_string(ndim) + "-D array, got shape " +
                shape_str(arr));
  if (arr.flags() & py::array::c_style) return py::reinterpret_borrow<py::array_t<float>>(arr);  // infer (issue 12)
  return c_array<float>(arr, name);
}

// A 2-D float32 operand as (pointer, leading dimension, transposed?) over
// existing memory when possible: C-contiguous rows (possibly row-strided) are
// used as they are, and a Fortran-ordered array (e.g. x.T) is read as the
// transpose of its C-ordered storage. Anything else is copied once.
struct MatView {
  const float* data;
  index_t rows, cols, ld;
  bool trans;     // true: element (r, c) is at data[c*ld + r]
  py::array keep;  // owns the memory while the kernel runs
};

inline MatView matrix_view(py::handle h, const char* name) {
  py::array arr = to_f32(h, name);
  if (arr.ndim() != 2)
    value_error(std::string(name) + ": expected a 2-D array, got shape " + shape_str(arr));
  const index_t rows = arr.shape(0), cols = arr.shape(1);
  const index_t es = sizeof(float);
  index_t s0 = arr.strides(0), s1 = arr.strides(1);
  if (rows <= 1) s0 = std::max<index_t>(cols, 1) * es;  // strides of size-1 dims are arbitrary
  if (cols <= 1) s1 = es;
  if (s1 == es && s0 > 0 && s0 % es == 0 && s0 / es >= cols)
    return {static_cast<const float*>(arr.data()), rows, cols, s0 / es, false, arr};
  // Fortran order: column c is contiguous at data + c*ld.
  index_t f0 = arr.strides(0), f1 = arr.strides(1);
  if (rows <= 1) f0 = es;
  if (cols <= 1) f1 = std::max<index_t>(rows, 1) * es;
  if (f0 == es && f1 > 0 && f1 % es == 0 && f1 / es >= rows)
    return {static_cast<const float*>(arr.data()), rows, cols, f1 / es, true, arr};
  py::array c = c_array<float>(arr, name);
  return {static_cast<const float*>(c.data()), rows, cols, std::max<index_t>(cols, 1), false, c};
}

// A float32 ndarray we write into (any shape): writeable, C-contiguous, never
// converted. `what` says how it is written ("to write into", "(updated in place)").
inline py::array inplace_f32(py::handle h, const std::string& name, const char* what) {
  if (!py::isinstance<py::array>(h))
    type_error(name + ": expected a numpy.ndarray of float32 " + what + ", got " + type_name(h));
  py::array arr = py::reinterpret_borrow<py::array>(h);
  if (!arr.dtype().equal(py::dtype::of<float>()))  // equal, not is: an unpickled array has its own float32 descr object
    type_error(name + ": expected dtype float32, got " + std::string(py::str(arr.dtype())));
  if (!(arr.flags() & py::array::c_style))
    value_error(name + ": expected a C-contiguous array (np.ascontiguousarray)");
  if (!arr.writeable()) value_error(name + ": array is read-only");
  return arr;
}

// An output the caller gave us: inplace_f32 of exactly `shape`.
// (The message is built only on failure: this runs on every kernel call.)
inline float* output_f32(py::handle h, const std::string& name, std::initializer_list<index_t> shape) {
  py::array arr = inplace_f32(h, name, "to write into");
  bool ok = arr.ndim() == py::ssize_t(shape.size());
  size_t k = 0;
  for (index_t d : shape) {
    if (ok && arr.shape(k) != d) ok = false;
    ++k;
  }
  if (!ok) value_error(name + ": expected shape " + shape_str(std::vector<py::ssize_t>(shape.begin(), shape.end())) +
                       ", got " + shape_str(arr));
  return static_cast<float*>(arr.mutable_data());
}

// A 1-D float32 input of length n; `why` says where n comes from ("C classes of logits").
inline py::array_t<float> input_f32_len(py::handle h, const char* name, index_t n, const char* why) {
  py::array_t<float> arr = input_f32(h, name, 1);
  if (arr.shape(0) != n)
    value_error(std::string(name) + ": expected shape (" + std::to_string(n) + ",) (" + why + "), got " +
                shape_str(arr));
  return arr;
}

// Byte ranges [lo, hi) of two buffers overlap?
inline bool overlaps(const void* a, size_t abytes, const void* b, size_t bbytes) {
  auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
  return abytes && bbytes && pa < pb + bbytes && pb < pa + abytes;
}

// ------------------------------------------- elementwise kernel arguments ----
// Shared by the elementwise bindings (bindings_ops.cpp, bindings_dropout.cpp).

inline std::vector<py::ssize_t> shape_vec(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// `arr` (argument `name`) has exactly `like`'s shape (any ndim).
inline void check_shape_like(const py::array& arr, const char* name, const py::array& like,
                             const char* like_name) {
  if (shape_vec(arr) != shape_vec(like))
    value_error(std::string(name) + ": expected shape " + shape_str(like) + " (the shape of " + like_name +
                "), got " + shape_str(arr));
}

// An array given by the caller to write into (inplace_f32), with exactly
// `like`'s shape (any ndim).
inline py::array output_like(py::handle h, const char* name, const py::array& like, const char* like_name,
                             const char* what = "to write into") {
  py::array arr = inplace_f32(h, name, what);
  check_shape_like(arr, name, like, like_name);
  return arr;
}

// `in` of shape `like`: same-shape input check (converted if needed).
inline py::array_t<float> input_like(py::handle h, const char* name, const py::array& like, const char* like_name) {
  py::array_t<float> arr = input_f32(h, name, -1);
  check_shape_like(arr, name, like, like_name);
  return arr;
}

// An output may be exactly an input (same memory, same layout: elementwise
// in place) when allow_same, and must not otherwise overlap it.
inline void check_alias(const void* out, size_t out_bytes, const char* out_name, const void* in, size_t in_bytes,
                 const char* in_name, bool allow_same) {
  if (allow_same && out == in && out_bytes == in_bytes) return;
  if (overlaps(out, out_bytes, in, in_bytes))
    value_error(std::string(out_name) + (allow_same ? ": must be " + std::string(in_name) +
                                                          " itself or not share memory with it"
                                                    : ": must not share memory with " + std::string(in_name)));
}

inline size_t fbytes(index_t n) { return size_t(n) * sizeof(float); }

// A dropout probability (argument `name`): a real number, not a bool, in
// [0, 1) (NaN rejected). TypeError / ValueError naming `name`.
inline double dropout_probability(py::handle h, const std::string& name) {
  double p;
  if (py::isinstance<py::bool_>(h) || py::isinstance<py::str>(h))
    type_error(name + ": expected a float in [0, 1), got " + type_name(h));
  try {
    p = h.cast<double>();
  } catch (const py::cast_error&) {
    type_error(name + ": expected a float in [0, 1), got " + type_name(h));
  }
  if (!(p >= 0.0 && p < 1.0))
    value_error(name + ": dropout probability has to be in [0, 1), got " + num_str(p));
  return p;
}

// rows*cols elements must fit comfortably in memory arithmetic.
inline void check_size(index_t rows, index_t cols, const char* what) {
  if (rows < 0 || cols < 0 || (cols && rows > (index_t(1) << 60) / cols / index_t(sizeof(float))))
    value_error(std::string(what) + ": dimensions " + std::to_string(rows) + " x " +
                std::to_string(cols) + " are too large");
}

// Activation names as Python spells them (the registry's and the
// <stem>_forward kernels'), the keyword parameters each takes with their
// defaults (the kernels'), and the ActivationSpec slot each fills. None is
// Activation::Identity. A new Activation enumerator adds its row here.
struct ActivationParam {
  const char* key;  // nullptr: unused slot
  double dflt;
};
struct ActivationName {
  const char* name;
  Activation act;
  ActivationParam p0, p1;  // -> ActivationSpec::p0, p1
};
constexpr ActivationName kActivationNames[] = {
    {"identity", Activation::Identity, {nullptr, 0}, {nullptr, 0}},
    {"relu", Activation::Relu, {nullptr, 0}, {nullptr, 0}},
    {"leaky_relu", Activation::LeakyRelu, {"negative_slope", 0.01}, {nullptr, 0}},
    {"tanh", Activation::Tanh, {nullptr, 0}, {nullptr, 0}},
    {"sigmoid", Activation::Sigmoid, {nullptr, 0}, {nullptr, 0}},
    {"gelu", Activation::Gelu, {nullptr, 0}, {nullptr, 0}},  // + approximate: "none" | "tanh" (GeluTanh)
    {"silu", Activation::Silu, {nullptr, 0}, {nullptr, 0}},
    {"elu", Activation::Elu, {"alpha", 1.0}, {nullptr, 0}},
    {"softplus", Activation::Softplus, {"beta", 1.0}, {"threshold", 20.0}},
};

// An activation hyperparameter given as a Python number (not bool), named
// `what`: finite and representable in float32, and for Softplus's beta
// nonzero (the kernel divides by it). TypeError / ValueError otherwise.
inline float activation_param(py::handle h, const std::string& what, bool nonzero = false) {
  if (!(py::isinstance<py::float_>(h) || py::isinstance<py::int_>(h)) || py::isinstance<py::bool_>(h))
    type_error(what + ": expected a float, got " + type_name(h));
  const double v = h.cast<double>();
  if (!std::isfinite(v) || std::fabs(v) > double(std::numeric_limits<float>::max()))
    value_error(what + ": expected a finite float32 value, got " + num_str(v));
  if (nonzero && v == 0.0) value_error(what + ": expected a nonzero float, got 0.0");
  return float(v);
}

// gelu's `approximate` (named `what`): "none" (erf form) or "tanh".
inline bool parse_gelu_approximate(py::handle h, const std::string& what) {
  if (!py::isinstance<py::str>(h)) type_error(what + ": expected 'none' or 'tanh', got " + type_name(h));
  const std::string s = h.cast<std::string>();
  if (s == "tanh") return true;
  if (s != "none") value_error(what + ": expected 'none' or 'tanh', got '" + s + "'");
  return false;
}

// None | name | {"name": name, **params} (params: the name's keyword
// arguments of its _forward kernel, e.g. {"name": "leaky_relu",
// "negative_slope": 0.2}, {"name": "gelu", "approximate": "tanh"}) ->
// ActivationSpec. TypeError for a wrong kind of object, ValueError for an
// unknown name or key or a bad value, naming the argument `what`.
inline ActivationSpec parse_activation(py::handle h, const std::string& what) {
  if (h.is_none()) return {};
  const auto accepted = [] {  // for messages only (a named activation is parsed on every call)
    std::string s = "None";
    for (const ActivationName& a : kActivationNames) s += std::string(", '") + a.name + "'";
    return s;
  };
  const bool is_dict = py::isinstance<py::dict>(h);
  py::handle name_obj = h;
  py::dict params;
  if (is_dict) {
    params = py::reinterpret_borrow<py::dict>(h);
    if (!params.contains("name")) value_error(what + ": a dict activation needs a 'name' key");
    name_obj = params["name"];
  }
  if (!py::isinstance<py::str>(name_obj))
    type_error(what + ": expected one of " + accepted() + " or a dict {'name': ..., **params}, got " +
               type_name(name_obj));
  const std::string name = name_obj.cast<std::string>();
  for (const ActivationName& a : kActivationNames) {
    if (name != a.name) continue;
    ActivationSpec spec{a.act, float(a.p0.dflt), float(a.p1.dflt)};
    if (!is_dict) return spec;
    for (auto item : params) {
      if (!py::isinstance<py::str>(item.first)) type_error(what + ": dict keys must be str");
      const std::string key = item.first.cast<std::string>();
      const std::string arg = what + "['" + key + "']";
      if (key == "name") continue;
      if (a.p0.key && key == a.p0.key) {
        spec.p0 = activation_param(item.second, arg, a.act == Activation::Softplus);
      } else if (a.p1.key && key == a.p1.key) {
        spec.p1 = activation_param(item.second, arg);
      } else if (a.act == Activation::Gelu && key == "approximate") {
        spec.kind = parse_gelu_approximate(item.second, arg) ? Activation::GeluTanh : Activation::Gelu;
      } else {
        std::string keys;
        for (const char* k : {a.p0.key, a.p1.key, a.act == Activation::Gelu ? "approximate" : nullptr})
          if (k) keys += std::string(keys.empty() ? "" : ", ") + "'" + k + "'";
        value_error(what + ": unknown parameter '" + key + "' for '" + name + "' (accepted: " +
                    (keys.empty() ? std::string("none") : keys) + ")");
      }
    }
    return spec;
  }
  value_error(what + ": expected one of " + accepted() + ", got '" + name + "'");
}

inline Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  value_error("reduction: expected 'mean', 'sum' or 'none', got '" + r + "'");
}

// label_smoothing (named `name`) must be in [0, 1]; NaN is rejected.
inline void check_label_smoothing(double label_smoothing, const std::string& name) {
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    value_error(name + ": expected a float in [0, 1], got " + num_str(label_smoothing));
}

// Class index `value` at `i` of `name` is neither in [0, C) nor ignore_index.
// `item` is what the binding calls one entry ("value", "label").
[[noreturn]] inline void class_label_error(const std::string& name, const char* item, const std::string& value,
                                           index_t i, index_t C, std::int64_t ignore_index) {
  value_error(name + ": " + item + " " + value + " at index " + std::to_string(i) + " is out of range [0, " +
              std::to_string(C) + ") and is not ignore_index (" + std::to_string(ignore_index) + ")");
}

// Every t[i] (N of them) is in [0, C) or == ignore_index.
inline void check_class_labels(const std::int64_t* t, index_t N, index_t C, std::int64_t ignore_index,
                               const std::string& name, const char* item = "value") {
  for (index_t i = 0; i < N; ++i)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
      class_label_error(name, item, std::to_string(t[i]), i, C, ignore_index);
}

// `name`: (N,) integer class indices -> int64 C-contiguous, every one in
// [0, C) or == ignore_index (check_class_labels); None, bool or float dtypes
// -> TypeError, other shapes -> ValueError (`rows` says where N comes from).
// An empty Python sequence (np.asarray([]) is float64) is an empty index list.
inline py::array_t<std::int64_t> class_labels_i64(py::handle h, index_t N, index_t C, std::int64_t ignore_index,
                                                  const std::string& name, const char* item, const char* rows) {
  if (h.is_none()) type_error(name + ": expected an array of integer class indices, got None");
  const bool given_array = py::isinstance<py::array>(h);
  py::array arr = py::array::ensure(h);
  if (!arr) type_error(name + ": expected an array-like of integer class indices, got " + type_name(h));
  const char kind = arr.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    if (!given_array && arr.size() == 0 && arr.ndim() == 1) {
      arr = py::array_t<std::int64_t>(0);
    } else {
      type_error(name + ": expected integer class indices, got dtype " + std::string(py::str(arr.dtype())) +
                 (kind == 'f' ? " (use " + name + ".astype(np.int64) if the values are whole numbers)" : ""));
    }
  }
  if (arr.ndim() != 1 || arr.shape(0) != N)
    value_error(name + ": expected shape (" + std::to_string(N) + ",) (" + rows + "), got " + shape_str(arr));
  if (kind == 'u' && arr.itemsize() == 8) {  // uint64 above INT64_MAX would wrap to negatives
    auto u = c_array<std::uint64_t>(arr, name);
    const std::uint64_t* p = u.data();
    for (index_t i = 0; i < N; ++i)
      if (p[i] > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        class_label_error(name, item, std::to_string(p[i]), i, C, ignore_index);
  }
  auto t = c_array<std::int64_t>(arr, name);
  check_class_labels(t.data(), N, C, ignore_index, name, item);
  return t;
}

// torch.optim.SGD's hyperparameter checks (and NaN, which would silently
// poison the parameter), on the values as given (before any float cast).
// Each option is named `key` when prefix is empty, else `prefix['key']`.
inline void check_sgd_options(double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                              const std::string& prefix) {
  auto key = [&](const char* k) { return prefix.empty() ? std::string(k) : prefix + "['" + k + "']"; };
  if (!(lr >= 0.0)) value_error(key("lr") + ": invalid learning rate " + num_str(lr) + " (expected lr >= 0)");
  if (!(momentum >= 0.0))
    value_error(key("momentum") + ": invalid momentum value " + num_str(momentum) + " (expected >= 0)");
  if (!(weight_decay >= 0.0))
    value_error(key("weight_decay") + ": invalid weight_decay value " + num_str(weight_decay) +
                " (expected >= 0)");
  if (std::isnan(dampening)) value_error(key("dampening") + ": expected a number, got nan");
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    value_error(key("nesterov") + ": requires momentum > 0 and dampening == 0 (got momentum=" +
                num_str(momentum) + ", dampening=" + num_str(dampening) + ")");
}

// Adam's and AdamW's hyperparameter checks (torch.optim.Adam's, and NaN),
// naming the argument: `prefix` + name ("" here, "optimizer['params'][i]" in
// the fused epoch's binding).
inline void check_adam_hyper(const std::string& prefix, double lr, double beta1, double beta2, double eps,
                      double weight_decay) {
  auto arg = [&](const char* key) { return prefix.empty() ? std::string(key) : prefix + "['" + key + "']"; };
  if (!(lr >= 0.0)) value_error(arg("lr") + ": invalid learning rate " + num_str(lr) + " (expected lr >= 0)");
  if (!(eps >= 0.0)) value_error(arg("eps") + ": invalid epsilon value " + num_str(eps) + " (expected eps >= 0)");
  if (!(beta1 >= 0.0 && beta1 < 1.0))
    value_error(arg("beta1") + ": invalid beta parameter " + num_str(beta1) + " (expected 0 <= beta1 < 1)");
  if (!(beta2 >= 0.0 && beta2 < 1.0))
    value_error(arg("beta2") + ": invalid beta parameter " + num_str(beta2) + " (expected 0 <= beta2 < 1)");
  if (!(weight_decay >= 0.0))
    value_error(arg("weight_decay") + ": invalid weight_decay value " + num_str(weight_decay) + " (expected >= 0)");
}

// ---- RMSprop, Adagrad (kernels rmsprop_update / adagrad_update and the fused epoch) ----

// `prefix` + key as check_adam_hyper names it.
inline std::string option_name(const std::string& prefix, const char* key) {
  return prefix.empty() ? std::string(key) : prefix + "['" + key + "']";
}

// `what` (named `key`) must be >= 0; NaN is rejected. torch's wording ("invalid
// <what> value").
inline void check_nonnegative(const std::string& prefix, const char* key, const char* what, double v) {
  if (!(v >= 0.0))
    value_error(option_name(prefix, key) + ": invalid " + what + " " + num_str(v) + " (expected " + key + " >= 0)");
}

// torch.optim.RMSprop's hyperparameter checks (and NaN).
inline void check_rmsprop_hyper(const std::string& prefix, double lr, double alpha, double eps,
                                double weight_decay, double momentum) {
  check_nonnegative(prefix, "lr", "learning rate", lr);
  check_nonnegative(prefix, "eps", "epsilon value", eps);
  check_nonnegative(prefix, "momentum", "momentum value", momentum);
  check_nonnegative(prefix, "weight_decay", "weight_decay value", weight_decay);
  check_nonnegative(prefix, "alpha", "alpha value", alpha);
}

// torch.optim.Adagrad's hyperparameter checks (and NaN); initial_accumulator_value
// only sets the state's start and is checked by the Python layer.
inline void check_adagrad_hyper(const std::string& prefix, double lr, double lr_decay, double weight_decay,
                                double eps) {
  check_nonnegative(prefix, "lr", "learning rate", lr);
  check_nonnegative(prefix, "lr_decay", "lr_decay value", lr_decay);
  check_nonnegative(prefix, "weight_decay", "weight_decay value", weight_decay);
  check_nonnegative(prefix, "eps", "epsilon value", eps);
}

// ------------------------------------------------------- thread counts ----
// An integer argument (a Python or NumPy integer, not a bool) in [lo, hi]:
// TypeError / ValueError naming `name` and the range otherwise.
inline long long int_in_range(py::handle h, const std::string& name, long long lo, long long hi) {
  const std::string range = "an int in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (py::isinstance<py::bool_>(h)) type_error(name + ": expected " + range + ", got bool");
  PyObject* idx = PyNumber_Index(h.ptr());
  if (!idx) {
    PyErr_Clear();
    type_error(name + ": expected " + range + ", got " + type_name(h));
  }
  py::int_ v = py::reinterpret_steal<py::int_>(idx);
  if (v < py::int_(lo) || v > py::int_(hi))
    value_error(name + ": expected " + range + ", got " + std::string(py::str(v)));
  return v.cast<long long>();
}

// A thread count: an int in [1, max_threads()] (kernels.h), checked as int_in_range.
inline int thread_count_arg(py::handle h, const std::string& name) {
  return int(int_in_range(h, name, 1, max_threads()));
}

}  // namespace fastmlp
#pragma GCC visibility pop
