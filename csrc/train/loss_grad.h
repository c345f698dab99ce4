// The full-data loss and gradient of a Linear(+activation) stack (loss_grad.cpp),
// for full-batch solvers (scikit-learn's lbfgs through scipy.optimize).
// The binding (bindings/bindings_loss_grad.cpp) validates everything first.
#pragma once
#include <cstdint>
#include "train/train.h"

namespace fastmlp {

// Rows per chunk of loss_and_grad: the workspace is a few (chunk, width) arrays.
constexpr index_t kLossGradChunk = 4096;

// loss(model(X), y) over all N rows of X (N, F) float32 and its gradient
// w.r.t. every parameter, in one pass: the fused epoch's forward, loss
// (batch_loss) and backward kernels, with no optimizer update. The layers'
// weights (out, in) and biases are read (their ParamSlot's optimizer fields
// are ignored) and never written; y_class (N,) or y_value (N, C) as for
// train_epoch; loss.reduction Mean or Sum. dw[l] (out_l, in_l) and db[l]
// (out_l,) (nullptr when layer l has no bias) are overwritten with the
// gradient. No dropout (TrainLayer::dropout_p must be 0).
//
// The rows are processed in chunks of `chunk` rows (>= 1). With one chunk
// (N <= chunk) every kernel gets exactly the arguments of the Python path's
// criterion(model(X), y).backward(), so the loss and gradients are its bits.
// With more, each chunk's loss is taken with Reduction::Sum and its
// gradients accumulated in float32 (the dW GEMM with beta = 1, the bias sums
// added in chunk order), and for Mean the sums are multiplied once by
// 1/denominator: N*C for the elementwise losses and BCE, the sum of the
// class weights of the non-ignored targets (their count without weights) for
// cross-entropy and NLL, PyTorch's mean (a zero one gives the kernels' 0/0: NaN
// loss, NaN gradients when any row is kept, zeros when none). The chunks are fixed by `chunk`
// alone and every kernel's bits are independent of the thread count, so the
// result is too. Returns the loss: the chunks' float32 losses summed in
// double (then divided by the denominator for Mean).
double loss_and_grad(const TrainLayer* layers, int n_layers, const float* X, index_t N, index_t F,
                     const std::int64_t* y_class, const float* y_value, const TrainLoss& loss,
                     float* const* dw, float* const* db, index_t chunk = kLossGradChunk);

}  // namespace fastmlp
