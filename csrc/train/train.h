// Fused whole-epoch training of a Linear(+ReLU) stack: declarations.
// The binding (bindings/bindings_train.cpp) validates everything before calling in
// here; train_epoch trusts its inputs.
#pragma once
#include <cstdint>
#include "kernels.h"

namespace fastmlp {

// One parameter and its torch.optim.SGD options/state (see sgd_update).
struct SgdParam {
  float* param = nullptr;            // (n,), updated in place; nullptr: absent (no bias)
  float* momentum_buffer = nullptr;  // (n,) or nullptr when momentum == 0
  index_t n = 0;
  bool update = true;      // false: not in the optimizer, never changed
  bool first_step = true;  // no momentum buffer yet: the first update sets it
  float lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

// One Linear layer and its activation (kernels.h):
//   y (B,out) = activation(x (B,in) @ W(out,in)^T + b)
struct TrainLayer {
  index_t in = 0, out = 0;
  SgdParam weight;  // (out, in) row-major
  SgdParam bias;    // (out,); bias.param == nullptr: no bias
  Activation activation = Activation::Identity;
};

// The rows the epoch trains on: float32 X (N,F), or uint8 images (N,F) that
// each gathered row converts exactly as fastmlp.data.normalize does, in
// float32 and in this order: x = float(u) / 255, x -= mean (when has_mean),
// x /= std (when has_std). Every operation is a correctly rounded float32
// division or subtraction, so the rows are bitwise normalize()'s, at a
// quarter of the memory traffic of gathering float32 rows.
struct TrainInput {
  const float* f32 = nullptr;        // (N,F), or nullptr when u8 is set
  const std::uint8_t* u8 = nullptr;  // (N,F), or nullptr
  bool has_mean = false, has_std = false;
  float mean = 0.0f, std = 1.0f;
};

enum class LossKind : int { CrossEntropy = 0, Mse = 1 };

struct TrainLoss {
  LossKind kind = LossKind::CrossEntropy;
  Reduction reduction = Reduction::Mean;  // Mean or Sum (a scalar loss)
  const float* class_weight = nullptr;    // CE: (C,) or nullptr
  std::int64_t ignore_index = -100;       // CE
  float label_smoothing = 0.0f;           // CE
};

// One epoch of minibatch SGD, exactly the Python loop
//   for each batch idx = perm[s : s+B]:  forward, loss, backward, sgd step
// X: the (N, F) rows (see TrainInput); y_class (N,) int64 class indices for cross-entropy, or
// y_value (N, out_last) for MSE; perm (n_perm,) indices into [0, N).
// Steps: ceil(n_perm / B) (floor with drop_last); the last one may be short.
// All workspace is allocated once before the first step; the per-step work is
// the kernels of kernels.h and nothing else. Returns the sum over steps of
// the (float32) step losses, accumulated in double; *steps gets the count.
double train_epoch(TrainLayer* layers, int n_layers, const TrainInput& X, index_t F,
                   const std::int64_t* y_class, const float* y_value, const std::int64_t* perm,
                   index_t n_perm, index_t batch_size, bool drop_last, const TrainLoss& loss,
                   index_t* steps);

}  // namespace fastmlp
