"""NumPy float64 specification of every fastmlp kernel (the test oracle).

Each function here has exactly the signature of its twin in
:mod:`fastmlp.kernels` (C++, float32) and defines what that twin computes;
see ``csrc/kernels.h`` for the C++ side. Inputs may be of any real dtype:
they are converted to float64 and results are float64. Nothing here writes
into its inputs except :func:`sgd_update`, which is in place by contract.

The definitions of :func:`cross_entropy`, the elementwise losses
(:func:`mse_loss`, :func:`l1_loss`...) and :func:`sgd_update` are PyTorch's
(``torch.nn.functional.cross_entropy`` with class-index targets,
``torch.nn.functional.mse_loss``, ``l1_loss``..., ``torch.optim.SGD``);
``tests/test_reference.py`` checks them against PyTorch when it is installed.

Only NumPy is needed. Clarity comes before speed: this is a specification.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = [
    "sgemm",
    "relu_forward",
    "relu_backward",
    "bias_grad",
    "identity_forward",
    "identity_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "tanh_forward",
    "tanh_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "gelu_forward",
    "gelu_backward",
    "silu_forward",
    "silu_backward",
    "elu_forward",
    "elu_backward",
    "softplus_forward",
    "softplus_backward",
    "log_softmax",
    "softmax",
    "cross_entropy",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "bce_with_logits",
    "sgd_update",
    "adam_update",
    "adamw_update",
    "dropout_forward",
    "dropout_backward",
    # softmax backward, NLL (issue 10)
    "log_softmax_backward",
    "softmax_backward",
    "nll_loss",
    "rmsprop_update",
    "adagrad_update",
    "total_norm",
    # the matrix-vector path and the one-call forward (issue 12)
    "gemv_forward",
    "infer_forward",
]

_REDUCTIONS = ("none", "mean", "sum")


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# The activations a GEMM epilogue can apply, by the names the kernels take
# (None: identity), with the keyword parameters of each one's _forward (and
# their defaults). The C++ twin is kernels.h's ActivationSpec, parsed by
# csrc/bindings/bindings_util.h parse_activation.
_ACTIVATIONS = {
    "identity": {},
    "relu": {},
    "leaky_relu": {"negative_slope": 0.01},
    "tanh": {},
    "sigmoid": {},
    "gelu": {"approximate": "none"},
    "silu": {},
    "elu": {"alpha": 1.0},
    "softplus": {"beta": 1.0, "threshold": 20.0},
}


def _activation_fn(activation):
    """None | name | {"name": name, **params} -> the float64 forward (None for identity)."""
    if activation is None:
        return None
    params = {}
    if isinstance(activation, dict):
        params = dict(activation)
        if "name" not in params:
            raise ValueError("activation: a dict activation needs a 'name' key")
        activation = params.pop("name")
    if not isinstance(activation, str):
        raise TypeError(f"activation: expected None or one of {sorted(_ACTIVATIONS)}, "
                        f"got {type(activation).__name__}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected None or one of {sorted(_ACTIVATIONS)}, "
                         f"got {activation!r}")
    unknown = set(params) - set(_ACTIVATIONS[activation])
    if unknown:
        raise ValueError(f"activation: unknown parameter(s) {sorted(unknown)} for {activation!r}")
    fn = globals()[activation + "_forward"]
    return lambda r: fn(r, **params)


def _resolve_activation(activation, relu):
    """``activation`` with sgemm's deprecated ``relu=`` bool folded in.

    Shared by :func:`sgemm` and :func:`fastmlp.kernels.sgemm` so the alias
    behaves the same in both: ``relu=True`` warns (DeprecationWarning) and
    means ``activation="relu"``; giving both is a TypeError.
    """
    if relu is None:
        return activation
    if activation is not None:
        raise TypeError("sgemm: pass activation= or the deprecated relu=, not both")
    warnings.warn("sgemm: relu= is deprecated; use activation='relu' (or None)",
                  DeprecationWarning, stacklevel=3)
    return "relu" if relu else None


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# --------------------------------------------------------------------- GEMM --


def sgemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
          bias=None, activation=None, relu=None) -> np.ndarray:
    """General matrix multiply with fused bias and activation.

    ``op(A)`` is ``a.T`` if ``trans_a`` else ``a``, shape (M, K);
    ``op(B)`` is ``b.T`` if ``trans_b`` else ``b``, shape (K, N).
    Returns the new (M, N) float64 array::

        R = alpha * op(A) @ op(B) + beta * C + bias[None, :]
        R = act(R)                                      unless activation is None

    ``c`` (M, N) or None (then C = 0 and ``beta`` is ignored). When
    ``beta == 0`` the values of ``c`` are never used, so NaN or inf in ``c``
    do not leak into R (no ``0 * NaN``). ``bias`` is (N,) or None. ``c`` is
    not written. Zero-sized dimensions are allowed: K == 0 gives
    ``beta * C + bias``. ``activation``: None (identity), a name
    ("relu", "gelu", ...: the ``<name>_forward`` functions below) or
    ``{"name": name, **params}`` with that function's keyword arguments;
    ``relu=True`` is a deprecated alias of
    ``activation="relu"`` (DeprecationWarning; both together: TypeError).

    Raises ValueError naming the argument when a shape or name is wrong.
    """
    activation = _activation_fn(_resolve_activation(activation, relu))
    a, b = _f64(a), _f64(b)
    if a.ndim != 2:
        raise ValueError(f"sgemm: a must be 2-D, got shape {a.shape}")
    if b.ndim != 2:
        raise ValueError(f"sgemm: b must be 2-D, got shape {b.shape}")
    op_a = a.T if trans_a else a
    op_b = b.T if trans_b else b
    (M, K), (Kb, N) = op_a.shape, op_b.shape
    if Kb != K:
        raise ValueError(
            f"sgemm: inner dimensions disagree: op(a) is {op_a.shape} and op(b) is "
            f"{op_b.shape}; b must have shape {(N, K) if trans_b else (K, N)}"
        )

    # alpha == 0: BLAS's and the kernel's alpha * op(A) @ op(B) is 0 without reading A and B
    # (inf or NaN in them do not leak), as beta == 0 for C below
    result = alpha * (op_a @ op_b) if alpha != 0 else np.zeros((M, N))  # K == 0 gives zeros

    if c is not None:
        c = _f64(c)
        if c.shape != (M, N):
            raise ValueError(f"sgemm: c must have shape (M, N) = {(M, N)}, got {c.shape}")
        if beta != 0:
            result = result + beta * c
    if bias is not None:
        bias = _f64(bias)
        if bias.shape != (N,):
            raise ValueError(f"sgemm: bias must have shape (N,) = {(N,)}, got {bias.shape}")
        result = result + bias[None, :]
    if activation is not None:
        result = activation(result)
    return result


# --------------------------------------------------------------------- ReLU --


def relu_forward(x) -> np.ndarray:
    """``y = max(x, 0)`` elementwise; any shape. NaN propagates (as torch.relu)."""
    return np.maximum(_f64(x), 0.0)


def relu_backward(dout, y) -> np.ndarray:
    """``dx = 0 where y <= 0, else dout`` (a select, as PyTorch's ``threshold_backward``: an
    inf/NaN ``dout`` gives 0 where ``y <= 0``, a NaN ``y`` passes ``dout``); ``y`` is
    relu_forward's result, same shape as ``dout``."""
    dout, y = _f64(dout), _f64(y)
    if dout.shape != y.shape:
        raise ValueError(
            f"relu_backward: y (relu_forward's out) must have the shape of dout {dout.shape}, got {y.shape}"
        )
    return np.where(y <= 0, 0.0, dout)


