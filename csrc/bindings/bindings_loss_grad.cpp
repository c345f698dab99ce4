// pybind11 binding of the full-data loss and gradient (train/loss_grad.cpp),
// on plain arrays: fastmlp.train.loss_and_grad builds these from a model and a
// criterion. Every argument is checked (labels range-checked) before any
// gradient is written; the computation runs with the GIL released.
#include <string>
#include <vector>
#include "bindings/bindings_train.h"
#include "bindings/bindings_util.h"
#include "train/loss_grad.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

const char* kLossGradDoc = R"doc(The loss over all rows and its gradient w.r.t. every parameter, in one call.

loss_and_grad(weights, biases, activations, X, y, grads, *, loss, reduction="mean",
              class_weight=None, ignore_index=-100, label_smoothing=0.0, delta=1.0, beta=1.0,
              pos_weight=None, log_softmax=False, chunk_rows=4096) -> float

weights, biases, activations, X (float32 (N, F), converted when not), y, and the loss
keywords: as train_epoch's (no normalize, no dropout); the weights are only read.
grads: one float32 C-contiguous writeable array per parameter, in the order W0, b0
(when present), W1, ..., shaped like it; overwritten with the gradient of
loss(model(X), y) (reduction "mean" over all rows as PyTorch's, or "sum").
chunk_rows >= 1: rows per chunk (bounded workspace). With N <= chunk_rows the bits
are the Python path's criterion(model(X), y).backward(); with more, the chunks'
summed losses and gradients (float32 sums in chunk order, independent of the thread
count) are divided once by the mean's denominator. N >= 1. Returns the loss.)doc";

std::string at(const char* name, size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

double loss_and_grad_binding(py::list weights, py::list biases, py::list activations, py::handle X_obj,
                             py::handle y_obj, py::list grads, const std::string& loss_name,
                             const std::string& reduction, py::handle class_weight_obj, long long ignore_index,
                             double label_smoothing, double delta, double beta, py::handle pos_weight_obj,
                             bool log_softmax, long long chunk_rows) {
  const size_t L = layer_count(weights, biases, activations);
  if (chunk_rows < 1) value_error("chunk_rows: expected an int >= 1, got " + std::to_string(chunk_rows));

  std::vector<TrainLayer> layers(L);
  std::vector<py::array_t<float>> keep;  // the parameters as read (float32 C-contiguous)
  for (size_t l = 0; l < L; ++l) {
    TrainLayer& T = layers[l];
    keep.push_back(input_f32(weights[l], at("weights", l).c_str(), 2));
    T.out = keep.back().shape(0);
    T.in = keep.back().shape(1);
    if (T.out < 1 || T.in < 1) value_error(at("weights", l) + ": empty, shape " + shape_str(keep.back()));
    check_size(T.out, T.in, at("weights", l).c_str());
    if (l && T.in != layers[l - 1].out)
      value_error(at("weights", l) + ": expected " + std::to_string(layers[l - 1].out) +
                  " input features (the previous layer's outputs), got shape " + shape_str(keep.back()));
    T.weight.param = const_cast<float*>(keep.back().data());  // read only (loss_grad.h)
    T.weight.n = T.out * T.in;
    if (!biases[l].is_none()) {
      keep.push_back(input_f32_len(biases[l], at("biases", l).c_str(), T.out, "the layer's outputs"));
      T.bias.param = const_cast<float*>(keep.back().data());
      T.bias.n = T.out;
    }
    T.activation = parse_activation(activations[l], at("activations", l));
  }
  const index_t F = layers[0].in, C = layers[L - 1].out;

  py::array_t<float> X = input_f32(X_obj, "X", 2);
  const index_t N = X.shape(0);
  if (X.shape(1) != F)
    value_error("X: the first Linear layer takes " + std::to_string(F) + " features, X has " +
                std::to_string(X.shape(1)) + " (shape " + shape_str(X) + ")");
  if (N < 1) value_error("X: expected at least one row, got shape " + shape_str(X));

  py::array_t<float> class_weight, pos_weight;
  const TrainLoss loss = parse_loss(loss_name, reduction, class_weight_obj, ignore_index, label_smoothing, delta,
                                    beta, pos_weight_obj, log_softmax, C, &class_weight, &pos_weight);

  py::array y_keep;
  const std::int64_t* y_class = nullptr;
  const float* y_value = nullptr;
  if (class_targets(loss.kind)) {
    py::array_t<std::int64_t> yi = class_labels_i64(y_obj, N, C, ignore_index, "y", "label", "one label per row of X");
    y_class = yi.data();
    y_keep = yi;
  } else {
    py::array_t<float> y = input_f32(y_obj, "y", -1);
    if (y.ndim() != 2 || y.shape(0) != N || y.shape(1) != C)
      value_error("y: expected " + loss_name + " targets of shape (" + std::to_string(N) + ", " +
                  std::to_string(C) + ") (the model's output shape), got " + shape_str(y));
    y_value = y.data();
    y_keep = y;
  }

  // grads: W0, b0, W1, ... (absent biases skipped), each the parameter's shape
  size_t n_params = 0;
  for (const TrainLayer& T : layers) n_params += T.bias.param ? 2 : 1;
  if (py::len(grads) != n_params)
    value_error("grads: expected " + std::to_string(n_params) +
                " arrays (W0, b0, W1, ... without absent biases), got " + std::to_string(py::len(grads)));
  std::vector<float*> dw(L), db(L, nullptr);
  struct Region {
    const void* p;
    size_t bytes;
    std::string name;
  };
  std::vector<Region> written, read;
  size_t k = 0;
  for (size_t l = 0; l < L; ++l) {
    const TrainLayer& T = layers[l];
    dw[l] = output_f32(grads[k], at("grads", k), {T.out, T.in});
    written.push_back({dw[l], fbytes(T.out * T.in), at("grads", k)});
    ++k;
    if (T.bias.param) {
      db[l] = output_f32(grads[k], at("grads", k), {T.out});
      written.push_back({db[l], fbytes(T.out), at("grads", k)});
      ++k;
    }
  }
  for (size_t l = 0; l < L; ++l) {
    read.push_back({layers[l].weight.param, fbytes(layers[l].weight.n), at("weights", l)});
    if (layers[l].bias.param) read.push_back({layers[l].bias.param, fbytes(layers[l].out), at("biases", l)});
  }
  read.push_back({X.data(), size_t(X.nbytes()), "X"});
  read.push_back({y_keep.data(), size_t(y_keep.nbytes()), "y"});
  if (class_weight) read.push_back({class_weight.data(), size_t(class_weight.nbytes()), "class_weight"});
  if (pos_weight) read.push_back({pos_weight.data(), size_t(pos_weight.nbytes()), "pos_weight"});
  for (size_t i = 0; i < written.size(); ++i) {
    for (size_t j = i + 1; j < written.size(); ++j)
      if (overlaps(written[i].p, written[i].bytes, written[j].p, written[j].bytes))
        value_error(written[i].name + ": shares memory with " + written[j].name);
    for (const Region& r : read)
      if (overlaps(written[i].p, written[i].bytes, r.p, r.bytes))
        value_error(written[i].name + ": shares memory with " + r.name);
  }

  py::gil_scoped_release nogil;
  return loss_and_grad(layers.data(), int(L), X.data(), N, F, y_class, y_value, loss, dw.data(), db.data(),
                       index_t(chunk_rows));
}

}  // namespace

void bind_loss_grad(py::module_& m) {
  m.def("loss_and_grad", &loss_and_grad_binding, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("X"), py::arg("y"), py::arg("grads"), py::kw_only(), py::arg("loss"),
        py::arg("reduction") = "mean", py::arg("class_weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("delta") = 1.0, py::arg("beta") = 1.0,
        py::arg("pos_weight") = py::none(), py::arg("log_softmax") = false,
        py::arg("chunk_rows") = kLossGradChunk, kLossGradDoc);
}
