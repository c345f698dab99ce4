// fastmlp kernel declarations: raw pointers, row-major float32, sizes in
// elements. Every kernel here has a twin of the same name in
// python/fastmlp/reference.py (NumPy float64) that defines what it computes.
// Bindings (bindings/*.cpp) validate every argument before calling in here:
// these functions trust their inputs.
#pragma once
#include <cstdint>

namespace fastmlp {

using index_t = std::int64_t;

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

// The elementwise function a GEMM epilogue applies last (and the fused
// epoch's activation after a Linear layer), with PyTorch's definitions (the
// Activations section below gives each one's formula). Relu: max(v, 0), NaN
// stays NaN. Each is handled by the one vector implementation
// (ops/activation_vecmath.h, instantiated per ISA), by its name in
// bindings/bindings_util.h (parse_activation) and by activation_backward in
// the fused epoch (train/train_step.cpp).
enum class Activation : int { Identity = 0, Relu = 1, LeakyRelu = 2, Tanh = 3, Sigmoid = 4,
                              Gelu = 5 /* erf form */, GeluTanh = 6, Silu = 7, Elu = 8, Softplus = 9 };

// An activation and its parameters: p0 is negative_slope (LeakyRelu), alpha
// (Elu) or beta (Softplus, != 0); p1 is threshold (Softplus). Unused ones are 0.
struct ActivationSpec {
  Activation kind = Activation::Identity;
  float p0 = 0, p1 = 0;
};

// ---------------------------------------------------------------- GEMM ----
// C (M,N) = act( alpha * op(A) @ op(B) + beta * C + bias[None, :] )
//   op(A) is (M,K): A stored (M,K) with row stride lda, or (K,M) if trans_a.
//   op(B) is (K,N): B stored (K,N) with row stride ldb, or (N,K) if trans_b.
//   bias is (N,) or nullptr; act (an ActivationSpec) applies last, with the
//   bits of activation_forward on the active ISA path (so Linear then the
//   activation kernel equals the fused epilogue).
//   beta == 0 never reads C (NaN in C does not leak). K == 0 gives beta*C+bias.
// Work is split over M and N only: results are bitwise identical for any
// thread count.
void sgemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K,
           float alpha, const float* A, index_t lda, const float* B, index_t ldb,
           float beta, float* C, index_t ldc, const float* bias, ActivationSpec act);

// Triple loop with the same contract: the algorithmic reference inside C++.
void sgemm_naive(bool trans_a, bool trans_b, index_t M, index_t N, index_t K,
                 float alpha, const float* A, index_t lda, const float* B, index_t ldb,
                 float beta, float* C, index_t ldc, const float* bias, ActivationSpec act);

// ---------------------------------------------------------------- ReLU ----
// x, y (n,): y = max(x, 0). y may alias x.
void relu_forward(const float* x, float* y, index_t n);
// dout, y, dx (n,): dx = y <= 0 ? 0 : dout (a select, as PyTorch's
// threshold_backward: an inf/NaN dout gives 0 where y <= 0, a NaN y passes
// dout), y being relu_forward's result. dx may alias dout (or y).
void relu_backward(const float* dout, const float* y, float* dx, index_t n);
// dout (M,N) -> db (N,): db[j] = sum_i dout[i, j]  (overwrites db).
void bias_grad(const float* dout, index_t M, index_t N, index_t ld, float* db);