def bias_grad(dout) -> np.ndarray:
    """Column sums: dout (M, N) -> db (N,), ``db[j] = sum_i dout[i, j]`` (M == 0 gives zeros)."""
    dout = _f64(dout)
    if dout.ndim != 2:
        raise ValueError(f"bias_grad: dout must be 2-D (M, N), got shape {dout.shape}")
    return dout.sum(axis=0)


# -------------------------------------------------------------- activations --
# PyTorch's definitions (torch.nn.functional.*). Each _backward's second
# argument is what the activation saves: the output y (tanh, sigmoid, elu) or
# the input x (leaky_relu, gelu, silu, softplus; identity's is unused).

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _pair(name, dout, saved, saved_name):
    dout, saved = _f64(dout), _f64(saved)
    if dout.shape != saved.shape:
        raise ValueError(f"{name}: {saved_name} must have the shape of dout {dout.shape}, got {saved.shape}")
    return dout, saved


def _check_approximate(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")


def identity_forward(x) -> np.ndarray:
    """``y = x``."""
    return _f64(x).copy()


def identity_backward(dout, saved) -> np.ndarray:
    """``dx = dout`` (``saved``: unused, of dout's shape)."""
    dout, _ = _pair("identity_backward", dout, saved, "saved")
    return dout.copy()


def leaky_relu_forward(x, negative_slope=0.01) -> np.ndarray:
    """``y = x if x > 0 else x * negative_slope``."""
    x = _f64(x)
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(dout, x, negative_slope=0.01) -> np.ndarray:
    """``dx = dout if x > 0 else dout * negative_slope`` (x: the input)."""
    dout, x = _pair("leaky_relu_backward", dout, x, "x")
    return np.where(x > 0, dout, dout * negative_slope)


def tanh_forward(x) -> np.ndarray:
    """``y = tanh(x)``."""
    return np.tanh(_f64(x))


def tanh_backward(dout, y) -> np.ndarray:
    """``dx = dout * (1 - y * y)`` (y: the output)."""
    dout, y = _pair("tanh_backward", dout, y, "y")
    return dout * (1.0 - y * y)


def sigmoid_forward(x) -> np.ndarray:
    """``y = 1 / (1 + exp(-x))``."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-_f64(x)))


def sigmoid_backward(dout, y) -> np.ndarray:
    """``dx = dout * (1 - y) * y`` (y: the output)."""
    dout, y = _pair("sigmoid_backward", dout, y, "y")
    return dout * (1.0 - y) * y


def gelu_forward(x, approximate="none") -> np.ndarray:
    """``x * 0.5 * (1 + erf(x / sqrt 2))``; approximate="tanh":
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    _check_approximate(approximate)
    x = _f64(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x**3)))
    return x * 0.5 * (1.0 + _erf(x * _SQRT1_2))


