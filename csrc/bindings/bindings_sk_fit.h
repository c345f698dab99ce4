// train_epoch's sk_fit argument (issue 11: scikit-learn's epoch loop in one
// call, train/sk_fit.h): its parsing and its results, for bindings_train.cpp.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include "train/sk_fit.h"

// sk_fit (a dict, see train_epoch's doc) checked against the epoch's perm
// length, batch_size and optimizer kind; ValueError/TypeError naming
// sk_fit['key'] otherwise.
fastmlp::SkFit parse_sk_fit(pybind11::handle obj, fastmlp::index_t n_perm, long long batch_size,
                            fastmlp::OptimizerKind kind);

// Writes the loop's state and results into the sk_fit dict: 'epochs',
// 'converged', 'interrupted', 'losses' (float64 (epochs,)), 'learning_rate',
// 'best_loss', 'no_improvement_count', 't'.
void store_sk_fit(pybind11::handle obj, const fastmlp::SkFit& fit, const fastmlp::SkFitResult& r,
                  const pybind11::array_t<double>& losses);
