// pybind11 bindings of dropout_forward / dropout_backward (ops/dropout.cpp)
// and of the Philox4x32-10 bijection for known-answer tests. Called from
// bindings.cpp's PYBIND11_MODULE. Every argument is checked before any
// kernel touches memory; kernels run with the GIL released.
#include <cstdint>
#include <string>
#include "bindings/bindings_util.h"
#include "kernels.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

constexpr const char* kSeedRange = "an int in [0, 2**64 - 1]";

// `seed`: any Python integer (or NumPy integer) in [0, 2**64 - 1]; a bool or
// a non-integer is a TypeError, out of range a ValueError.
std::uint64_t parse_seed(py::handle h, const char* name) {
  if (py::isinstance<py::bool_>(h)) type_error(std::string(name) + ": expected " + kSeedRange + ", got bool");
  PyObject* idx = PyNumber_Index(h.ptr());
  if (!idx) {
    PyErr_Clear();
    type_error(std::string(name) + ": expected " + kSeedRange + ", got " + type_name(h));
  }
  py::int_ v = py::reinterpret_steal<py::int_>(idx);
  if (v < py::int_(0) || v > py::int_(py::int_(1).attr("__lshift__")(64)) - py::int_(1))
    value_error(std::string(name) + ": expected " + kSeedRange + ", got " + std::string(py::str(v)));
  return v.cast<std::uint64_t>();
}

using DropoutFn = void (*)(const float*, float*, index_t, double, std::uint64_t);

// fn(in, out, n, p, seed) on `in` (argument in_name) into `out` (out_name):
// None for a new array; else exactly in's shape, in itself or disjoint.
py::array dropout_binding(DropoutFn fn, py::handle in_obj, py::handle p_obj, py::handle seed_obj,
                          py::handle out_obj, const char* in_name, const char* out_name) {
  py::array_t<float> in = input_f32(in_obj, in_name, -1);
  const double p = dropout_probability(p_obj, "p");
  const std::uint64_t seed = parse_seed(seed_obj, "seed");
  const index_t n = in.size();
  py::array out = out_obj.is_none() ? py::array(new_f32(shape_vec(in))) : output_like(out_obj, out_name, in, in_name);
  float* o = static_cast<float*>(out.mutable_data());
  check_alias(o, fbytes(n), out_name, in.data(), fbytes(n), in_name, true);
  {
    py::gil_scoped_release nogil;
    fn(in.data(), o, n, p, seed);
  }
  return out;
}

// A fixed-length sequence of uint32 words (argument `name`).
void words(py::handle h, const char* name, size_t n, std::uint32_t* w) {
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h) || py::len(h) != n)
    type_error(std::string(name) + ": expected a sequence of " + std::to_string(n) + " ints in [0, 2**32)");
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  for (size_t i = 0; i < n; ++i) {
    const std::uint64_t v = parse_seed(s[i], name);
    if (v > 0xffffffffull) value_error(std::string(name) + ": words must be in [0, 2**32), got " + std::to_string(v));
    w[i] = std::uint32_t(v);
  }
}

}  // namespace

void bind_dropout(py::module_& m) {
  m.def("dropout_forward",
        [](py::handle x, py::handle p, py::handle seed, py::handle out) {
          return dropout_binding(dropout_forward, x, p, seed, out, "x", "out");
        },
        py::arg("x"), py::arg("p"), py::arg("seed"), py::arg("out") = py::none(),
        "y = x * mask, mask = keep ? 1/(1-p) (float32) : 0 from Philox4x32-10 keyed by seed; out may be x.");
  m.def("dropout_backward",
        [](py::handle dout, py::handle p, py::handle seed, py::handle dx) {
          return dropout_binding(dropout_backward, dout, p, seed, dx, "dout", "dx");
        },
        py::arg("dout"), py::arg("p"), py::arg("seed"), py::arg("dx") = py::none(),
        "dx = dout * mask, the forward's mask for (p, seed) regenerated; dx may be dout.");
  m.def("_philox4x32_10",
        [](py::handle ctr_obj, py::handle key_obj) {
          std::uint32_t ctr[4], key[2], out[4];
          words(ctr_obj, "ctr", 4, ctr);
          words(key_obj, "key", 2, key);
          philox4x32_10(ctr, key, out);
          return py::make_tuple(out[0], out[1], out[2], out[3]);
        },
        py::arg("ctr"), py::arg("key"), "Philox4x32-10(ctr (4 words), key (2 words)) -> 4 words (tests only).");
}
