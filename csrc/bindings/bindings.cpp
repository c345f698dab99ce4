// PYBIND11_MODULE(_core): the GEMM, threading, dispatch and build-info
// bindings (the other kernels are bound in bindings_ops.cpp). Every argument
// is checked before any memory is touched; kernels run with the GIL released.
#include <omp.h>
#include <cstdlib>
#include <cstring>
#include <string>
#include "bindings/bindings_util.h"
#include "kernels.h"

namespace py = pybind11;
using namespace fastmlp;

void bind_ops(py::module_& m);
void bind_train(py::module_& m);
void bind_dropout(py::module_& m);
void bind_activation(py::module_& m);  // bindings_activation.cpp
void bind_threads(py::module_& m);     // bindings_threads.cpp
void bind_infer(py::module_& m);       // bindings_infer.cpp (issue 12)
void bind_loss_grad(py::module_& m);  // bindings_loss_grad.cpp
// blk: the per-CPU GEMM plan
void bind_gemm(py::module_& m);  // bindings_gemm.cpp

namespace {

using GemmFn = decltype(&sgemm);

py::object gemm_binding(GemmFn fn, py::handle a_obj, py::handle b_obj, py::handle c_obj,
                       float alpha, float beta, bool trans_a, bool trans_b, py::handle bias_obj,
                       py::handle activation_obj) {
  const ActivationSpec act = parse_activation(activation_obj, "activation");
  MatView a = matrix_view(a_obj, "a"), b = matrix_view(b_obj, "b");
  const index_t M = trans_a ? a.cols : a.rows, Ka = trans_a ? a.rows : a.cols;
  const index_t Kb = trans_b ? b.cols : b.rows, N = trans_b ? b.rows : b.cols;
  if (Ka != Kb)
    value_error("b: op(b) must be (K, N) with K = " + std::to_string(Ka) + " to match op(a) (" +
                std::to_string(M) + ", " + std::to_string(Ka) + "), got op(b) (" + std::to_string(Kb) +
                ", " + std::to_string(N) + ")" + (trans_b ? " (trans_b=True)" : ""));
  check_size(M, N, "c");
  // small: py::object, not a default py::array / array_t: those are new empty NumPy
  // arrays, made and freed on every call.
  const float* bias = nullptr;
  py::object bias_arr;
  if (!bias_obj.is_none()) {
    py::array_t<float> ba = input_f32(bias_obj, "bias", 1);
    if (ba.shape(0) != N) value_error("bias: expected shape (" + std::to_string(N) + ",), got " + shape_str(ba));
    bias = ba.data();
    bias_arr = std::move(ba);
  }
  py::object c;
  float* cptr;
  if (c_obj.is_none()) {
    py::array fresh = new_f32({M, N});
    cptr = static_cast<float*>(fresh.mutable_data());
    c = std::move(fresh);
    beta = 0.0f;  // fresh memory is never read
  } else {
    cptr = output_f32(c_obj, "c", {M, N});
    c = py::reinterpret_borrow<py::object>(c_obj);
    const size_t cbytes = size_t(M * N) * sizeof(float);
    auto extent = [](const MatView& v) {
      return size_t(((v.trans ? v.cols : v.rows) - 1) * v.ld + (v.trans ? v.rows : v.cols)) * sizeof(float);
    };
    if ((a.rows && a.cols && overlaps(cptr, cbytes, a.data, extent(a))) ||
        (b.rows && b.cols && overlaps(cptr, cbytes, b.data, extent(b))) ||
        (bias && overlaps(cptr, cbytes, bias, size_t(N) * sizeof(float))))
      value_error("c: must not share memory with a, b or bias");
  }
  // A view that is the transpose of its storage flips the op.
  const bool ta = trans_a != a.trans, tb = trans_b != b.trans;
  {
    py::gil_scoped_release nogil;
    fn(ta, tb, M, N, Ka, alpha, a.data, a.ld, b.data, b.ld, beta, cptr, N, bias, act);
  }
  return c;
}

// small: _core.sgemm as a CPython METH_FASTCALL function rather than a pybind11
// def: a small GEMM's call cost is mostly dispatch, and pybind11's dispatcher
// (argument vectors on the heap, per-argument casters, overload loop) cost about
// as much as the rest of the binding. The same arguments, names, defaults and
// checks (gemm_binding); alpha, beta: a float or an int (kernels.sgemm passes
// exact floats), trans_a, trans_b: a bool; TypeError naming the argument otherwise.
constexpr const char* kSgemmArgs[] = {"a", "b", "c", "alpha", "beta", "trans_a", "trans_b", "bias", "activation"};
constexpr int kSgemmNargs = 9;

float sgemm_real_arg(PyObject* o, const char* name) {
  if (PyFloat_CheckExact(o)) return float(PyFloat_AS_DOUBLE(o));
  if ((PyFloat_Check(o) || PyLong_Check(o)) && !PyBool_Check(o)) {
    const double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    return float(v);
  }
  type_error(std::string(name) + ": expected a float, got " + type_name(o));
}

bool sgemm_flag_arg(PyObject* o, const char* name) {
  if (o == Py_True) return true;
  if (o == Py_False) return false;
  type_error(std::string(name) + ": expected a bool, got " + type_name(o));
}

PyObject* sgemm_fastcall(PyObject*, PyObject* const* args, Py_ssize_t nargsf, PyObject* kwnames) {
  try {
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs > kSgemmNargs)
      type_error("sgemm: takes at most " + std::to_string(kSgemmNargs) + " arguments (" + std::to_string(nargs) +
                 " given)");
    PyObject* v[kSgemmNargs] = {};
    for (Py_ssize_t i = 0; i < nargs; ++i) v[i] = args[i];
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      const char* key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
      if (!key) throw py::error_already_set();
      int idx = -1;
      for (int i = 0; i < kSgemmNargs; ++i)
        if (std::strcmp(key, kSgemmArgs[i]) == 0) idx = i;
      if (idx < 0) type_error(std::string("sgemm: unexpected keyword argument '") + key + "'");
      if (v[idx]) type_error(std::string("sgemm: got multiple values for argument '") + key + "'");
      v[idx] = args[nargs + k];
    }
    if (!v[0] || !v[1]) type_error(std::string("sgemm: missing required argument '") + (v[0] ? "b" : "a") + "'");
    const py::handle none = py::none();
    auto h = [&](int i) { return v[i] ? py::handle(v[i]) : none; };
    const float alpha = v[3] ? sgemm_real_arg(v[3], "alpha") : 1.0f;
    const float beta = v[4] ? sgemm_real_arg(v[4], "beta") : 0.0f;
    const bool ta = v[5] ? sgemm_flag_arg(v[5], "trans_a") : false;
    const bool tb = v[6] ? sgemm_flag_arg(v[6], "trans_b") : false;
    return gemm_binding(sgemm, h(0), h(1), h(2), alpha, beta, ta, tb, h(7), h(8)).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmlp's compiled kernels (private: use fastmlp.kernels)";

