// What bindings_train.cpp shares with the other training bindings (global
// namespace, as the bindings are).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <string>
#include "bindings/bindings_util.h"
#include "train/train.h"

// The number of layers L of weights, biases and activations (one entry per
// layer each, L >= 1), else ValueError naming the list.
inline size_t layer_count(const pybind11::list& weights, const pybind11::list& biases,
                          const pybind11::list& activations) {
  const size_t L = pybind11::len(weights);
  if (L == 0) fastmlp::value_error("weights: expected at least one Linear layer");
  if (pybind11::len(biases) != L)
    fastmlp::value_error("biases: expected " + std::to_string(L) + " entries (one per weight), got " +
                         std::to_string(pybind11::len(biases)));
  if (pybind11::len(activations) != L)
    fastmlp::value_error("activations: expected " + std::to_string(L) + " entries (one per weight), got " +
                         std::to_string(pybind11::len(activations)));
  return L;
}

// The loss arguments of train_epoch (and loss_and_grad), every one checked as
// its kernel's binding checks it (ValueError/TypeError naming the argument);
// C: the model's outputs. The weight arrays are kept alive in *class_weight /
// *pos_weight, which the returned TrainLoss points into.
fastmlp::TrainLoss parse_loss(const std::string& name, const std::string& reduction, pybind11::handle class_weight_obj,
                     long long ignore_index, double label_smoothing, double delta, double beta,
                     pybind11::handle pos_weight_obj, bool log_softmax, fastmlp::index_t C,
                     pybind11::array_t<float>* class_weight, pybind11::array_t<float>* pos_weight);
