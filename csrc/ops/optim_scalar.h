// One float as optim_vec.h's vector type: the optimizers' generic path and the
// tails of the AVX2 path. Baseline files only (adam.cpp, rmsprop.cpp, adagrad.cpp).
#pragma once
#include <cmath>

namespace fastmlp {
namespace {
struct Scalar1 {
  using f = float;
  static constexpr int W = 1;
  static constexpr bool kMasked = false;
  static f set1(float x) { return x; }
  static f load(const float* a) { return *a; }
  static void store(float* a, f x) { *a = x; }
  static f load_n(const float* a, int) { return *a; }  // unused: not kMasked
  static void store_n(float* a, f x, int) { *a = x; }
  static f add(f a, f b) { return a + b; }
  static f sub(f a, f b) { return a - b; }
  static f mul(f a, f b) { return a * b; }
  static f div(f a, f b) { return a / b; }
  static f sqrt(f a) { return std::sqrt(a); }
  static f neg(f a) { return -a; }
  static f torch_max(f old, f v) {  // torch.maximum: NaN propagates
    return (old != old || v != v) ? old + v : (v > old ? v : old);
  }
};
}  // namespace
}  // namespace fastmlp
