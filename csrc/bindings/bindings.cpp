// PYBIND11_MODULE(_core): the GEMM, threading, dispatch and build-info
// bindings (the other kernels are bound in bindings_ops.cpp). Every argument
// is checked before any memory is touched; kernels run with the GIL released.
#include <omp.h>
#include <cstdlib>
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

py::array gemm_binding(GemmFn fn, py::handle a_obj, py::handle b_obj, py::handle c_obj,
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
  const float* bias = nullptr;
  py::array_t<float> bias_arr;
  if (!bias_obj.is_none()) {
    bias_arr = input_f32(bias_obj, "bias", 1);
    if (bias_arr.shape(0) != N)
      value_error("bias: expected shape (" + std::to_string(N) + ",), got " + shape_str(bias_arr));
    bias = bias_arr.data();
  }
  py::array c;
  float* cptr;
  if (c_obj.is_none()) {
    c = new_f32({M, N});
    cptr = static_cast<float*>(c.mutable_data());
    beta = 0.0f;  // fresh memory is never read
  } else {
    cptr = output_f32(c_obj, "c", {M, N});
    c = py::reinterpret_borrow<py::array>(c_obj);
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

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmlp's compiled kernels (private: use fastmlp.kernels)";

  const char* gemm_doc =
      "C (M,N) = act(alpha * op(a) @ op(b) + beta * C + bias); returns C.\n"
      "activation: None (identity), a name ('relu', 'leaky_relu', 'tanh', 'sigmoid', 'gelu', 'silu', 'elu',\n"
      "'softplus', 'identity') or {'name': name, **params} (the _forward kernel's keyword arguments);\n"
      "the same bits as sgemm then <stem>_forward. Anything else: TypeError/ValueError naming activation.";
  m.def("sgemm",
        [](py::handle a, py::handle b, py::handle c, float alpha, float beta, bool ta, bool tb,
           py::handle bias, py::handle act) { return gemm_binding(sgemm, a, b, c, alpha, beta, ta, tb, bias, act); },
        py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("bias") = py::none(), py::arg("activation") = py::none(), gemm_doc);
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
