// Argument checking shared by the pybind11 bindings. Every check runs before
// any kernel touches memory; failures are TypeError (wrong kind of object or
// dtype) or ValueError (wrong shape, layout, value), naming the argument.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
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
inline py::array_t<float> new_f32(const std::vector<py::ssize_t>& shape) {
  size_t n = 1;
  for (py::ssize_t d : shape) n *= size_t(d);
  void* p = aligned_alloc64(n * sizeof(float));
  py::capsule owner(p, [](void* q) { std::free(q); });
  return py::array_t<float>(shape, static_cast<float*>(p), owner);
}

[[noreturn]] inline void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void type_error(const std::string& msg) { throw py::type_error(msg); }

// Any array-like of real numbers -> float32 ndarray (no copy when it already is one).
inline py::array to_f32(py::handle h, const char* name) {
  if (h.is_none()) type_error(std::string(name) + ": expected an array of float32, got None");
  py::array arr = py::array::ensure(h);
  if (!arr) type_error(std::string(name) + ": expected an array-like of numbers, got " +
                       std::string(py::str(py::type::of(h).attr("__name__"))));
  const char kind = arr.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    type_error(std::string(name) + ": expected a real numeric array, got dtype " +
               std::string(py::str(arr.dtype())));
  if (!arr.dtype().is(py::dtype::of<float>()))
    arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
  return arr;
}

// Read-only float32 input of a given ndim, C-contiguous (copied if it is not).
inline py::array_t<float> input_f32(py::handle h, const char* name, int ndim) {
  py::array arr = to_f32(h, name);
  if (ndim >= 0 && arr.ndim() != ndim)
    value_error(std::string(name) + ": expected a " + std::to_string(ndim) + "-D array, got shape " +
                shape_str(arr));
  return py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
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
  py::array c = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
  return {static_cast<const float*>(c.data()), rows, cols, std::max<index_t>(cols, 1), false, c};
}

// An output the caller gave us: must be a writeable, C-contiguous float32
// ndarray of exactly `shape` (we write into it, so nothing is converted).
inline float* output_f32(py::handle h, const char* name, std::initializer_list<index_t> shape) {
  if (!py::isinstance<py::array>(h))
    type_error(std::string(name) + ": expected a numpy.ndarray of float32 to write into, got " +
               std::string(py::str(py::type::of(h).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(h);
  if (!arr.dtype().is(py::dtype::of<float>()))
    type_error(std::string(name) + ": expected dtype float32, got " + std::string(py::str(arr.dtype())));
  std::ostringstream want;
  want << "(";
  size_t k = 0;
  bool ok = arr.ndim() == py::ssize_t(shape.size());
  for (index_t d : shape) {
    want << (k ? ", " : "") << d;
    if (ok && arr.shape(k) != d) ok = false;
    ++k;
  }
  if (shape.size() == 1) want << ",";
  want << ")";
  if (!ok) value_error(std::string(name) + ": expected shape " + want.str() + ", got " + shape_str(arr));
  if (!(arr.flags() & py::array::c_style))
    value_error(std::string(name) + ": expected a C-contiguous array (np.ascontiguousarray)");
  if (!arr.writeable()) value_error(std::string(name) + ": array is read-only");
  return static_cast<float*>(arr.mutable_data());
}

// Byte ranges [lo, hi) of two buffers overlap?
inline bool overlaps(const void* a, size_t abytes, const void* b, size_t bbytes) {
  auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
  return abytes && bbytes && pa < pb + bbytes && pb < pa + abytes;
}

// rows*cols elements must fit comfortably in memory arithmetic.
inline void check_size(index_t rows, index_t cols, const char* what) {
  if (rows < 0 || cols < 0 || (cols && rows > (index_t(1) << 60) / cols / index_t(sizeof(float))))
    value_error(std::string(what) + ": dimensions " + std::to_string(rows) + " x " +
                std::to_string(cols) + " are too large");
}

// Activation names as Python spells them; None is Activation::Identity.
// A new Activation enumerator adds its row here.
struct ActivationName {
  const char* name;
  Activation act;
};
constexpr ActivationName kActivationNames[] = {{"relu", Activation::Relu}};

// None or one of kActivationNames; otherwise TypeError (not a str) or
// ValueError, naming the argument `what` and listing the accepted values.
inline Activation parse_activation(py::handle h, const std::string& what) {
  if (h.is_none()) return Activation::Identity;
  std::string accepted = "None";
  for (const ActivationName& a : kActivationNames) accepted += std::string(", '") + a.name + "'";
  if (!py::isinstance<py::str>(h))
    type_error(what + ": expected one of " + accepted + ", got " +
               std::string(py::str(py::type::of(h).attr("__name__"))));
  const std::string name = h.cast<std::string>();
  for (const ActivationName& a : kActivationNames)
    if (name == a.name) return a.act;
  value_error(what + ": expected one of " + accepted + ", got '" + name + "'");
}

inline Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  value_error("reduction: expected 'mean', 'sum' or 'none', got '" + r + "'");
}

// Adam's and AdamW's hyperparameter checks (torch.optim.Adam's, and NaN),
// naming the argument: `prefix` + name ("" here, "optimizer['params'][i]" in
// the fused epoch's binding).
inline void check_adam_hyper(const std::string& prefix, double lr, double beta1, double beta2, double eps,
                      double weight_decay) {
  auto num = [](double v) { return std::string(py::str(py::float_(v))); };
  auto arg = [&](const char* key) { return prefix.empty() ? std::string(key) : prefix + "['" + key + "']"; };
  if (!(lr >= 0.0)) value_error(arg("lr") + ": invalid learning rate " + num(lr) + " (expected lr >= 0)");
  if (!(eps >= 0.0)) value_error(arg("eps") + ": invalid epsilon value " + num(eps) + " (expected eps >= 0)");
  if (!(beta1 >= 0.0 && beta1 < 1.0))
    value_error(arg("beta1") + ": invalid beta parameter " + num(beta1) + " (expected 0 <= beta1 < 1)");
  if (!(beta2 >= 0.0 && beta2 < 1.0))
    value_error(arg("beta2") + ": invalid beta parameter " + num(beta2) + " (expected 0 <= beta2 < 1)");
  if (!(weight_decay >= 0.0))
    value_error(arg("weight_decay") + ": invalid weight_decay value " + num(weight_decay) + " (expected >= 0)");
}

}  // namespace fastmlp
#pragma GCC visibility pop