  const char* gemm_doc =
      "C (M,N) = act(alpha * op(a) @ op(b) + beta * C + bias); returns C.\n"
      "activation: None (identity), a name ('relu', 'leaky_relu', 'tanh', 'sigmoid', 'gelu', 'silu', 'elu',\n"
      "'softplus', 'identity') or {'name': name, **params} (the _forward kernel's keyword arguments);\n"
      "the same bits as sgemm then <stem>_forward. Anything else: TypeError/ValueError naming activation.";
  {  // small: sgemm_fastcall (its first doc line is the signature, as pybind11 writes it)
    static const std::string doc =
        std::string("sgemm(a: object, b: object, c: object = None, alpha: float = 1.0, beta: float = 0.0, "
                    "trans_a: bool = False, trans_b: bool = False, bias: object = None, "
                    "activation: object = None) -> numpy.ndarray\n\n") + gemm_doc;
    static PyMethodDef def = {"sgemm", reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(sgemm_fastcall)),
                              METH_FASTCALL | METH_KEYWORDS, doc.c_str()};
    PyObject* f = PyCFunction_NewEx(&def, nullptr, m.attr("__name__").ptr());
    if (!f) throw py::error_already_set();
    m.add_object("sgemm", py::reinterpret_steal<py::object>(f));
  }
  m.def("sgemm_naive",
        [](py::handle a, py::handle b, py::handle c, float alpha, float beta, bool ta, bool tb,
           py::handle bias, py::handle act) { return gemm_binding(sgemm_naive, a, b, c, alpha, beta, ta, tb, bias, act); },
        py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("bias") = py::none(), py::arg("activation") = py::none(),
        "The triple-loop reference with sgemm's contract (slow; for tests).");

  m.def("cpu_capability", [] { return std::string(isa_name(active_isa())); });
  m.def("best_cpu_capability", [] { return std::string(isa_name(best_isa())); });
  m.def("set_cpu_capability", [](const std::string& name) {
    Isa want = parse_isa(name, "cpu capability");
    if (static_cast<int>(want) > static_cast<int>(best_isa()))
      value_error("cpu capability '" + name + "' is not supported by this CPU (best: " +
                  isa_name(best_isa()) + ")");
    set_active_isa(want);
  }, py::arg("name"));

  m.def("peak_gflops", [](py::handle threads_obj, double seconds) {
    const int threads = thread_count_arg(threads_obj, "threads");
    if (!(seconds > 0 && seconds <= 60)) value_error("seconds: expected 0 < seconds <= 60");
    py::gil_scoped_release nogil;
    return peak_gflops(threads, seconds);
  }, py::arg("threads"), py::arg("seconds") = 0.2);

  py::dict info;
  info["version"] = FASTMLP_VERSION;
  info["compiler"] = FASTMLP_COMPILER;
  info["cxx_flags"] = FASTMLP_CXX_FLAGS;
  info["build_type"] = FASTMLP_BUILD_TYPE;
  info["sanitized"] = bool(FASTMLP_SANITIZED);
#ifdef _OPENMP
  info["openmp"] = int(_OPENMP);
#endif
  m.attr("build_info") = info;

  bind_ops(m);
  bind_train(m);
  bind_dropout(m);
  bind_activation(m);
  bind_threads(m);
  bind_infer(m);
  bind_loss_grad(m);
  bind_gemm(m);  // blk
}
