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
    "rmsprop_update",
    "adagrad_update",
    "total_norm",
]

_REDUCTIONS = ("none", "mean", "sum")


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# The activations a GEMM epilogue can apply, by the names the kernels take
# (None: identity). The C++ twin is kernels.h's Activation.
_ACTIVATIONS = {
    "relu": lambda r: np.maximum(r, 0.0),
}


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
    ``beta * C + bias``. ``activation``: None (identity) or "relu"
    (``max(R, 0)``); ``relu=True`` is a deprecated alias of
    ``activation="relu"`` (DeprecationWarning; both together: TypeError).

    Raises ValueError naming the argument when a shape or name is wrong.
    """
    activation = _resolve_activation(activation, relu)
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"activation: expected None or one of {sorted(_ACTIVATIONS)}, "
                        f"got {type(activation).__name__}")
    if activation is not None and activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected None or one of {sorted(_ACTIVATIONS)}, "
                         f"got {activation!r}")
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

    result = alpha * (op_a @ op_b)  # (M, N); K == 0 gives zeros

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
        result = _ACTIVATIONS[activation](result)
    return result


# --------------------------------------------------------------------- ReLU --


def relu_forward(x) -> np.ndarray:
    """``y = max(x, 0)`` elementwise; any shape. NaN propagates (as torch.relu)."""
    return np.maximum(_f64(x), 0.0)


def relu_backward(dout, y) -> np.ndarray:
    """``dx = dout * (y > 0)``; ``y`` is relu_forward's result, same shape as ``dout``."""
    dout, y = _f64(dout), _f64(y)
    if dout.shape != y.shape:
        raise ValueError(
            f"relu_backward: y (relu_forward's out) must have the shape of dout {dout.shape}, got {y.shape}"
        )
    return dout * (y > 0)


def bias_grad(dout) -> np.ndarray:
    """Column sums: dout (M, N) -> db (N,), ``db[j] = sum_i dout[i, j]`` (M == 0 gives zeros)."""
    dout = _f64(dout)
    if dout.ndim != 2:
        raise ValueError(f"bias_grad: dout must be 2-D (M, N), got shape {dout.shape}")
    return dout.sum(axis=0)


# ------------------------------------------------------------------ softmax --


def log_softmax(x) -> np.ndarray:
    """Stable log-softmax over the last axis: ``x - m - log(sum(exp(x - m)))``, m the row max."""
    x = _f64(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x) -> np.ndarray:
    """Softmax over the last axis: ``exp(log_softmax(x))``."""
    return np.exp(log_softmax(x))


# ------------------------------------------------------------ cross-entropy --


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
    logits = _f64(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be 2-D (N, C), got shape {logits.shape}")
    N, C = logits.shape
    if C < 1:
        raise ValueError("cross_entropy: logits must have at least one class (C >= 1)")

    target = np.asarray(target)
    if target.ndim != 1 or target.shape[0] != N:
        raise ValueError(f"cross_entropy: target must have shape (N,) = {(N,)}, got {target.shape}")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"cross_entropy: target must have an integer dtype, got {target.dtype}")
    target = target.astype(np.int64)
    ignored = target == ignore_index
    bad = ~ignored & ((target < 0) | (target >= C))
    if bad.any():
        raise ValueError(
            f"cross_entropy: target value {target[bad][0]} is out of range [0, {C}) "
            f"and is not ignore_index ({ignore_index})"
        )

    if weight is None:
        w = np.ones(C)
    else:
        w = _f64(weight)
        if w.shape != (C,):
            raise ValueError(f"cross_entropy: weight must have shape (C,) = {(C,)}, got {w.shape}")
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
    smooth = -(logp * w).sum(axis=1)  # (N,)
    losses = np.where(kept, (1 - eps) * w_t * nll + (eps / C) * smooth, 0.0)

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