// ---------------------------------------------------------- Activations ----
// Elementwise, PyTorch's definitions, float32 (x, y, dout, dx all (n,)):
//   identity    y = x                                   dx = dout
//   leaky_relu  y = x > 0 ? x : x * negative_slope      dx = x > 0 ? dout : dout * negative_slope  (from x)
//   tanh        y = tanh x                              dx = dout * (1 - y * y)                   (from y)
//   sigmoid     y = 1 / (1 + exp(-x))                   dx = dout * (1 - y) * y                   (from y)
//   gelu        approximate=false: y = x * 0.5 * (1 + erf(x / sqrt 2)),
//                 dx = dout * (cdf + x * exp(-x^2/2) / sqrt(2 pi))                                (from x)
//               approximate=true: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
//                 dx = dout * d/dx of that, PyTorch's gelu_backward 'tanh' formula               (from x)
//   silu        y = x / (1 + exp(-x))                   dx = dout * s * (1 + x (1 - s)), s = sigmoid x  (from x)
//   elu         y = x > 0 ? x : alpha * expm1(x)        dx = y <= 0 ? dout * (y + alpha) : dout   (from y)
//   softplus    y = beta x > threshold ? x : log1p(exp(beta x)) / beta (beta != 0)
//               dx = beta x > threshold ? dout : dout * z / (z + 1), z = exp(beta x)            (from x)
// y may alias x and dx may alias dout (or the saved array) exactly. Work is
// split into contiguous ranges; an element's result depends only on its
// inputs (never on its position, n or the thread count). AVX-512 and AVX2
// run the same operations (with FMA) and agree bitwise; the generic path
// (no FMA) may differ in the last bits. The vector exp, expm1, log1p, tanh,
// erf and sigmoid are ours (ops/activation_vecmath.h), within these bounds of
// float64 on every path (asserted by tests/test_activation_ulp.py; the
// measured maxima of a dense sweep per path: bench/results/README.md#activation-ulp):
//   exp 1.0 ulp, expm1 1.45, log1p 0.85, tanh 1.55, erf 1.65, sigmoid 1.9 (except at
// results flushed to zero: kernels run with FTZ/DAZ, so subnormal inputs
// read as zero (expm1 and log1p pass a tiny x through as their result) and
// subnormal results are flushed to zero).
void identity_forward(const float* x, float* y, index_t n);
void identity_backward(const float* dout, const float* saved, float* dx, index_t n);
void leaky_relu_forward(const float* x, float* y, index_t n, float negative_slope);
void leaky_relu_backward(const float* dout, const float* x, float* dx, index_t n, float negative_slope);
void tanh_forward(const float* x, float* y, index_t n);
void tanh_backward(const float* dout, const float* y, float* dx, index_t n);
void sigmoid_forward(const float* x, float* y, index_t n);
void sigmoid_backward(const float* dout, const float* y, float* dx, index_t n);
void gelu_forward(const float* x, float* y, index_t n, bool approximate_tanh);
void gelu_backward(const float* dout, const float* x, float* dx, index_t n, bool approximate_tanh);
void silu_forward(const float* x, float* y, index_t n);
void silu_backward(const float* dout, const float* x, float* dx, index_t n);
void elu_forward(const float* x, float* y, index_t n, float alpha);
void elu_backward(const float* dout, const float* y, float* dx, index_t n, float alpha);
void softplus_forward(const float* x, float* y, index_t n, float beta, float threshold);
void softplus_backward(const float* dout, const float* x, float* dx, index_t n, float beta, float threshold);

// The range-level dispatch the kernels above, the GEMM epilogue and the fused
// epoch share: one thread, the active ISA's vector code. y = act(x) over
// [0, n); dx = dout * act'(saved), `saved` being the output or the input as
// activation_saves_output says. Aliasing as above.
void activation_forward(const ActivationSpec& act, const float* x, float* y, index_t n);
void activation_backward(const ActivationSpec& act, const float* dout, const float* saved, float* dx,
                         index_t n);
// The same, split into contiguous ranges over the kernel threads (large n).
void activation_forward_parallel(const ActivationSpec& act, const float* x, float* y, index_t n);
void activation_backward_parallel(const ActivationSpec& act, const float* dout, const float* saved,
                                  float* dx, index_t n);
// true: the backward reads the output (Relu, Tanh, Sigmoid, Elu); false: the
// input (Identity reads nothing).
bool activation_saves_output(Activation a);
// y = fn(x) with the active path's raw vector function, fn: 0 exp, 1 expm1,
// 2 log1p, 3 tanh, 4 erf, 5 sigmoid (for the accuracy tests and sweeps).
void activation_vecmath(int fn, const float* x, float* y, index_t n);
// y = exp(x) over [0, n) with the active path's vector exp (activation_vecmath's
// fn 0: within 1.0 ulp of float64 on every path) on the calling thread, without a
// DenormalGuard of its own: for kernels that call it inside their region (the
// softmax cross-entropy's row exps). y may alias x exactly.
void vec_exp(const float* x, float* y, index_t n);