def gelu_backward(dout, x, approximate="none") -> np.ndarray:
    """``dx = dout * gelu'(x)`` (x: the input), the exact derivative of gelu_forward."""
    _check_approximate(approximate)
    dout, x = _pair("gelu_backward", dout, x, "x")
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x**3))
        dinner = _SQRT_2_OVER_PI * (1.0 + 3.0 * _KAPPA * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)
    cdf = 0.5 * (1.0 + _erf(x * _SQRT1_2))
    return dout * (cdf + x * np.exp(-0.5 * x * x) * _INV_SQRT_2PI)


def silu_forward(x) -> np.ndarray:
    """``y = x / (1 + exp(-x))``."""
    x = _f64(x)
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-x))


def silu_backward(dout, x) -> np.ndarray:
    """``dx = dout * s * (1 + x * (1 - s))``, s = sigmoid(x) (x: the input)."""
    dout, x = _pair("silu_backward", dout, x, "x")
    s = sigmoid_forward(x)
    return dout * s * (1.0 + x * (1.0 - s))


def elu_forward(x, alpha=1.0) -> np.ndarray:
    """``y = x if x > 0 else alpha * expm1(x)``."""
    x = _f64(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_backward(dout, y, alpha=1.0) -> np.ndarray:
    """``dx = dout * (y + alpha) if y <= 0 else dout`` (y: the output; PyTorch's is_result form)."""
    dout, y = _pair("elu_backward", dout, y, "y")
    return np.where(y <= 0, dout * (y + alpha), dout)


def _check_beta(beta):
    if beta == 0:
        raise ValueError("beta: expected a nonzero float, got 0.0")


def softplus_forward(x, beta=1.0, threshold=20.0) -> np.ndarray:
    """``y = x if beta * x > threshold else log1p(exp(beta * x)) / beta`` (beta != 0)."""
    _check_beta(beta)
    x = _f64(x)
    bx = beta * x
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(np.minimum(bx, threshold))) / beta
    return np.where(bx > threshold, x, soft)


def softplus_backward(dout, x, beta=1.0, threshold=20.0) -> np.ndarray:
    """``dx = dout if beta * x > threshold else dout * z / (z + 1)``, z = exp(beta * x) (x: the input)."""
    _check_beta(beta)
    dout, x = _pair("softplus_backward", dout, x, "x")
    bx = beta * x
    z = np.exp(np.minimum(bx, threshold))
    return np.where(bx > threshold, dout, dout * z / (z + 1.0))


# ------------------------------------------------------------------ softmax --


def log_softmax(x) -> np.ndarray:
    """Stable log-softmax over the last axis: ``x - m - log(sum(exp(x - m)))``, m the row max."""
    x = _f64(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x) -> np.ndarray:
    """Softmax over the last axis: ``exp(log_softmax(x))``."""
    return np.exp(log_softmax(x))


def _same_shape_rows(name, dout, y):
    dout, y = _f64(dout), _f64(y)
    if dout.ndim < 1:
        raise ValueError(f"{name}: dout must have at least 1 dimension")
    if y.shape != dout.shape:
        raise ValueError(f"{name}: y must have the shape of dout {dout.shape}, got {y.shape}")
    return dout, y


def log_softmax_backward(dout, y) -> np.ndarray:
    """Gradient of :func:`log_softmax` over the last axis from its output ``y`` (PyTorch's
    ``_log_softmax_backward_data``): ``dout - exp(y) * sum(dout)``."""
    dout, y = _same_shape_rows("log_softmax_backward", dout, y)
    return dout - np.exp(y) * dout.sum(axis=-1, keepdims=True)


def softmax_backward(dout, y) -> np.ndarray:
    """Gradient of :func:`softmax` over the last axis from its output ``y`` (PyTorch's
    ``_softmax_backward_data``): ``y * (dout - sum(dout * y))``."""
    dout, y = _same_shape_rows("softmax_backward", dout, y)
    return y * (dout - (dout * y).sum(axis=-1, keepdims=True))


# ------------------------------------------------------------ cross-entropy --


def _class_targets(name, xname, x, target, weight, ignore_index):
    """The checks of the class-index losses (:func:`cross_entropy`, :func:`nll_loss`):
    ``(x (N, C) float64, target int64, ignored mask, w (C,) float64)``."""
    x = _f64(x)
    if x.ndim != 2:
        raise ValueError(f"{name}: {xname} must be 2-D (N, C), got shape {x.shape}")
    N, C = x.shape
    if C < 1:
        raise ValueError(f"{name}: {xname} must have at least one class (C >= 1)")
    target = np.asarray(target)
    if target.ndim != 1 or target.shape[0] != N:
        raise ValueError(f"{name}: target must have shape (N,) = {(N,)}, got {target.shape}")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"{name}: target must have an integer dtype, got {target.dtype}")
    target = target.astype(np.int64)
    ignored = target == ignore_index
    bad = ~ignored & ((target < 0) | (target >= C))
    if bad.any():
        raise ValueError(
            f"{name}: target value {target[bad][0]} is out of range [0, {C}) "
            f"and is not ignore_index ({ignore_index})"
        )
    if weight is None:
        w = np.ones(C)
    else:
        w = _f64(weight)
        if w.shape != (C,):
            raise ValueError(f"{name}: weight must have shape (C,) = {(C,)}, got {w.shape}")
    return x, target, ignored, w


