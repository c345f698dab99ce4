// pybind11 bindings of the activation kernels (kernels.h, Activations):
// <stem>_forward(x, [params], out=None) and <stem>_backward(dout, saved,
// [params], dx=None), plus the private _vecmath for the accuracy tests.
// Registered from bindings.cpp. Every argument is checked before any memory
// is touched; kernels run with the GIL released.
#include <string>
#include "bindings/bindings_util.h"
#include "kernels.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

// y = fn(x, y, n) into out (or a new array); out may be x exactly.
template <class Fn>
py::array forward_py(py::handle x_obj, py::handle out_obj, Fn fn) {
  py::array_t<float> x = input_f32(x_obj, "x", -1);
  const index_t n = x.size();
  py::array out = out_obj.is_none() ? py::array(new_f32(shape_vec(x))) : output_like(out_obj, "out", x, "x");
  float* y = static_cast<float*>(out.mutable_data());
  check_alias(y, fbytes(n), "out", x.data(), fbytes(n), "x", true);
  {
    py::gil_scoped_release nogil;
    fn(x.data(), y, n);
  }
  return out;
}

// dx = fn(dout, saved, dx, n); `saved` is named saved_name ("y", "x" or
// "saved"); dx may be dout or saved exactly.
template <class Fn>
py::array backward_py(py::handle dout_obj, py::handle saved_obj, const char* saved_name, py::handle dx_obj,
                      Fn fn) {
  py::array_t<float> dout = input_f32(dout_obj, "dout", -1);
  py::array_t<float> s = input_like(saved_obj, saved_name, dout, "dout");
  const index_t n = dout.size();
  py::array dx = dx_obj.is_none() ? py::array(new_f32(shape_vec(dout))) : output_like(dx_obj, "dx", dout, "dout");
  float* d = static_cast<float*>(dx.mutable_data());
  check_alias(d, fbytes(n), "dx", dout.data(), fbytes(n), "dout", true);
  check_alias(d, fbytes(n), "dx", s.data(), fbytes(n), saved_name, true);
  {
    py::gil_scoped_release nogil;
    fn(dout.data(), s.data(), d, n);
  }
  return dx;
}

float param(py::handle h, const char* name, bool nonzero = false) { return activation_param(h, name, nonzero); }

}  // namespace