// ------------------------------------------------ softmax cross-entropy ----
// logits (N,C), target (N,) class indices in [0,C) or == ignore_index,
// weight (C,) or nullptr. PyTorch's CrossEntropyLoss definitions:
//   l_i = (1-eps) * w[t_i] * -log p_i[t_i] + (eps/C) * sum_c w[c] * -log p_i[c]
//   (0 for ignored rows); mean divides sum_i l_i by sum_{i not ignored} w[t_i].
// loss: reduction None -> (N,) per-row losses; Mean/Sum -> loss[0].
// dlogits (N,C) or nullptr: gradient of the reduced loss (None: of sum_i l_i).
// dlogits may alias logits. Forward and backward are one pass over the row.
void cross_entropy(const float* logits, const std::int64_t* target, index_t N, index_t C,
                   const float* weight, std::int64_t ignore_index, float label_smoothing,
                   Reduction reduction, float* loss, float* dlogits);

// ----------------------------------------------------------------- MSE ----
// pred, target (n,): l_i = (pred_i - target_i)^2.
// loss: None -> (n,), Mean/Sum -> loss[0]. dpred (n,) or nullptr: gradient
// of the reduced loss (None: of sum_i l_i).
void mse_loss(const float* pred, const float* target, index_t n, Reduction reduction,
              float* loss, float* dpred);

// ------------------------------------------------ elementwise losses ------
// Same contract as mse_loss (pred, target, dpred (n,); loss (n,) for None,
// loss[0] otherwise; dpred may be pred or target exactly; bits independent of
// the thread count), with d = pred_i - target_i:
//   l1_loss: l_i = |d|, dl/dp = sign(d) (0 at 0, as PyTorch).
void l1_loss(const float* pred, const float* target, index_t n, Reduction reduction,
             float* loss, float* dpred);
//   huber_loss (delta > 0): l_i = 0.5 d^2 if |d| < delta else delta (|d| - delta/2),
//     dl/dp = clamp(d, -delta, delta).
void huber_loss(const float* pred, const float* target, index_t n, double delta,
                Reduction reduction, float* loss, float* dpred);
//   smooth_l1_loss (beta >= 0): l_i = 0.5 d^2 / beta if |d| < beta else |d| - beta/2,
//     dl/dp = d / beta if |d| < beta else sign(d) (beta == 0: the L1 loss).
void smooth_l1_loss(const float* pred, const float* target, index_t n, double beta,
                    Reduction reduction, float* loss, float* dpred);
//   bce_with_logits (logits x = pred, target t): PyTorch's stable form
//     l_i = w ((1 - t) x + c (log1p(exp(-|x|)) + max(-x, 0))),  c = 1 + (pw - 1) t,
//     dl/dx = w (c sigmoid(x) - pw t),
//   w = weight[i % nw] (weight (nw,) or nullptr), pw = pos_weight[i % npw]
//   (or nullptr): their shapes are trailing parts of the logits' shape.
//   Mean divides by n (PyTorch's, not by the sum of the weights).
void bce_with_logits(const float* logits, const float* target, index_t n, const float* weight,
                     index_t nw, const float* pos_weight, index_t npw, Reduction reduction,
                     float* loss, float* dlogits);

// ------------------------------------------------------------- softmax ----
// x, y (rows, C): over the last dimension, stable (the row max first):
//   log_softmax: y = x - max - log(sum(exp(x - max)));  softmax: y = exp(x - max) / sum(...).
// y may alias x exactly. Bits independent of the thread count (a row is one thread's).
void log_softmax(const float* x, float* y, index_t rows, index_t C);
void softmax(const float* x, float* y, index_t rows, index_t C);
// Their backward, over the last dimension, from the forward's output y (rows, C)
// and the output gradient dout (rows, C) (PyTorch's formulas):
//   log_softmax_backward: dx = dout - exp(y) * sum_c(dout)
//   softmax_backward:     dx = y * (dout - sum_c(dout * y))
// Row sums in double, each dx rounded once; dx may alias dout or y exactly.
// Bits independent of the thread count.
void log_softmax_backward(const float* dout, const float* y, float* dx, index_t rows, index_t C);
void softmax_backward(const float* dout, const float* y, float* dx, index_t rows, index_t C);