def cross_entropy(logits, target, *, weight=None, ignore_index=-100,
                  label_smoothing=0.0, reduction="mean"):
    """Softmax cross-entropy with class-index targets, and its gradient.

    Exactly ``torch.nn.functional.cross_entropy(logits, target, weight,
    ignore_index=..., reduction=..., label_smoothing=...)``.

    logits (N, C), target (N,) integers in [0, C) or equal to ``ignore_index``,
    weight (C,) or None (all ones). With ``p_i = softmax(logits_i)``,
    ``eps = label_smoothing``::

        l_i = (1 - eps) * w[t_i] * -log p_i[t_i] + (eps / C) * sum_c w[c] * -log p_i[c]
        l_i = 0                                           if t_i == ignore_index

    reduction "none": the (N,) float64 array ``l``; "sum": ``sum_i l_i``;
    "mean": ``sum_i l_i / sum_{i not ignored} w[t_i]`` (PyTorch's weighted
    mean). When that denominator is 0 (every row ignored, N == 0, or every
    kept target has weight 0) the mean is nan, as in PyTorch (0/0 there even
    with label smoothing). "sum" and "mean" return a Python float.

    Returns ``(loss, dlogits)``; dlogits (N, C) is the gradient of the reduced
    loss ("none": of ``sum_i l_i``)::

        dl_i/dlogits_i = ((1 - eps) * w[t_i] + (eps / C) * sum(w)) * p_i
                         - (1 - eps) * w[t_i] * onehot(t_i) - (eps / C) * w

    divided by the mean's denominator for "mean". Ignored rows get exactly 0,
    also when every row is ignored (as in PyTorch); when the mean's
    denominator is 0 the kept rows' gradients are nan (as in PyTorch).
    """
    logits, target, ignored, w = _class_targets("cross_entropy", "logits", logits, target,
                                                weight, ignore_index)
    N, C = logits.shape
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    _check_reduction(reduction)

    kept = ~ignored
    t = np.where(kept, target, 0)  # any valid index for ignored rows; masked below
    rows = np.arange(N)
    logp = log_softmax(logits)  # (N, C)
    p = np.exp(logp)
    w_t = w[t]  # (N,)

    nll = -logp[rows, t]  # (N,)
    losses = (1 - eps) * w_t * nll
    if eps != 0:  # as PyTorch and the kernel: no smoothing term (0 * inf with a -inf logit)
        losses = losses + (eps / C) * -(logp * w).sum(axis=1)
    losses = np.where(kept, losses, 0.0)

    onehot = np.zeros((N, C))
    onehot[rows, t] = 1.0
    coef = (1 - eps) * w_t  # (N,)
    grad = ((coef + (eps / C) * w.sum())[:, None] * p
            - coef[:, None] * onehot
            - (eps / C) * w[None, :])
    grad[ignored] = 0.0

    if reduction == "none":
        return losses, grad
    if reduction == "sum":
        return float(losses.sum()), grad
    denominator = w_t[kept].sum()
    if denominator == 0:
        # Every row ignored (or N == 0), or every kept target weighs 0. PyTorch
        # computes 0/0 here: the loss is nan; kept rows' gradients are nan,
        # ignored rows' stay 0.
        grad[kept] = np.nan
        return math.nan, grad
    return float(losses.sum() / denominator), grad / denominator


# ---------------------------------------------------------------------- NLL --