void bind_activation(py::module_& m) {
  using py::arg;
  const py::none none;
  m.def("identity_forward", [](py::handle x, py::handle out) { return forward_py(x, out, identity_forward); },
        arg("x"), arg("out") = none, "identity_forward(x, out=None): y = x (a copy); out may be x.");
  m.def("identity_backward",
        [](py::handle dout, py::handle saved, py::handle dx) {
          return backward_py(dout, saved, "saved", dx, identity_backward);
        },
        arg("dout"), arg("saved"), arg("dx") = none,
        "identity_backward(dout, saved, dx=None): dx = dout (saved: unused, dout's shape).");

  m.def("leaky_relu_forward",
        [](py::handle x, py::handle slope, py::handle out) {
          const float s = param(slope, "negative_slope");
          return forward_py(x, out, [s](const float* a, float* y, index_t n) { leaky_relu_forward(a, y, n, s); });
        },
        arg("x"), arg("negative_slope") = 0.01, arg("out") = none,
        "leaky_relu_forward(x, negative_slope=0.01, out=None): y = x > 0 ? x : x * negative_slope (exact).");
  m.def("leaky_relu_backward",
        [](py::handle dout, py::handle x, py::handle slope, py::handle dx) {
          const float s = param(slope, "negative_slope");
          return backward_py(dout, x, "x", dx, [s](const float* d, const float* a, float* g, index_t n) {
            leaky_relu_backward(d, a, g, n, s);
          });
        },
        arg("dout"), arg("x"), arg("negative_slope") = 0.01, arg("dx") = none,
        "leaky_relu_backward(dout, x, negative_slope=0.01, dx=None): dx = x > 0 ? dout : dout * negative_slope.");

  m.def("tanh_forward", [](py::handle x, py::handle out) { return forward_py(x, out, tanh_forward); }, arg("x"),
        arg("out") = none, "tanh_forward(x, out=None): y = tanh(x), vector tanh within 1.55 ulp (kernels.h).");
  m.def("tanh_backward",
        [](py::handle dout, py::handle y, py::handle dx) { return backward_py(dout, y, "y", dx, tanh_backward); },
        arg("dout"), arg("y"), arg("dx") = none, "tanh_backward(dout, y, dx=None): dx = dout * (1 - y*y), y the output.");

  m.def("sigmoid_forward", [](py::handle x, py::handle out) { return forward_py(x, out, sigmoid_forward); },
        arg("x"), arg("out") = none, "sigmoid_forward(x, out=None): y = 1 / (1 + exp(-x)), within 1.9 ulp (kernels.h).");
  m.def("sigmoid_backward",
        [](py::handle dout, py::handle y, py::handle dx) { return backward_py(dout, y, "y", dx, sigmoid_backward); },
        arg("dout"), arg("y"), arg("dx") = none,
        "sigmoid_backward(dout, y, dx=None): dx = dout * (1 - y) * y, y the output.");

  m.def("gelu_forward",
        [](py::handle x, py::handle approximate, py::handle out) {
          const bool t = parse_gelu_approximate(approximate, "approximate");
          return forward_py(x, out, [t](const float* a, float* y, index_t n) { gelu_forward(a, y, n, t); });
        },
        arg("x"), arg("approximate") = "none", arg("out") = none,
        "gelu_forward(x, approximate='none', out=None): x * 0.5 * (1 + erf(x / sqrt 2)), or with 'tanh'\n"
        "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).");
  m.def("gelu_backward",
        [](py::handle dout, py::handle x, py::handle approximate, py::handle dx) {
          const bool t = parse_gelu_approximate(approximate, "approximate");
          return backward_py(dout, x, "x", dx, [t](const float* d, const float* a, float* g, index_t n) {
            gelu_backward(d, a, g, n, t);
          });
        },
        arg("dout"), arg("x"), arg("approximate") = "none", arg("dx") = none,
        "gelu_backward(dout, x, approximate='none', dx=None): dout * gelu'(x), x the input.");

  m.def("silu_forward", [](py::handle x, py::handle out) { return forward_py(x, out, silu_forward); }, arg("x"),
        arg("out") = none, "silu_forward(x, out=None): y = x / (1 + exp(-x)).");
  m.def("silu_backward",
        [](py::handle dout, py::handle x, py::handle dx) { return backward_py(dout, x, "x", dx, silu_backward); },
        arg("dout"), arg("x"), arg("dx") = none,
        "silu_backward(dout, x, dx=None): dx = dout * s * (1 + x * (1 - s)), s = sigmoid(x).");

  m.def("elu_forward",
        [](py::handle x, py::handle alpha, py::handle out) {
          const float a = param(alpha, "alpha");
          return forward_py(x, out, [a](const float* v, float* y, index_t n) { elu_forward(v, y, n, a); });
        },
        arg("x"), arg("alpha") = 1.0, arg("out") = none,
        "elu_forward(x, alpha=1.0, out=None): y = x > 0 ? x : alpha * expm1(x).");
  m.def("elu_backward",
        [](py::handle dout, py::handle y, py::handle alpha, py::handle dx) {
          const float a = param(alpha, "alpha");
          return backward_py(dout, y, "y", dx, [a](const float* d, const float* v, float* g, index_t n) {
            elu_backward(d, v, g, n, a);
          });
        },
        arg("dout"), arg("y"), arg("alpha") = 1.0, arg("dx") = none,
        "elu_backward(dout, y, alpha=1.0, dx=None): dx = y <= 0 ? dout * (y + alpha) : dout, y the output.");

  m.def("softplus_forward",
        [](py::handle x, py::handle beta, py::handle threshold, py::handle out) {
          const float b = param(beta, "beta", true), t = param(threshold, "threshold");
          return forward_py(x, out, [b, t](const float* v, float* y, index_t n) { softplus_forward(v, y, n, b, t); });
        },
        arg("x"), arg("beta") = 1.0, arg("threshold") = 20.0, arg("out") = none,
        "softplus_forward(x, beta=1.0, threshold=20.0, out=None): beta*x > threshold ? x : log1p(exp(beta*x)) / beta.");
  m.def("softplus_backward",
        [](py::handle dout, py::handle x, py::handle beta, py::handle threshold, py::handle dx) {
          const float b = param(beta, "beta", true), t = param(threshold, "threshold");
          return backward_py(dout, x, "x", dx, [b, t](const float* d, const float* v, float* g, index_t n) {
            softplus_backward(d, v, g, n, b, t);
          });
        },
        arg("dout"), arg("x"), arg("beta") = 1.0, arg("threshold") = 20.0, arg("dx") = none,
        "softplus_backward(dout, x, beta=1.0, threshold=20.0, dx=None): beta*x > threshold ? dout : dout*z/(z+1), z = exp(beta*x).");

  m.def("_vecmath",
        [](const std::string& fn, py::handle x) {
          static const char* names[] = {"exp", "expm1", "log1p", "tanh", "erf", "sigmoid"};
          int id = -1;
          for (int i = 0; i < 6; ++i)
            if (fn == names[i]) id = i;
          if (id < 0) value_error("fn: expected 'exp', 'expm1', 'log1p', 'tanh', 'erf' or 'sigmoid', got '" + fn + "'");
          return forward_py(x, py::none(), [id](const float* a, float* y, index_t n) { activation_vecmath(id, a, y, n); });
        },
        arg("fn"), arg("x"),
        "_vecmath(fn, x): the active path's raw vector exp/expm1/log1p/tanh/erf/sigmoid (tests, bench/ulp_sweep.py).");
}