// ------------------------------------------------------------------ NLL ----
// input (N,C) log-probabilities, target (N,) class indices in [0,C) or ==
// ignore_index, weight (C,) or nullptr. PyTorch's NLLLoss:
//   l_i = -w[t_i] * input[i, t_i]  (0 for ignored rows); mean divides sum_i l_i
//   by sum_{i not ignored} w[t_i] (NaN when that is 0, as PyTorch).
// loss: None -> (N,), Mean/Sum -> loss[0]. dinput (N,C) or nullptr: gradient of
// the reduced loss (None: of sum_i l_i): -w[t_i] (/ the mean's denominator) at
// (i, t_i), 0 elsewhere. dinput may alias input. Bits independent of threads.
void nll_loss(const float* input, const std::int64_t* target, index_t N, index_t C, const float* weight,
              std::int64_t ignore_index, Reduction reduction, float* loss, float* dinput);

// ----------------------------------------------------------------- SGD ----
// One fused pass, torch.optim.SGD's rule for one parameter (n,):
//   g = maximize ? -grad : grad;  g += weight_decay * param
//   if momentum != 0: buf = first_step ? g : momentum*buf + (1-dampening)*g
//                     g = nesterov ? g + momentum*buf : buf
//   param -= lr * g
// momentum_buffer (n,) may be nullptr when momentum == 0.
void sgd_update(float* param, const float* grad, float* momentum_buffer, index_t n,
                float lr, float momentum, float dampening, float weight_decay,
                bool nesterov, bool maximize, bool first_step);

// ---------------------------------------------------------- Adam, AdamW ----
// One fused pass, torch.optim.Adam's (_single_tensor_adam) rule for one
// parameter, in place. param, grad, exp_avg, exp_avg_sq (n,); max_exp_avg_sq
// (n,) when amsgrad, else nullptr (never read). step: this update's number
// (>= 1, PyTorch's state step after `step += 1`). The scalars are formed in
// double from the double hyperparameters, as PyTorch does with Python floats:
//   bc1 = 1 - beta1**step, bc2 = 1 - beta2**step, step_size = lr / bc1,
//   bc2_sqrt = bc2 ** 0.5
// then per element in float32, in PyTorch's order:
//   g = maximize ? -grad : grad
//   Adam:  g = g + weight_decay * param             (when weight_decay != 0)
//   AdamW: param = param * (1 - lr*weight_decay)    (when weight_decay != 0)
//   exp_avg = lerp(exp_avg, g, 1 - beta1)           (at::lerp's two branches)
//   exp_avg_sq = exp_avg_sq * beta2 + ((1 - beta2) * g) * g
//   amsgrad: max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq); s = it, else s = exp_avg_sq
//   param = param + (-step_size * exp_avg) / (sqrt(s) / bc2_sqrt + eps)
// Elementwise: bitwise the same at any thread count.
void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool amsgrad, bool maximize, double step);
// torch.optim.AdamW: the same pass with the decoupled decay (the AdamW line above).
void adamw_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                  float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2,
                  double eps, double weight_decay, bool amsgrad, bool maximize, double step);
// The one implementation of both: decoupled selects AdamW's decay.
void adam_pass(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
               float* max_exp_avg_sq, index_t n, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool amsgrad, bool maximize, double step, bool decoupled);