def nll_loss(input, target, *, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at class indices
    ``target`` (N,) (``torch.nn.functional.nll_loss``), and its gradient.

    ``l_i = -w[t_i] * input[i, t_i]`` (0 where ``t_i == ignore_index``); reduction "none":
    the (N,) float64 array, "sum": ``sum_i l_i``, "mean": ``sum_i l_i / sum_{i not ignored}
    w[t_i]`` (nan when that is 0, as PyTorch). Returns ``(loss, dinput)``: dinput (N, C) is
    ``-w[t_i]`` at ``(i, t_i)`` (divided by the mean's denominator for "mean"; nan for kept
    rows when it is 0), 0 elsewhere and on ignored rows.
    """
    x, target, ignored, w = _class_targets("nll_loss", "input", input, target, weight,
                                           ignore_index)
    _check_reduction(reduction)
    N, C = x.shape
    kept = ~ignored
    rows = np.flatnonzero(kept)
    t = target[kept]
    losses = np.zeros(N)
    losses[rows] = -w[t] * x[rows, t]
    grad = np.zeros((N, C))
    grad[rows, t] = -w[t]
    if reduction == "none":
        return losses, grad
    if reduction == "sum":
        return float(losses.sum()), grad
    denominator = w[t].sum()
    if denominator == 0:
        grad[rows, t] = np.nan
        return math.nan, grad
    return float(losses.sum() / denominator), grad / denominator


# -------------------------------------------------------- elementwise losses --
# mse_loss, l1_loss, huber_loss, smooth_l1_loss: functions of d = pred - target
# elementwise (torch.nn.functional's definitions), reduced by _reduce.


def _same_shape(name, pred, target, pred_name="pred"):
    pred, target = _f64(pred), _f64(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"{name}: target must have the shape of {pred_name} {pred.shape}, got {target.shape}"
        )
    return pred, target


def _reduce(losses, grad, reduction):
    """``(loss, dpred)`` of elementwise ``losses`` and their derivatives ``grad``.

    reduction "none": ``losses`` (their shape); "sum": ``sum(losses)``; "mean":
    ``sum(losses) / losses.size`` (nan for size 0, as PyTorch); "sum"/"mean"
    give a Python float. dpred is the gradient of the reduced loss ("none": of
    ``sum(losses)``): ``grad``, divided by ``losses.size`` for "mean".
    """
    _check_reduction(reduction)
    if reduction == "none":
        return losses, grad
    if reduction == "sum":
        return float(losses.sum()), grad
    n = losses.size
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(losses.sum()) / n), grad / max(n, 1)


def _elementwise(name, pred, target, reduction, fn):
    """The shared skeleton: ``fn(d)`` gives (losses, dlosses/dd) of d = pred - target."""
    pred, target = _same_shape(name, pred, target)
    _check_reduction(reduction)
    return _reduce(*fn(pred - target), reduction)


def mse_loss(pred, target, *, reduction="mean"):
    """Squared error ``l = (pred - target)**2`` elementwise, and its gradient.

    pred and target have identical shapes (any; no broadcasting). Reductions
    as :func:`_reduce`. Returns ``(loss, dpred)``, dpred the gradient of the
    reduced loss ("none": of ``sum(l)``): ``2 * (pred - target)``, divided by
    ``l.size`` for "mean".
    """
    return _elementwise("mse_loss", pred, target, reduction, lambda d: (d * d, 2.0 * d))


def l1_loss(pred, target, *, reduction="mean"):
    """Absolute error ``l = |pred - target|`` elementwise, and its gradient
    (``torch.nn.functional.l1_loss``).

    Shapes and reductions as :func:`mse_loss`. dpred is ``sign(pred - target)``
    (0 where they are equal, as PyTorch; nan for nan), divided by ``l.size``
    for "mean".
    """
    return _elementwise("l1_loss", pred, target, reduction, lambda d: (np.abs(d), np.sign(d)))


def huber_loss(pred, target, *, delta=1.0, reduction="mean"):
    """Huber loss elementwise, and its gradient (``torch.nn.functional.huber_loss``)::

        l = 0.5 * d**2                    where |d| < delta
            delta * (|d| - 0.5 * delta)   elsewhere            (d = pred - target)

    ``delta`` must be > 0 (ValueError, as PyTorch). Shapes and reductions as
    :func:`mse_loss`; dpred is ``clip(d, -delta, delta)``, over ``l.size`` for "mean".
    """
    delta = float(delta)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")

    def fn(d):
        a = np.abs(d)
        quad = a < delta
        return (np.where(quad, 0.5 * d * d, delta * (a - 0.5 * delta)),
                np.where(quad, d, delta * np.sign(d)))

    return _elementwise("huber_loss", pred, target, reduction, fn)


def smooth_l1_loss(pred, target, *, beta=1.0, reduction="mean"):
    """Smooth L1 loss elementwise, and its gradient (``torch.nn.functional.smooth_l1_loss``)::

        l = 0.5 * d**2 / beta    where |d| < beta
            |d| - 0.5 * beta     elsewhere            (d = pred - target)

    ``beta`` must be >= 0 (ValueError, as PyTorch); beta == 0 is :func:`l1_loss`.
    Shapes and reductions as :func:`mse_loss`; dpred is ``d / beta`` where
    ``|d| < beta``, else ``sign(d)``, over ``l.size`` for "mean".
    """
    beta = float(beta)
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")

    def fn(d):
        a = np.abs(d)
        quad = a < beta
        with np.errstate(divide="ignore", invalid="ignore"):  # beta == 0: quad is all False
            return (np.where(quad, 0.5 * d * d / beta, a - 0.5 * beta),
                    np.where(quad, d / beta, np.sign(d)))

    return _elementwise("smooth_l1_loss", pred, target, reduction, fn)


def _trailing(name, w, shape):
    """``w`` as float64, its shape a trailing part of ``shape`` (None stays None)."""
    if w is None:
        return None
    w = _f64(w)
    if w.ndim > len(shape) or (w.ndim and w.shape != tuple(shape[len(shape) - w.ndim:])):
        raise ValueError(f"bce_with_logits: {name} must have a shape that is a trailing part of "
                         f"logits' {tuple(shape)}, got {w.shape}")
    return w


def bce_with_logits(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """Binary cross-entropy of ``sigmoid(logits)`` against ``target`` elementwise, and its
    gradient (``torch.nn.functional.binary_cross_entropy_with_logits``), in PyTorch's
    numerically stable form (x = logits, t = target, pw = pos_weight, w = weight)::

        c = 1 + (pw - 1) * t
        l = w * ((1 - t) * x + c * (log1p(exp(-|x|)) + max(-x, 0)))
        dlogits = w * (c * sigmoid(x) - pw * t)

    ``weight`` and ``pos_weight`` broadcast over the logits; here (as in the kernel) their
    shapes must be trailing parts of the logits' shape (``(C,)`` for ``(N, C)``; PyTorch
    broadcasts more generally). Targets may be soft (any real; [0, 1] for a probability).
    Reductions as :func:`mse_loss`: "mean" divides by ``l.size``, not by the weights.
    """
    x, t = _same_shape("bce_with_logits", logits, target, "logits")
    w = _trailing("weight", weight, x.shape)
    pw = _trailing("pos_weight", pos_weight, x.shape)
    _check_reduction(reduction)
    pw1 = 1.0 if pw is None else pw
    w1 = 1.0 if w is None else w
    c = 1.0 + (pw1 - 1.0) * t
    losses = w1 * ((1.0 - t) * x + c * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0.0)))
    e = np.exp(-np.abs(x))
    sig = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    grad = w1 * (c * sig - pw1 * t)
    return _reduce(np.asarray(losses, np.float64), np.asarray(grad, np.float64), reduction)


# ---------------------------------------------------------------------- SGD --


def sgd_update(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
               weight_decay=0.0, nesterov=False, maximize=False, first_step=True) -> None:
    """One ``torch.optim.SGD`` step for one parameter, in place.

    ``param`` (any shape, ndarray) and ``momentum_buffer`` (param's shape) are
    updated in place; ``grad`` has param's shape. In float64::

        g = -grad if maximize else grad
        if weight_decay != 0: g = g + weight_decay * param
        if momentum != 0:
            buf = g (a copy)              if first_step     # no dampening on step 1
            buf = momentum * buf + (1 - dampening) * g  otherwise
            g = g + momentum * buf if nesterov else buf
        param -= lr * g

    then the results are stored back into ``param`` (and ``momentum_buffer``)
    in their own dtypes. ``momentum_buffer`` is required when momentum != 0
    and untouched otherwise. ``nesterov`` requires momentum > 0 and
    dampening == 0 (as PyTorch). Raises ValueError on these and on shapes.
    """
    if not isinstance(param, np.ndarray):
        raise ValueError("sgd_update: param must be a NumPy array (it is updated in place)")
    p = np.array(param, dtype=np.float64)  # a copy
    g = np.array(grad, dtype=np.float64)
    if g.shape != p.shape:
        raise ValueError(f"sgd_update: grad must have the shape of param {p.shape}, got {g.shape}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("sgd_update: nesterov requires momentum > 0 and dampening == 0")
    if momentum != 0:
        if momentum_buffer is None:
            raise ValueError("sgd_update: momentum_buffer is required when momentum != 0")
        if not isinstance(momentum_buffer, np.ndarray):
            raise ValueError("sgd_update: momentum_buffer must be a NumPy array (updated in place)")
        if momentum_buffer.shape != p.shape:
            raise ValueError(
                f"sgd_update: momentum_buffer must have the shape of param {p.shape}, "
                f"got {momentum_buffer.shape}"
            )

    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        if first_step:
            buf = g.copy()
        else:
            buf = momentum * np.asarray(momentum_buffer, dtype=np.float64) + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        momentum_buffer[...] = buf
    param[...] = p - lr * g


def _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
          weight_decay, amsgrad, maximize, decoupled, name):
    """Adam's (decoupled: AdamW's) step in float64; see :func:`adam_update`."""
    arrays = {"param": param, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    if amsgrad:
        if max_exp_avg_sq is None:
            raise ValueError(f"{name}: max_exp_avg_sq is required when amsgrad=True")
        arrays["max_exp_avg_sq"] = max_exp_avg_sq
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name}: {k} must be a NumPy array (it is updated in place)")
        if a.shape != param.shape:
            raise ValueError(f"{name}: {k} must have the shape of param {param.shape}, got {a.shape}")
    g = np.array(grad, dtype=np.float64)
    if g.shape != param.shape:
        raise ValueError(f"{name}: grad must have the shape of param {param.shape}, got {g.shape}")
    for k, v in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
        if not v >= 0:
            raise ValueError(f"{name}: {k} must be >= 0, got {v}")
    for k, v in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= v < 1:
            raise ValueError(f"{name}: {k} must be in [0, 1), got {v}")
    if not step >= 1:
        raise ValueError(f"{name}: step must be >= 1, got {step}")
    p = np.array(param, dtype=np.float64)
    m = np.array(exp_avg, dtype=np.float64)
    v = np.array(exp_avg_sq, dtype=np.float64)
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = m + (1 - beta1) * (g - m)
    v = v * beta2 + (1 - beta2) * g * g
    s = v
    if amsgrad:
        s = np.maximum(np.asarray(max_exp_avg_sq, dtype=np.float64), v)
        max_exp_avg_sq[...] = s
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    denom = np.sqrt(s) / bias_correction2 ** 0.5 + eps
    exp_avg[...] = m
    exp_avg_sq[...] = v
    param[...] = p - step_size * m / denom


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
                beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                maximize=False) -> None:
    """One ``torch.optim.Adam`` step for one parameter, in place, in float64.

    ``param``, ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq`` when amsgrad) are
    ndarrays of one shape, updated in place (stored back in their own dtypes); ``step``
    is this update's number (>= 1)::

        g = -grad if maximize else grad
        if weight_decay != 0: g = g + weight_decay * param
        exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
        s = max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq) if amsgrad else exp_avg_sq
        param -= lr / (1 - beta1**step) * exp_avg / (sqrt(s) / (1 - beta2**step)**0.5 + eps)

    Raises ValueError on shapes and on PyTorch's hyperparameter ranges.
    """
    _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
          weight_decay, amsgrad, maximize, False, "adam_update")


def adamw_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
                 beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False) -> None:
    """One ``torch.optim.AdamW`` step, in place, in float64: :func:`adam_update` with the
    decay decoupled, ``param = param * (1 - lr * weight_decay)`` first (when
    weight_decay != 0) instead of adding ``weight_decay * param`` to the gradient."""
    _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
          weight_decay, amsgrad, maximize, True, "adamw_update")


# ------------------------------------------------------------------ dropout --

_PHILOX_M = (0xD2511F53, 0xCD9E8D57)   # round multipliers of Philox4x32
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)   # Weyl key increments
_U32 = np.uint64(0xFFFFFFFF)


def _philox4x32_10(ctr, key):
    """Philox4x32-10 (Salmon et al., SC 2011; Random123's ``philox4x32_R(10, ctr, key)``) in
    NumPy uint64 arithmetic: ``ctr`` (4, n) and ``key`` (2,) 32-bit words -> (4, n) words.

    A round: ``(hi0, lo0) = M0 * x0``, ``(hi1, lo1) = M1 * x2`` (64-bit products of 32-bit
    words, exact in uint64), ``x = (hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0)``; the key
    gains ``(W0, W1)`` (mod 2**32) before each round after the first.
    """
    x = [np.asarray(c, dtype=np.uint64) & _U32 for c in ctr]
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    m0, m1 = np.uint64(_PHILOX_M[0]), np.uint64(_PHILOX_M[1])
    for r in range(10):
        if r:
            k0, k1 = (k0 + _PHILOX_W[0]) & 0xFFFFFFFF, (k1 + _PHILOX_W[1]) & 0xFFFFFFFF
        p0, p1 = m0 * x[0], m1 * x[2]
        x = [(p1 >> np.uint64(32)) ^ x[1] ^ np.uint64(k0), p1 & _U32,
             (p0 >> np.uint64(32)) ^ x[3] ^ np.uint64(k1), p0 & _U32]
    return np.stack(x)


def _dropout_args(p, seed):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"p: expected a float in [0, 1), got {type(p).__name__}")
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"p: dropout probability has to be in [0, 1), got {float(p)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int in [0, 2**64 - 1], got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed: expected an int in [0, 2**64 - 1], got {int(seed)}")
    return float(p), int(seed)


def dropout_mask(shape, p, seed) -> np.ndarray:
    """The keep mask (bool, ``shape``) of :func:`dropout_forward` for ``(p, seed)``.

    Element ``i`` (flat index) takes word ``i % 4`` of Philox4x32-10 at counter
    ``(c & 0xffffffff, c >> 32, 0, 0)``, ``c = i // 4``, with key ``(seed & 0xffffffff,
    seed >> 32)``; ``u = (word >> 8) * 2**-24`` (its top 24 bits, in [0, 1)) and the
    element is kept iff ``u >= p``.
    """
    p, seed = _dropout_args(p, seed)
    n = int(np.prod(shape, dtype=np.int64))
    c = np.arange((n + 3) // 4, dtype=np.uint64)
    zero = np.zeros_like(c)
    w = _philox4x32_10((c & _U32, c >> np.uint64(32), zero, zero), (seed & 0xFFFFFFFF, seed >> 32))
    u = (w.T.reshape(-1)[:n] >> np.uint64(8)).astype(np.float64) * 2.0**-24
    return (u >= p).reshape(shape)


def dropout_forward(x, p, seed) -> np.ndarray:
    """``y = x * mask / (1 - p)`` with :func:`dropout_mask`'s mask (``x * 0`` where dropped,
    so a dropped inf or NaN gives NaN, as PyTorch's ``input * noise``); ``p == 0``: ``x``.

    ``p`` in [0, 1) (ValueError naming ``p``); ``seed`` an int in [0, 2**64 - 1]
    (ValueError naming ``seed``). The scale is ``1 / (1 - p)`` in float64 (the kernel
    rounds it to float32 as PyTorch does).
    """
    x = _f64(x)
    p, seed = _dropout_args(p, seed)
    if p == 0.0:
        return x.copy()
    return x * np.where(dropout_mask(x.shape, p, seed), 1.0 / (1.0 - p), 0.0)


def dropout_backward(dout, p, seed) -> np.ndarray:
    """``dx = dout * mask / (1 - p)``: the gradient of :func:`dropout_forward` for the same
    ``(p, seed)`` (the same mask)."""
    return dropout_forward(dout, p, seed)
# ----------------------------------------------------- RMSprop, Adagrad --


def _state_like(name, param, **arrays):
    """Check that each given state array is an ndarray of param's shape (it is updated in place)."""
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name}: {k} must be a NumPy array (it is updated in place)")
        if a.shape != param.shape:
            raise ValueError(f"{name}: {k} must have the shape of param {param.shape}, got {a.shape}")


