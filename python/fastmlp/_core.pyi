"""Typed surface of fastmlp's compiled core (csrc/bindings/). Private: use fastmlp.kernels.

Keyword names are exactly the bindings' (tests/test_core_stub.py checks them).
Arrays are float32 row-major unless stated; every argument is validated by the
binding (TypeError / ValueError naming it) before any memory is touched.
"""
from typing import Any, Literal, Optional, Sequence, TypedDict, Union

import numpy as np
import numpy.typing as npt

_Array = npt.ArrayLike
_ActivationName = Literal["identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus"]
_Activation = Optional[Union[_ActivationName, dict]]  # dict: {"name": name, **params}
_Reduction = Literal["mean", "sum", "none"]

class _SgdParam(TypedDict, total=False):
    lr: float  # required
    momentum: float
    dampening: float
    weight_decay: float
    nesterov: bool
    maximize: bool
    momentum_buffer: Optional[np.ndarray]
    first_step: bool
    update: bool

class _AdamParam(TypedDict, total=False):
    lr: float  # required
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    amsgrad: bool
    maximize: bool
    step: float  # updates so far, a whole number
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    max_exp_avg_sq: Optional[np.ndarray]
    update: bool

class _RmspropParam(TypedDict, total=False):
    lr: float  # required
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool
    maximize: bool
    step: float  # updates so far, a whole number
    square_avg: np.ndarray
    momentum_buffer: Optional[np.ndarray]
    grad_avg: Optional[np.ndarray]
    update: bool

class _AdagradParam(TypedDict, total=False):
    lr: float  # required
    lr_decay: float
    weight_decay: float
    eps: float
    maximize: bool
    step: float  # updates so far, a whole number
    sum: np.ndarray
    update: bool

class _Optimizer(TypedDict):
    kind: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]
    params: Union[list[_SgdParam], list[_AdamParam], list[_RmspropParam], list[_AdagradParam]]

build_info: dict[str, Any]
"""Build facts: version, compiler, cxx_flags, build_type, sanitized, openmp."""

def sgemm(a: _Array, b: _Array, c: Optional[np.ndarray] = None, alpha: float = 1.0,
          beta: float = 0.0, trans_a: bool = False, trans_b: bool = False,
          bias: Optional[_Array] = None, activation: _Activation = None) -> np.ndarray:
    """C (M,N) = activation(alpha * op(a) @ op(b) + beta * C + bias); returns C."""

def sgemm_naive(a: _Array, b: _Array, c: Optional[np.ndarray] = None, alpha: float = 1.0,
                beta: float = 0.0, trans_a: bool = False, trans_b: bool = False,
                bias: Optional[_Array] = None, activation: _Activation = None) -> np.ndarray:
    """The triple-loop reference with sgemm's contract (slow; for tests)."""

def set_num_threads(num_threads: int) -> None:
    """Set fastmlp's thread count for every thread of the process (an int in [1, max_threads()])."""

def get_num_threads() -> int:
    """The thread count a kernel called now from this thread uses (see fastmlp.get_num_threads)."""

def max_threads() -> int:
    """The largest thread count accepted: max(256, CPUs configured)."""

def cpu_capability() -> str:
    """The active ISA path: 'avx512', 'avx2' or 'generic'."""

def best_cpu_capability() -> str:
    """The best ISA path this CPU and OS support."""

def set_cpu_capability(name: str) -> None:
    """Select the ISA path ('avx512', 'avx2', 'generic'), at most the best one."""

def peak_gflops(threads: int, seconds: float = 0.2) -> float:
    """Measured FMA ceiling (GFLOP/s) of `threads` cores on the active ISA path."""

# blk: the per-CPU GEMM plan
def gemm_init() -> None:
    """Read FASTMLP_CPU_CLASS / FASTMLP_GEMM_BLOCKING, derive the GEMM plans; ValueError if bad."""

def gemm_config() -> dict:
    """CPU, caches, CPU class, and the GEMM micro-kernel and blocking in use now."""

def set_cpu_class(name: str) -> None:
    """Select a CPU class's GEMM strategy ('avx512_2fma', 'avx512_256', 'avx2', 'generic')."""

def _set_gemm_swap(on: bool) -> None:
    """narrow, tests: False turns sgemm's swapped path off (no bit changes), True back on."""

def _gemm_swap_kernel(trans_a: bool, trans_b: bool, M: int, N: int, K: int, beta: float,
                      has_bias: bool) -> Optional[str]:
    """narrow, tests: the micro-kernel sgemm's swapped path runs this shape on, or None."""