// ------------------------------------------------------------- dropout ----
// x, y (n,): y_i = x_i * m_i, m_i = keep_i ? scale : 0.0f, scale = 1.0f /
// float(1.0 - p) (PyTorch CPU's input * (bernoulli(1 - p) / (1 - p)) in
// float32), p in [0, 1). keep_i: the top 24 bits of Philox4x32-10 word i % 4
// at counter (i / 4 as two words, 0, 0) under key (seed low, seed high 32
// bits), times 2^-24, are >= p (ops/dropout.cpp). The mask depends only on
// (seed, i): bitwise the same at any thread count and on every ISA path.
// p == 0: y = x (a copy, no generator). y may alias x exactly.
void dropout_forward(const float* x, float* y, index_t n, double p, std::uint64_t seed);
// dout, dx (n,): dx_i = dout_i * m_i, the forward's mask regenerated from
// (p, seed). dx may alias dout exactly.
void dropout_backward(const float* dout, float* dx, index_t n, double p, std::uint64_t seed);
// The Philox4x32-10 bijection itself (Random123's philox4x32_R(10, ctr, key)):
// out (4,) from ctr (4,) and key (2,); for known-answer tests.
void philox4x32_10(const std::uint32_t* ctr, const std::uint32_t* key, std::uint32_t* out);
// ------------------------------------------------------ RMSprop, Adagrad ----
// One fused pass, torch.optim.RMSprop's (_single_tensor_rmsprop) rule for one
// parameter, in place. param, grad, square_avg (n,); momentum_buffer (n,) when
// momentum > 0, grad_avg (n,) when centered, else nullptr (never read). The
// scalars are cast from the double hyperparameters as PyTorch casts Python
// floats (c = float(1 - alpha)); per element in float32, in PyTorch's order:
//   g = maximize ? -grad : grad;  g = g + weight_decay * param   (weight_decay != 0)
//   square_avg = square_avg * alpha + (c * g) * g                 (mul_, addcmul_)
//   centered: grad_avg = lerp(grad_avg, g, c)                     (at::lerp's two branches)
//             avg = sqrt(square_avg - grad_avg * grad_avg) + eps
//   else:     avg = sqrt(square_avg) + eps
//   momentum > 0: buf = buf * momentum + g / avg;  param = param + (-lr) * buf
//   else:         param = param + ((-lr) * g) / avg
// Elementwise: bitwise the same at any thread count.
void rmsprop_update(float* param, const float* grad, float* square_avg, float* momentum_buffer,
                    float* grad_avg, index_t n, double lr, double alpha, double eps,
                    double weight_decay, double momentum, bool centered, bool maximize);
// One fused pass, torch.optim.Adagrad's (_single_tensor_adagrad) rule for one
// parameter, in place. param, grad, state_sum (n,). step: this update's number
// (>= 1, PyTorch's state step after `step += 1`). clr = lr / (1 + (step - 1) *
// lr_decay) in double; per element in float32, in PyTorch's order:
//   g = maximize ? -grad : grad;  g = g + weight_decay * param   (weight_decay != 0)
//   state_sum = state_sum + g * g
//   param = param + ((-clr) * g) / (sqrt(state_sum) + eps)
// Elementwise: bitwise the same at any thread count.
void adagrad_update(float* param, const float* grad, float* state_sum, index_t n, double lr,
                    double lr_decay, double weight_decay, double eps, bool maximize,
                    double step);

// ---------------------------------------------------- gradient 2-norms ----
// x viewed as (rows, cols) row-major: sum over rows r in order of (sum over c
// in order of double(x[r,c])^2), in double (each square exact). row_sums
// (rows,) scratch. Bits independent of the thread count.
double sum_squares(const float* x, index_t rows, index_t cols, double* row_sums);
// The same value, bit for bit, for x stored transposed: xt (cols, rows) = x^T.
double sum_squares_transposed(const float* xt, index_t rows, index_t cols, double* row_sums);
// sqrt(sum over k in order of sqrt(sums[k])^2), in double: the 2-norm of the
// per-array 2-norms (torch.nn.utils.clip_grad_norm_'s total for norm_type 2).
double combine_norms(const double* sums, int count);
// combine_norms of sum_squares of each of `count` arrays (arrays[k] viewed as
// (rows[k], cols[k])); sums (count,) and row_sums (max rows,) scratch.
double total_norm(const float* const* arrays, const index_t* rows, const index_t* cols, int count,
                  double* sums, double* row_sums);

// ------------------------------------------------ gemv, one-call forward ----
// (infer: issue 12) x (M, K), W (N, K) (a Linear's weight, its stored layout),
// bias (N,) or nullptr, y (M, N), all row-major contiguous; y must not overlap
// the inputs. y = act(x @ W^T + bias): each output's dot product in the fixed
// order of ops/gemv_isa.h (16 lane sums, a fixed tree, then + bias), then act
// with activation_forward's bits. W is read in place, once per group of
// row-tile rows. An output's bits depend only on its row of x, its row of W,
// its bias and the ISA path: never on M, the other rows or the thread count
// (work is split over outputs). AVX-512 and AVX2 agree bitwise; generic may
// differ in the last bits. Not the GEMM's summation order: sgemm may differ
// from it in the last bits.
void gemv_forward(const float* x, index_t M, index_t K, const float* W, index_t N, const float* bias,
                  float* y, ActivationSpec act);
// The most rows for which infer_forward uses gemv_forward instead of sgemm, on
// the active path: gemv reads W once per row tile (R rows), the packed GEMM
// reads W, writes its packed copy and reads that again; gemv runs while
// ceil(M / R) <= 3, i.e. M <= 3 R (ops/gemv.cpp).
index_t gemv_max_rows();

