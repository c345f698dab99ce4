// One batch's loss and its gradient, the step code shared by the fused epoch
// (train_step.cpp) and the full-data loss and gradient (loss_grad.cpp).
#pragma once
#include <cstdint>
#include "train/train.h"

namespace fastmlp {

// The loss of one batch's outputs `out` (bs, C) with its targets y_class (bs,)
// (class_targets(loss.kind)) or y_value (bs, C), reduced by loss.reduction
// (Mean or Sum), and d (bs, C) = its gradient w.r.t. out. With loss.log_softmax
// the loss reads lsm (bs, C) = log_softmax(out) (workspace, written here) and
// d goes through log_softmax_backward; lsm is unused otherwise. Exactly the
// kernels the Python path calls, in its order.
inline float batch_loss(const TrainLoss& loss, const float* out, const std::int64_t* y_class,
                        const float* y_value, index_t bs, index_t C, float* lsm, float* d) {
  float step_loss = 0.0f;
  if (loss.log_softmax) {
    log_softmax(out, lsm, bs, C);
    out = lsm;
  }
  const float* yv = y_value;
  const Reduction red = loss.reduction;
  switch (loss.kind) {
    case LossKind::CrossEntropy:
      cross_entropy(out, y_class, bs, C, loss.class_weight, loss.ignore_index, loss.label_smoothing, red,
                    &step_loss, d);
      break;
    case LossKind::Nll:
      nll_loss(out, y_class, bs, C, loss.class_weight, loss.ignore_index, red, &step_loss, d);
      break;
    case LossKind::Mse: mse_loss(out, yv, bs * C, red, &step_loss, d); break;
    case LossKind::L1: l1_loss(out, yv, bs * C, red, &step_loss, d); break;
    case LossKind::Huber: huber_loss(out, yv, bs * C, loss.param, red, &step_loss, d); break;
    case LossKind::SmoothL1: smooth_l1_loss(out, yv, bs * C, loss.param, red, &step_loss, d); break;
    case LossKind::BceWithLogits:
      bce_with_logits(out, yv, bs * C, loss.class_weight, loss.n_weight, loss.pos_weight, loss.n_pos_weight,
                      red, &step_loss, d);
      break;
  }
  if (loss.log_softmax) log_softmax_backward(d, lsm, d, bs, C);
  return step_loss;
}

}  // namespace fastmlp