def _grad_f64(name, param, grad, maximize, weight_decay):
    """``-grad if maximize else grad``, plus ``weight_decay * param``, in float64."""
    g = np.array(grad, dtype=np.float64)
    if g.shape != param.shape:
        raise ValueError(f"{name}: grad must have the shape of param {param.shape}, got {g.shape}")
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * _f64(param)
    return g


def _nonnegative(name, **values):
    for k, v in values.items():
        if not v >= 0:
            raise ValueError(f"{name}: {k} must be >= 0, got {v}")


def rmsprop_update(param, grad, square_avg, momentum_buffer=None, grad_avg=None, *, lr=1e-2,
                   alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                   maximize=False) -> None:
    """One ``torch.optim.RMSprop`` step for one parameter, in place, in float64.

    ``param``, ``square_avg``, ``momentum_buffer`` (when momentum > 0) and ``grad_avg``
    (when centered) are ndarrays of one shape, updated in place (stored back in their
    own dtypes)::

        g = -grad if maximize else grad
        if weight_decay != 0: g = g + weight_decay * param
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg = grad_avg + (1 - alpha) * (g - grad_avg)
            avg = sqrt(square_avg - grad_avg**2) + eps
        else:
            avg = sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buffer = momentum * momentum_buffer + g / avg
            param -= lr * momentum_buffer
        else:
            param -= lr * g / avg

    Raises ValueError on shapes and on PyTorch's hyperparameter ranges.
    """
    name = "rmsprop_update"
    arrays = {"square_avg": square_avg}
    if momentum > 0:
        arrays["momentum_buffer"] = momentum_buffer
    if centered:
        arrays["grad_avg"] = grad_avg
    _state_like(name, param, **arrays)
    _nonnegative(name, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    g = _grad_f64(name, param, grad, maximize, weight_decay)
    v = alpha * _f64(square_avg) + (1 - alpha) * g * g
    square_avg[...] = v
    if centered:
        ga = _f64(grad_avg) + (1 - alpha) * (g - _f64(grad_avg))
        grad_avg[...] = ga
        avg = np.sqrt(v - ga * ga) + eps
    else:
        avg = np.sqrt(v) + eps
    if momentum > 0:
        buf = momentum * _f64(momentum_buffer) + g / avg
        momentum_buffer[...] = buf
        param[...] = _f64(param) - lr * buf
    else:
        param[...] = _f64(param) - lr * g / avg


def adagrad_update(param, grad, state_sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                   eps=1e-10, maximize=False) -> None:
    """One ``torch.optim.Adagrad`` step for one parameter, in place, in float64.

    ``param`` and ``state_sum`` are ndarrays of one shape, updated in place; ``step`` is
    this update's number (>= 1)::

        g = -grad if maximize else grad
        if weight_decay != 0: g = g + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = state_sum + g * g
        param -= clr * g / (sqrt(state_sum) + eps)

    Raises ValueError on shapes and on PyTorch's hyperparameter ranges.
    """
    name = "adagrad_update"
    _state_like(name, param, state_sum=state_sum)
    _nonnegative(name, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
    if not step >= 1:
        raise ValueError(f"{name}: step must be >= 1, got {step}")
    g = _grad_f64(name, param, grad, maximize, weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    s = _f64(state_sum) + g * g
    state_sum[...] = s
    param[...] = _f64(param) - clr * g / (np.sqrt(s) + eps)


def total_norm(arrays) -> float:
    """The 2-norm of the arrays' 2-norms (``torch.nn.utils.clip_grad_norm_``'s total
    norm for ``norm_type=2``), in float64: ``sqrt(sum_k ||a_k||_2 ** 2)``."""
    if isinstance(arrays, (np.ndarray, str)):
        raise TypeError("total_norm: arrays must be a sequence of arrays")
    norms = [math.sqrt(math.fsum(float(v) ** 2 for v in _f64(a).ravel())) for a in arrays]
    return math.sqrt(math.fsum(n * n for n in norms))


# ------------------------------- matrix-vector path, one-call forward --


def gemv_forward(x, weight, bias=None, activation=None) -> np.ndarray:
    """``activation(x @ weight.T + bias)`` in float64: x (M, K), weight (N, K), bias (N,)
    or None, ``activation`` as :func:`sgemm`'s."""
    x, w = _f64(x), _f64(weight)
    if x.ndim != 2:
        raise ValueError(f"gemv_forward: x must be 2-D, got shape {x.shape}")
    if w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(f"gemv_forward: weight must be (out_features, {x.shape[1]}), got {w.shape}")
    return sgemm(x, w, trans_b=True, bias=bias, activation=activation)


def infer_forward(x, weights, biases, activations, head=None) -> np.ndarray:
    """A Linear/activation stack in float64: ``h = activations[l](h @ weights[l].T +
    biases[l])`` for each layer, then ``head`` (None, "softmax" or "log_softmax") over
    each row."""
    if head not in (None, "softmax", "log_softmax"):
        raise ValueError(f"head: expected None, 'softmax' or 'log_softmax', got {head!r}")
    if not (len(weights) == len(biases) == len(activations)) or not weights:
        raise ValueError("weights, biases, activations: one entry per layer (at least one)")
    h = _f64(x)
    for w, b, a in zip(weights, biases, activations):
        h = gemv_forward(h, w, b, a)
    return h if head is None else globals()[head](h)