// One Linear layer of a one-call forward: weight (out_features, in_features),
// bias (out_features,) or nullptr, act its epilogue.
struct InferLayer {
  const float* weight;
  const float* bias;
  index_t in_features, out_features;
  ActivationSpec act;
};
enum class InferHead : int { None = 0, Softmax = 1, LogSoftmax = 2 };
// x (M, layers[0].in_features) -> y (M, layers[n-1].out_features), each
// layer's in_features equal to the previous one's out_features (n >= 1):
//   h = act_l(h @ W_l^T + b_l) for each layer, then softmax / log_softmax over
//   each row of the result when head says so.
// A layer runs gemv_forward when M <= gemv_max_rows(), else sgemm (no trans_a,
// trans_b, alpha 1, beta 0, bias, act): the bits of those kernels called one
// after the other, then the softmax / log_softmax kernel in place. Hidden
// activations live in per-thread scratch reused across calls. y must not
// overlap x or any weight or bias. Bits independent of the thread count.
// Each call runs at the caller's count or on one thread, whichever earlier
// calls of the same layers and about as many rows measured faster
// (train/thread_chooser.h); the caller's OpenMP limit is restored on return.
// nonfinite (skpredict, issue 11): when not null, set to true (never reset)
// if any of the first layer's pre-activations h @ W_0^T + b_0 is inf or NaN;
// a non-finite entry of x makes every pre-activation of its row non-finite
// (IEEE: inf or NaN times any float, and a sum with such a term, is never
// finite), so false means x is all finite. The first layer's activation then
// runs after the check with the bits it has in the kernel's epilogue.
void infer_forward(const float* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                   float* y, bool* nonfinite = nullptr);
// infer_forward on float64 rows x (M, layers[0].in_features): each row is
// rounded to float32 (round to nearest, as NumPy's astype) into per-thread
// scratch, a block of rows at a time (at most four L2s of float32 rows, so the
// first layer reads a block while it is still in the L3; no float32 copy of all of x), and
// each block runs infer_forward. Up to gemv_max_rows() rows: the bits of
// infer_forward on x.astype(float32); more: each block's sgemm, which may
// differ from one sgemm over all rows in the last bits. Bits independent of the
// thread count. nonfinite: when not null, set to true (never reset) if any
// entry of x is inf or NaN (x's doubles are checked as they are converted; a
// finite double beyond float32's range does not set it).
void infer_forward_f64(const double* x, index_t M, const InferLayer* layers, int n_layers, InferHead head,
                       float* y, bool* nonfinite = nullptr);
// The L2 cache of one core in bytes (cpu/cpu_info.h's detection; 256 KiB if unknown),
// read once: gemv_forward's thread choice and infer_forward_f64's block size.
index_t l2_bytes_per_core();

// -------------------------------------------------------------- threads ----
// One process-wide count (cpu/threads.cpp), not OpenMP's per-thread setting.
// The largest count accepted: max(256, the CPUs configured on this machine).
int max_threads();
void set_num_threads(int n);  // 1 <= n <= max_threads(), checked by the caller
// The count a parallel region started now in the calling thread uses: the
// process-wide count, capped by the calling thread's OpenMP limit when that is
// below the runtime's default (threadpoolctl's threadpool_limits and
// omp_set_num_threads in this thread lower it); 1 inside an active OpenMP
// parallel region (no nesting) and in a fork() child (the parent's OpenMP
// pool does not survive fork).
int get_num_threads();
bool forked_child();  // this process is a fork() child (get_num_threads() == 1)
// The default count, cgroup and affinity parsing: cpu/threads.h.

// ------------------------------------------------------- CPU dispatch -----
enum class Isa : int { Generic = 0, Avx2 = 1, Avx512 = 2 };
Isa best_isa();            // what this CPU (and OS) supports
Isa active_isa();          // what the kernels use now
void set_active_isa(Isa);  // caller checks isa <= best_isa()
const char* isa_name(Isa);

// Measured FMA throughput ceiling: GFLOP/s of an FMA-only loop on `threads`
// threads with the active ISA (for benchmarks' "% of peak").
double peak_gflops(int threads, double seconds);

}  // namespace fastmlp