def _gemm_direct_kernel(M: int, N: int, K: int) -> str:
    """narrow, tests: the micro-kernel sgemm's direct path runs an M x N x K product on."""

def set_gemm_blocking(text: Optional[str]) -> None:
    """Tests: blocking 'MC,KC,NC' for every plan, or None for the cache model's."""

def gemm_blocking_model(caches: list, cpu_class: str, isa: str) -> tuple[int, int, int]:
    """(MC, KC, NC) the blocking model derives from a cache description."""

def parse_gemm_blocking(text: str) -> tuple[int, int, int]:
    """(MC, KC, NC) from 'MC,KC,NC' (FASTMLP_GEMM_BLOCKING's syntax), or ValueError."""

def relu_forward(x: _Array, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = max(x, 0), any shape; out may be x (in place)."""

def relu_backward(dout: _Array, y: _Array, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = y <= 0 ? 0 : dout (a select, as torch's threshold_backward), y = relu_forward(x); dx may be dout or y."""

def identity_forward(x: _Array, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = x."""

def identity_backward(dout: _Array, saved: _Array, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dout (saved unused)."""

def leaky_relu_forward(x: _Array, negative_slope: float = 0.01, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = x > 0 ? x : x * negative_slope."""

def leaky_relu_backward(dout: _Array, x: _Array, negative_slope: float = 0.01,
                        dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = x > 0 ? dout : dout * negative_slope."""

def tanh_forward(x: _Array, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = tanh(x)."""

def tanh_backward(dout: _Array, y: _Array, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dout * (1 - y*y)."""

def sigmoid_forward(x: _Array, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = 1 / (1 + exp(-x))."""

def sigmoid_backward(dout: _Array, y: _Array, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dout * (1 - y) * y."""

def gelu_forward(x: _Array, approximate: Literal["none", "tanh"] = "none",
                 out: Optional[np.ndarray] = None) -> np.ndarray:
    """GELU, erf form or tanh approximation."""

def gelu_backward(dout: _Array, x: _Array, approximate: Literal["none", "tanh"] = "none",
                  dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dout * gelu'(x)."""

def silu_forward(x: _Array, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = x / (1 + exp(-x))."""

def silu_backward(dout: _Array, x: _Array, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dout * s * (1 + x (1 - s))."""

def elu_forward(x: _Array, alpha: float = 1.0, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = x > 0 ? x : alpha * expm1(x)."""

def elu_backward(dout: _Array, y: _Array, alpha: float = 1.0, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = y <= 0 ? dout * (y + alpha) : dout."""

def softplus_forward(x: _Array, beta: float = 1.0, threshold: float = 20.0,
                     out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = beta*x > threshold ? x : log1p(exp(beta*x)) / beta."""

def softplus_backward(dout: _Array, x: _Array, beta: float = 1.0, threshold: float = 20.0,
                      dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = beta*x > threshold ? dout : dout * z / (z + 1), z = exp(beta*x)."""

def _vecmath(fn: Literal["exp", "expm1", "log1p", "tanh", "erf", "sigmoid"], x: _Array) -> np.ndarray:
    """The active path's raw vector transcendental (tests, bench/ulp_sweep.py)."""

def bias_grad(dout: _Array, db: Optional[np.ndarray] = None) -> np.ndarray:
    """Column sums of dout (M, N) -> (N,)."""

def cross_entropy(logits: _Array, target: _Array, weight: Optional[_Array], ignore_index: int,
                  label_smoothing: float, reduction: _Reduction,
                  dlogits: Union[np.ndarray, None, Literal[False]]
                  ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """Softmax cross-entropy and its gradient -> (loss, dlogits); dlogits=False skips it."""

def mse_loss(pred: _Array, target: _Array, reduction: _Reduction,
             dpred: Union[np.ndarray, None, Literal[False]]
             ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """Squared error and its gradient -> (loss, dpred); dpred=False skips it."""

def l1_loss(pred: _Array, target: _Array, reduction: _Reduction,
            dpred: Union[np.ndarray, None, Literal[False]]
            ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """Absolute error and its gradient -> (loss, dpred); dpred=False skips it."""

def huber_loss(pred: _Array, target: _Array, delta: float, reduction: _Reduction,
               dpred: Union[np.ndarray, None, Literal[False]]
               ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """Huber loss (delta > 0) and its gradient -> (loss, dpred); dpred=False skips it."""

def smooth_l1_loss(pred: _Array, target: _Array, beta: float, reduction: _Reduction,
                   dpred: Union[np.ndarray, None, Literal[False]]
                   ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """Smooth L1 loss (beta >= 0) and its gradient -> (loss, dpred); dpred=False skips it."""

def bce_with_logits(logits: _Array, target: _Array, weight: Optional[_Array],
                    pos_weight: Optional[_Array], reduction: _Reduction,
                    dlogits: Union[np.ndarray, None, Literal[False]]
                    ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """Binary cross-entropy with logits and its gradient -> (loss, dlogits); False skips it."""

def log_softmax(x: _Array, out: Optional[np.ndarray]) -> np.ndarray:
    """Stable log-softmax over the last dimension; out may be x."""

def softmax(x: _Array, out: Optional[np.ndarray]) -> np.ndarray:
    """Stable softmax over the last dimension; out may be x."""

# softmax backward, NLL (issue 10)
def log_softmax_backward(dout: _Array, y: _Array, dx: Optional[np.ndarray]) -> np.ndarray:
    """dx = dout - exp(y) * sum(dout) over the last dimension; dx may be dout or y."""

def softmax_backward(dout: _Array, y: _Array, dx: Optional[np.ndarray]) -> np.ndarray:
    """dx = y * (dout - sum(dout * y)) over the last dimension; dx may be dout or y."""

def nll_loss(input: _Array, target: _Array, weight: Optional[_Array], ignore_index: int,
             reduction: _Reduction, dinput: Union[np.ndarray, None, Literal[False]]
             ) -> tuple[Union[float, np.ndarray], Optional[np.ndarray]]:
    """NLL of log-probabilities and its gradient -> (loss, dinput); dinput=False skips it."""

def sgd_update(param: np.ndarray, grad: _Array, momentum_buffer: Optional[np.ndarray], lr: float,
               momentum: float, dampening: float, weight_decay: float, nesterov: bool,
               maximize: bool, first_step: bool) -> None:
    """One torch.optim.SGD step for one parameter, in place."""

def adam_update(param: np.ndarray, grad: _Array, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                max_exp_avg_sq: Optional[np.ndarray], lr: float, beta1: float, beta2: float,
                eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                step: float) -> None:
    """One torch.optim.Adam step for one parameter, in place (step: this update's number)."""

def adamw_update(param: np.ndarray, grad: _Array, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                 max_exp_avg_sq: Optional[np.ndarray], lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                 step: float) -> None:
    """One torch.optim.AdamW step for one parameter, in place (step: this update's number)."""

def dropout_forward(x: _Array, p: float, seed: int, out: Optional[np.ndarray] = None) -> np.ndarray:
    """y = x * mask (1/(1-p) in float32 where kept, 0 where dropped), the mask from
    Philox4x32-10 keyed by the uint64 seed, counter = element index / 4; out may be x."""

def dropout_backward(dout: _Array, p: float, seed: int, dx: Optional[np.ndarray] = None) -> np.ndarray:
    """dx = dout * mask, the forward's mask for (p, seed) regenerated; dx may be dout."""

def _philox4x32_10(ctr: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]:
    """Philox4x32-10 of a 4-word counter under a 2-word key (known-answer tests)."""

class _Dropout(TypedDict):
    p: float              # in [0, 1)
    seeds: np.ndarray     # uint64 (steps,): step s drops with seeds[s]
def rmsprop_update(param: np.ndarray, grad: _Array, square_avg: np.ndarray,
                   momentum_buffer: Optional[np.ndarray], grad_avg: Optional[np.ndarray],
                   lr: float, alpha: float, eps: float, weight_decay: float, momentum: float,
                   centered: bool, maximize: bool) -> None:
    """One torch.optim.RMSprop step for one parameter, in place."""

def adagrad_update(param: np.ndarray, grad: _Array, state_sum: np.ndarray, lr: float,
                   lr_decay: float, weight_decay: float, eps: float, maximize: bool,
                   step: float) -> None:
    """One torch.optim.Adagrad step for one parameter, in place (step: this update's number)."""

def total_norm(arrays: Sequence[_Array]) -> float:
    """The 2-norm of the arrays' 2-norms, in double (clip_grad_norm_'s total for norm_type 2)."""

def train_epoch(weights: Sequence[np.ndarray], biases: Sequence[Optional[np.ndarray]],
                activations: Sequence[_Activation], X: _Array, y: _Array, perm: _Array,
                batch_size: int, drop_last: bool, optimizer: _Optimizer, *,
                loss: Literal["cross_entropy", "mse", "l1", "huber", "smooth_l1", "bce_with_logits",
                              "nll"],
                reduction: Literal["mean", "sum"] = "mean",
                class_weight: Optional[_Array] = None, ignore_index: int = -100,
                label_smoothing: float = 0.0,
                normalize: Optional[tuple[Optional[float], Optional[float]]] = None,
                dropouts: Optional[Sequence[Optional[_Dropout]]] = None,
                delta: float = 1.0, beta: float = 1.0, pos_weight: Optional[_Array] = None,
                log_softmax: bool = False,
                clip_grad_norm: Optional[float] = None,
                weight_sq_sums: bool = False,
                comm: Optional[dict] = None,
                sk_fit: Optional[dict] = None) -> tuple:
    """One fused training epoch in place -> (sum of step losses, steps), and with
    weight_sq_sums=True also each step's sum of the weights' squares (float64 (steps,));
    with sk_fit (issue 11) scikit-learn's epoch loop over many epochs, results in the dict."""

# -- the matrix-vector path and the one-call forward (issue 12) --
def gemv_forward(x: _Array, weight: _Array, bias: Optional[_Array] = None,
                 activation: _Activation = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """out (M, N) = activation(x (M, K) @ weight (N, K).T + bias), the matrix-vector path."""

def gemv_max_rows() -> int:
    """The most rows for which infer_forward runs gemv_forward on the active path (else sgemm)."""

def infer_plan(weights: Sequence[np.ndarray], biases: Sequence[Optional[np.ndarray]],
               activations: Sequence[_Activation],
               head: Optional[Literal["softmax", "log_softmax"]] = None,
               transpose: bool = False) -> Any:
    """The layers of infer_forward validated once, for infer_run (it keeps the arrays alive).
    transpose: weights given as (in_features, out_features) (scikit-learn's coefs_), any real
    dtype and layout; the plan then keeps float32 (out, in) copies of them and of the biases."""

def infer_run(plan: Any, x: _Array, out: Optional[np.ndarray] = None) -> np.ndarray:
    """infer_forward with a plan from infer_plan: out (N, out_features)."""

def infer_run_checked(plan: Any, x: _Array) -> tuple[np.ndarray, bool]:
    """(out, finite): infer_run, and whether x was all finite (float64 x: its values;
    float32 x: the first layer's pre-activations, False whenever x holds inf or NaN and
    also when they overflowed)."""

def infer_forward(x: _Array, weights: Sequence[np.ndarray], biases: Sequence[Optional[np.ndarray]],
                  activations: Sequence[_Activation],
                  head: Optional[Literal["softmax", "log_softmax"]] = None,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """out (N, out_features) = the whole stack on x in one call."""


# ---- full-data loss and gradient (train/loss_grad.cpp; fastmlp.train.loss_and_grad) ----
def loss_and_grad(weights: Sequence[np.ndarray], biases: Sequence[Optional[np.ndarray]],
                  activations: Sequence[_Activation], X: _Array, y: _Array,
                  grads: Sequence[np.ndarray], *,
                  loss: Literal["cross_entropy", "mse", "l1", "huber", "smooth_l1",
                                "bce_with_logits", "nll"],
                  reduction: Literal["mean", "sum"] = "mean",
                  class_weight: Optional[_Array] = None, ignore_index: int = -100,
                  label_smoothing: float = 0.0, delta: float = 1.0, beta: float = 1.0,
                  pos_weight: Optional[_Array] = None, log_softmax: bool = False,
                  chunk_rows: int = 4096) -> float:
    """The loss over all rows of X; grads (W0, b0, W1, ...) overwritten with its gradient."""

# ---- dp: the training steps' thread choice (benchmark and test hooks) ----
def _step_threads(mode: int, team: Union[bool, int] = True) -> None:
    """Force the steps' and infer_forward's thread choice (0: measured, 1: the caller's count, 2: one
    thread) and forget the remembered choices; team: False/0 no team step, True/1 where it pays,
    2 wherever it applies."""

def _step_thread_stats() -> dict:
    """The last step loop's chooser: threads, sec_per_row, min_sec_per_row, timed_steps; team_steps since import."""

def _thread_choice_simulate(times: _Array) -> np.ndarray:
    """Tests: the option (0: caller's count, 1: one thread) each step runs on, step i taking times[i, option]."""

def _thread_choice_memory_size() -> int:
    """Tests: how many step loops' thread choices are remembered."""
