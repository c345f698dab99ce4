"""Public low-level kernels on NumPy arrays.

Thin wrappers over the compiled core. Every function has a twin of the same
name and signature in :mod:`fastmlp.reference` (NumPy, float64) that defines
what it computes. Arrays are float32 and row-major; inputs of another dtype or
layout are converted, outputs you pass in must be writeable C-contiguous
float32 arrays of the exact shape. Bad arguments raise ``TypeError`` or
``ValueError`` naming the argument before any memory is touched. The GIL is
released while a kernel runs, and results are bitwise identical for any
number of threads.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .reference import _resolve_activation
from ._args import flag as _flag, integer as _int, real as _real, text as _text

__all__ = [
    "sgemm",
    "peak_gflops",
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
    "cross_entropy",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "bce_with_logits",
    "log_softmax",
    "softmax",
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


def sgemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
          bias=None, activation=None, relu=None) -> np.ndarray:
    """General matrix multiply with an optional bias + activation epilogue.

    ``C = act(alpha * op(a) @ op(b) + beta * C + bias[None, :])``

    - ``op(a)`` is ``a.T`` if ``trans_a`` else ``a``, shape (M, K).
    - ``op(b)`` is ``b.T`` if ``trans_b`` else ``b``, shape (K, N).
    - ``c``: (M, N) float32 C-contiguous array written in place, or ``None``
      for a new array (``beta`` is then irrelevant). With ``beta == 0`` C is
      never read, so uninitialised memory or NaN in it does not leak.
      New arrays (here and from every kernel below) start on a 64-byte cache
      line, as PyTorch's tensors do (NumPy's own are only 16-byte aligned;
      why it matters: bench/results/README.md#aligned-outputs). Their memory
      is owned by their ``base``.
    - ``bias``: (N,) added to every row.
    - ``activation``: applied last; ``None`` (identity), a name (``"relu"``,
      ``"leaky_relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"silu"``,
      ``"elu"``, ``"softplus"``, ``"identity"``) or ``{"name": name, **params}``
      with the keyword arguments of that ``<name>_forward`` below (e.g.
      ``{"name": "gelu", "approximate": "tanh"}``). The result is bitwise
      ``<name>_forward`` applied to the identity GEMM's C on the same ISA path.
      Another name, key or a bad value is a ValueError naming ``activation``.
      ``relu=True`` is a deprecated alias of
      ``activation="relu"`` (DeprecationWarning); both together: TypeError.

    Transposed views (``x.T``) are used without a copy. Returns C.
    """
    if relu is not None:  # the deprecated alias (checked only when given: a hot path)
        activation = _resolve_activation(activation, relu)
    # Exact floats and bools (the defaults, and the common case) go straight through; anything
    # else is checked and converted by _real / _flag (same results, same errors).
    if type(alpha) is not float or type(beta) is not float:
        alpha, beta = _real(alpha, "alpha"), _real(beta, "beta")
    if not ((trans_a is False or trans_a is True) and (trans_b is False or trans_b is True)):
        trans_a, trans_b = _flag(trans_a, "trans_a"), _flag(trans_b, "trans_b")
    return _core.sgemm(a, b, c, alpha, beta, trans_a, trans_b, bias, activation)


def peak_gflops(threads: int = 1, seconds: float = 0.2) -> float:
    """Measured FMA ceiling (GFLOP/s) of ``threads`` cores on the active ISA path.

    Runs an FMA-only register loop for about ``seconds``; benchmarks report
    GEMM throughput as a fraction of it.
    """
    return _core.peak_gflops(threads, float(seconds))  # threads: checked by the binding


# ----------------------------------------------------------------- ReLU --


def relu_forward(x, out=None) -> np.ndarray:
    """``y = max(x, 0)`` elementwise, any shape; NaN propagates (as ``torch.relu``).

    ``out``: a float32 C-contiguous array of x's shape to write into, or
    ``None`` for a new one. ``out`` may be ``x`` itself (in place). Returns y.
    """
    return _core.relu_forward(x, out)


def relu_backward(dout, y, dx=None) -> np.ndarray:
    """``dx = 0 where y <= 0, else dout``; ``y`` is relu_forward's result (an input here).
    A select, as PyTorch's ``threshold_backward``: an inf/NaN ``dout`` gives 0 where
    ``y <= 0`` (not ``inf * 0``), and a NaN ``y`` passes ``dout``.

    ``dout`` and ``y`` have the same shape (any). ``dx``: a float32
    C-contiguous array of that shape to write into (may be ``dout`` itself),
    or ``None`` for a new one. Returns dx.
    """
    return _core.relu_backward(dout, y, dx)


def bias_grad(dout, db=None) -> np.ndarray:
    """Column sums: dout (M, N) -> db (N,), ``db[j] = sum_i dout[i, j]``.

    Each column is summed in row order (float32), so the result is bitwise
    the same at any thread count. Row-strided views are read without a copy.
    ``db``: a (N,) float32 array to overwrite, or ``None``. Returns db.
    """
    return _core.bias_grad(dout, db)


# ---------------------------------------------------------- activations --
# PyTorch's definitions (fastmlp.reference has each formula). All: any shape,
# float32 C-contiguous; ``out``/``dx`` may be the input (or dout) itself;
# bitwise the same at any thread count, and an element's result never depends
# on its position. The AVX-512 and AVX2 paths agree bitwise; the generic path
# (no FMA) may differ in the last bits. Vector exp/expm1/log1p/tanh/erf/sigmoid
# are fastmlp's own, each within 2 ulp of float64 on every path (the bounds
# tests/test_activation_ulp.py asserts: exp 1.0, expm1 1.45, log1p 0.85, tanh
# 1.55, erf 1.65, sigmoid 1.9; the measured maxima of a dense sweep per path:
# bench/results/README.md#activation-ulp). Kernels
# run with FTZ/DAZ: subnormal inputs read as 0, subnormal results flush to 0.


def identity_forward(x, out=None) -> np.ndarray:
    """``y = x`` (a copy, or into ``out``)."""
    return _core.identity_forward(x, out)


def identity_backward(dout, saved, dx=None) -> np.ndarray:
    """``dx = dout``; ``saved`` (dout's shape) is not read."""
    return _core.identity_backward(dout, saved, dx)


def leaky_relu_forward(x, negative_slope=0.01, out=None) -> np.ndarray:
    """``y = x if x > 0 else x * negative_slope`` (one float32 multiply).

    ``negative_slope``: a finite float (cast to float32, as PyTorch does)."""
    return _core.leaky_relu_forward(x, negative_slope, out)


def leaky_relu_backward(dout, x, negative_slope=0.01, dx=None) -> np.ndarray:
    """``dx = dout if x > 0 else dout * negative_slope``; ``x``: the forward's input."""
    return _core.leaky_relu_backward(dout, x, negative_slope, dx)


def tanh_forward(x, out=None) -> np.ndarray:
    """``y = tanh(x)``: fastmlp's vector tanh, within 1.55 ulp (every path)."""
    return _core.tanh_forward(x, out)


def tanh_backward(dout, y, dx=None) -> np.ndarray:
    """``dx = dout * (1 - y * y)``; ``y``: the forward's output."""
    return _core.tanh_backward(dout, y, dx)


def sigmoid_forward(x, out=None) -> np.ndarray:
    """``y = 1 / (1 + exp(-x))``: within 1.9 ulp (every path)."""
    return _core.sigmoid_forward(x, out)


def sigmoid_backward(dout, y, dx=None) -> np.ndarray:
    """``dx = dout * (1 - y) * y``; ``y``: the forward's output."""
    return _core.sigmoid_backward(dout, y, dx)


def gelu_forward(x, approximate="none", out=None) -> np.ndarray:
    """``x * 0.5 * (1 + erf(x / sqrt 2))`` (erf within 1.65 ulp), or with
    ``approximate="tanh"`` ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    As PyTorch's formula, ``1 + erf`` cancels for x below about -3: there the
    error is absolute (about ``|x| * 2^-24``), not relative. Another
    ``approximate`` is a ValueError naming it."""
    return _core.gelu_forward(x, approximate, out)


def gelu_backward(dout, x, approximate="none", dx=None) -> np.ndarray:
    """``dx = dout * gelu'(x)`` (PyTorch's gelu_backward formulas); ``x``: the forward's input."""
    return _core.gelu_backward(dout, x, approximate, dx)


def silu_forward(x, out=None) -> np.ndarray:
    """``y = x / (1 + exp(-x))``."""
    return _core.silu_forward(x, out)


def silu_backward(dout, x, dx=None) -> np.ndarray:
    """``dx = dout * s * (1 + x * (1 - s))``, ``s = sigmoid(x)``; ``x``: the forward's input."""
    return _core.silu_backward(dout, x, dx)


def elu_forward(x, alpha=1.0, out=None) -> np.ndarray:
    """``y = x if x > 0 else alpha * expm1(x)`` (expm1 within 1.45 ulp)."""
    return _core.elu_forward(x, alpha, out)


def elu_backward(dout, y, alpha=1.0, dx=None) -> np.ndarray:
    """``dx = dout * (y + alpha) if y <= 0 else dout``; ``y``: the forward's
    output (PyTorch's ``is_result`` form)."""
    return _core.elu_backward(dout, y, alpha, dx)


def softplus_forward(x, beta=1.0, threshold=20.0, out=None) -> np.ndarray:
    """``y = x if beta * x > threshold else log1p(exp(beta * x)) / beta``.

    log1p within 0.85 ulp, exp within 1.0 ulp. ``beta``: finite and nonzero (PyTorch accepts
    0 and divides by it; we raise ValueError), ``threshold`` finite. As in
    PyTorch's float32 kernel, ``exp(beta * x)`` overflows to inf for
    ``beta * x > 88.7`` when the threshold is above that."""
    return _core.softplus_forward(x, beta, threshold, out)


def softplus_backward(dout, x, beta=1.0, threshold=20.0, dx=None) -> np.ndarray:
    """``dx = dout if beta * x > threshold else dout * z / (z + 1)``,
    ``z = exp(beta * x)``; ``x``: the forward's input."""
    return _core.softplus_backward(dout, x, beta, threshold, dx)


# -------------------------------------------------------- cross-entropy --


def cross_entropy(logits, target, *, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", dlogits=None):
    """Softmax cross-entropy with class-index targets, and its gradient.

    ``torch.nn.functional.cross_entropy(logits, target, weight,
    ignore_index=..., reduction=..., label_smoothing=...)`` and its backward,
    in one pass over each row (see :func:`fastmlp.reference.cross_entropy`).

    - ``logits`` (N, C), C >= 1.
    - ``target`` (N,) integer class indices in [0, C) or ``ignore_index``
      (any integer dtype; float or bool -> TypeError; out of range ->
      ValueError naming the value and its index).
    - ``weight`` (C,) per-class weights or ``None``.
    - ``label_smoothing`` in [0, 1]; ``reduction`` "mean" | "sum" | "none".
    - ``dlogits``: a (N, C) float32 C-contiguous array to write the gradient
      into (it may be ``logits`` itself: in place), ``None`` for a new one, or
      ``False`` to skip the gradient (then returned as ``None``).

    Returns ``(loss, dlogits)``: loss is a Python float for "mean"/"sum" (nan
    for "mean" when no weight is kept), a float32 (N,) array for "none";
    dlogits (N, C) is the gradient of the reduced loss ("none": of the sum).
    The reduction is summed in double in a fixed order: bitwise the same at
    any thread count.
    """
    return _core.cross_entropy(logits, target, weight, _int(ignore_index, "ignore_index"),
                               _real(label_smoothing, "label_smoothing"),
                               _text(reduction, "reduction"), dlogits)


# ------------------------------------------------------------------ MSE --


def mse_loss(pred, target, *, reduction="mean", dpred=None):
    """Squared error ``(pred - target)**2`` and its gradient.

    ``pred`` and ``target`` have identical shapes (any ndim, no
    broadcasting). ``reduction`` "mean" | "sum" | "none". ``dpred``: a
    float32 C-contiguous array of pred's shape to write the gradient into
    (may be ``pred`` itself), ``None`` for a new one, or ``False`` to skip it.

    Returns ``(loss, dpred)``: loss a Python float for "mean"/"sum" (nan for
    the mean of nothing), an array of pred's shape for "none"; dpred is
    ``2 * (pred - target)`` (over ``pred.size`` for "mean").
    """
    return _core.mse_loss(pred, target, _text(reduction, "reduction"), dpred)


def l1_loss(pred, target, *, reduction="mean", dpred=None):
    """Absolute error ``|pred - target|`` and its gradient (``F.l1_loss``).

    Arguments and returns as :func:`mse_loss`; dpred is ``sign(pred - target)``
    (0 where they are equal, as PyTorch), over ``pred.size`` for "mean".
    """
    return _core.l1_loss(pred, target, _text(reduction, "reduction"), dpred)


def huber_loss(pred, target, *, delta=1.0, reduction="mean", dpred=None):
    """Huber loss ``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``
    (``d = pred - target``), and its gradient ``clip(d, -delta, delta)`` (``F.huber_loss``).

    ``delta`` > 0 (ValueError otherwise, as PyTorch), used in double. Other arguments and
    returns as :func:`mse_loss`.
    """
    return _core.huber_loss(pred, target, _real(delta, "delta"), _text(reduction, "reduction"),
                            dpred)


def smooth_l1_loss(pred, target, *, beta=1.0, reduction="mean", dpred=None):
    """Smooth L1 loss ``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta/2``
    (``d = pred - target``), and its gradient (``d / beta`` or ``sign(d)``;
    ``F.smooth_l1_loss``).

    ``beta`` >= 0 (ValueError otherwise, as PyTorch), used in double; ``beta == 0`` is
    :func:`l1_loss` exactly (no 0/0). Other arguments and returns as :func:`mse_loss`.
    """
    return _core.smooth_l1_loss(pred, target, _real(beta, "beta"), _text(reduction, "reduction"),
                                dpred)


def bce_with_logits(logits, target, *, weight=None, pos_weight=None, reduction="mean",
                    dlogits=None):
    """Binary cross-entropy with logits and its gradient, in one pass
    (``F.binary_cross_entropy_with_logits``; the definition is
    :func:`fastmlp.reference.bce_with_logits`).

    ``target`` has the logits' shape (soft targets allowed). ``weight`` and
    ``pos_weight``: None or arrays whose shape is a trailing part of the logits'
    (``(C,)`` for ``(N, C)`` logits; PyTorch's other broadcasts are not supported).
    ``dlogits`` as ``dpred`` in :func:`mse_loss`; it must not overlap weight or
    pos_weight. The transcendentals are scalar ``std::exp``/``std::log1p`` in
    double (no vector math yet: a loss pass is small next to the GEMMs).
    """
    return _core.bce_with_logits(logits, target, weight, pos_weight, _text(reduction, "reduction"),
                                 dlogits)


# -------------------------------------------------------------- softmax --


def log_softmax(x, *, out=None) -> np.ndarray:
    """Stable log-softmax over the last dimension, ``x - m - log(sum(exp(x - m)))`` (m the
    row max), any ndim >= 1. ``out``: an array of x's shape to write into (may be ``x``
    itself) or None for a new one. exp/log are scalar double (no vector math yet)."""
    return _core.log_softmax(x, out)


def softmax(x, *, out=None) -> np.ndarray:
    """Stable softmax over the last dimension, ``exp(x - m) / sum(exp(x - m))``; arguments as
    :func:`log_softmax`."""
    return _core.softmax(x, out)


# ------------------------------------------- softmax backward, NLL (issue 10) --


def log_softmax_backward(dout, y, *, dx=None) -> np.ndarray:
    """Gradient of :func:`log_softmax` over the last dimension from its output ``y``:
    ``dx = dout - exp(y) * sum(dout)`` (PyTorch's formula). ``dout`` any ndim >= 1, ``y``
    of its shape; ``dx``: an array of that shape to write into (may be ``dout`` or ``y``
    itself) or None. The row sum is double in index order, exp is scalar double, each dx
    rounded once: bitwise the same at any thread count."""
    return _core.log_softmax_backward(dout, y, dx)


def softmax_backward(dout, y, *, dx=None) -> np.ndarray:
    """Gradient of :func:`softmax` over the last dimension from its output ``y``:
    ``dx = y * (dout - sum(dout * y))`` (PyTorch's formula); arguments as
    :func:`log_softmax_backward`."""
    return _core.softmax_backward(dout, y, dx)


def nll_loss(input, target, *, weight=None, ignore_index=-100, reduction="mean", dinput=None):
    """Negative log-likelihood of log-probabilities ``input`` (N, C) (C >= 1) at class
    indices ``target`` (N,), and its gradient (``torch.nn.functional.nll_loss``; the
    definition is :func:`fastmlp.reference.nll_loss`).

    ``target``, ``weight``, ``ignore_index`` and ``reduction`` as :func:`cross_entropy`
    (a target out of range is a ValueError naming it before anything is written).
    ``dinput``: a (N, C) float32 C-contiguous array to write the gradient into (may be
    ``input`` itself), ``None`` for a new one, or ``False`` to skip it. Returns ``(loss,
    dinput)``: a Python float for "mean"/"sum" (nan for "mean" when no weight is kept), a
    float32 (N,) array for "none". Sums in double in row order: any thread count, same bits.
    """
    return _core.nll_loss(input, target, weight, _int(ignore_index, "ignore_index"), reduction,
                          dinput)


# ------------------------------------------------------------------ SGD --


def sgd_update(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
               weight_decay=0.0, nesterov=False, maximize=False, first_step=True) -> None:
    """One ``torch.optim.SGD`` step for one parameter, in place, float32::

        g = -grad if maximize else grad
        g = g + weight_decay * param                      (if weight_decay != 0)
        if momentum != 0:
            buf = g if first_step else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        param -= lr * g

    ``param`` and ``momentum_buffer`` must be writeable C-contiguous float32
    ndarrays (never converted; TypeError/ValueError otherwise); ``grad`` has
    param's shape. ``momentum_buffer`` is required when momentum != 0 and
    ignored otherwise. Like PyTorch, lr, momentum and weight_decay must be
    >= 0 and nesterov needs momentum > 0 and dampening == 0 (ValueError).
    """
    _core.sgd_update(param, grad, momentum_buffer, _real(lr, "lr"), _real(momentum, "momentum"),
                     _real(dampening, "dampening"), _real(weight_decay, "weight_decay"),
                     _flag(nesterov, "nesterov"), _flag(maximize, "maximize"),
                     _flag(first_step, "first_step"))


_ADAM_DOC = """One ``torch.optim.{cls}`` step for one parameter, in place, float32.

    ``step``: this update's number (>= 1; PyTorch's ``state["step"]`` after its
    ``+= 1``). The step's scalars are formed in double, as PyTorch does with Python
    floats::

        bias_correction1 = 1 - beta1 ** step;  bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1;     bias_correction2_sqrt = bias_correction2 ** 0.5

    then, per element in float32 and in PyTorch's order (``_single_tensor_adam``)::

        g = -grad if maximize else grad
        {decay}
        exp_avg = exp_avg.lerp(g, 1 - beta1)       # exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
        s = max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq) if amsgrad else exp_avg_sq
        param += -step_size * exp_avg / (sqrt(s) / bias_correction2_sqrt + eps)

    ``param``, ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq`` (required when
    ``amsgrad``, ignored otherwise) must be writeable C-contiguous float32 ndarrays of
    one shape, sharing no memory (never converted; TypeError/ValueError otherwise);
    ``grad`` has param's shape. Like PyTorch: ``lr``, ``eps``, ``weight_decay`` >= 0 and
    ``0 <= beta < 1`` (ValueError naming the argument, before anything is written).
    PyTorch starts ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq`` at zeros.
    """


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
                beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                maximize=False) -> None:
    _core.adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, _real(lr, "lr"),
                      _real(beta1, "beta1"), _real(beta2, "beta2"), _real(eps, "eps"),
                      _real(weight_decay, "weight_decay"), _flag(amsgrad, "amsgrad"),
                      _flag(maximize, "maximize"), _real(step, "step"))


def adamw_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3,
                 beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False) -> None:
    _core.adamw_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, _real(lr, "lr"),
                       _real(beta1, "beta1"), _real(beta2, "beta2"), _real(eps, "eps"),
                       _real(weight_decay, "weight_decay"), _flag(amsgrad, "amsgrad"),
                       _flag(maximize, "maximize"), _real(step, "step"))


adam_update.__doc__ = _ADAM_DOC.format(
    cls="Adam", decay="g = g + weight_decay * param                    (if weight_decay != 0)")
adamw_update.__doc__ = _ADAM_DOC.format(
    cls="AdamW", decay="param = param * (1 - lr * weight_decay)         (if weight_decay != 0)")


# -------------------------------------------------------------- dropout --


def dropout_forward(x, p, seed, out=None) -> np.ndarray:
    """Dropout with a counter-based mask: ``y = x * m``, ``m = 1/(1-p)`` where kept, else 0.

    The mask is a pure function of ``(seed, flat element index)``: element ``i`` is kept
    iff the top 24 bits of word ``i % 4`` of Philox4x32-10 at counter ``i // 4`` (key: the
    uint64 ``seed``), times 2**-24, are ``>= p`` (``fastmlp.reference.dropout_mask``).
    So it is bitwise the same at any thread count and on every ISA path, and
    :func:`dropout_backward` regenerates it instead of storing it. As PyTorch's CPU
    dropout (``input * (bernoulli(1 - p) / (1 - p))``) the scale is the float32
    ``1.0f / float(1 - p)`` and ``y = x * m`` one float32 multiply (a dropped inf or NaN
    gives NaN). Like every fastmlp kernel it runs with denormals flushed to zero.

    ``p`` in [0, 1) (``p == 0``: a copy); ``seed`` an int in [0, 2**64 - 1]; bad values
    raise ValueError naming them. ``out``: a float32 C-contiguous array of x's shape to
    write into (may be ``x`` itself), or ``None`` for a new one. Returns y.
    """
    return _core.dropout_forward(x, p, seed, out)


def dropout_backward(dout, p, seed, dx=None) -> np.ndarray:
    """``dx = dout * m``: :func:`dropout_forward`'s mask for the same ``(p, seed)``,
    regenerated (the forward's output is not needed). ``dx`` may be ``dout`` itself."""
    return _core.dropout_backward(dout, p, seed, dx)
# ----------------------------------------------------- RMSprop, Adagrad --


def rmsprop_update(param, grad, square_avg, momentum_buffer=None, grad_avg=None, *, lr=1e-2,
                   alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                   maximize=False) -> None:
    """One ``torch.optim.RMSprop`` step for one parameter, in place, float32.

    The scalars are cast to float32 from the Python floats as PyTorch casts them
    (``c = float32(1 - alpha)``); per element, in PyTorch's order
    (``_single_tensor_rmsprop``)::

        g = -grad if maximize else grad
        g = g + weight_decay * param                       (if weight_decay != 0)
        square_avg = square_avg * alpha + (c * g) * g
        if centered:
            grad_avg = grad_avg.lerp(g, c)                 # at::lerp's two branches
            avg = sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buffer = momentum_buffer * momentum + g / avg
            param = param + (-lr) * momentum_buffer
        else:
            param = param + ((-lr) * g) / avg

    ``param``, ``square_avg``, ``momentum_buffer`` (required when momentum > 0, ignored
    otherwise) and ``grad_avg`` (required when centered, ignored otherwise) must be
    writeable C-contiguous float32 ndarrays of one shape, sharing no memory (never
    converted; TypeError/ValueError otherwise); ``grad`` has param's shape. Like PyTorch:
    ``lr``, ``alpha``, ``eps``, ``weight_decay`` and ``momentum`` must be >= 0 (ValueError
    naming the argument, before anything is written; NaN too). PyTorch starts the three
    state arrays at zeros.
    """
    _core.rmsprop_update(param, grad, square_avg, momentum_buffer, grad_avg, _real(lr, "lr"),
                         _real(alpha, "alpha"), _real(eps, "eps"),
                         _real(weight_decay, "weight_decay"), _real(momentum, "momentum"),
                         _flag(centered, "centered"), _flag(maximize, "maximize"))


def adagrad_update(param, grad, state_sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                   eps=1e-10, maximize=False) -> None:
    """One ``torch.optim.Adagrad`` step for one parameter, in place, float32.

    ``step``: this update's number (>= 1; PyTorch's ``state["step"]`` after its
    ``+= 1``). ``clr = lr / (1 + (step - 1) * lr_decay)`` in double, as PyTorch computes
    it from Python floats; then per element, in PyTorch's order
    (``_single_tensor_adagrad``)::

        g = -grad if maximize else grad
        g = g + weight_decay * param                       (if weight_decay != 0)
        state_sum = state_sum + g * g
        param = param + ((-clr) * g) / (sqrt(state_sum) + eps)

    ``param`` and ``state_sum`` must be writeable C-contiguous float32 ndarrays of one
    shape, sharing no memory (never converted); ``grad`` has param's shape. Like PyTorch:
    ``lr``, ``lr_decay``, ``weight_decay`` and ``eps`` >= 0 (ValueError naming the
    argument, before anything is written). PyTorch starts ``state_sum`` at
    ``initial_accumulator_value``.
    """
    _core.adagrad_update(param, grad, state_sum, _real(lr, "lr"), _real(lr_decay, "lr_decay"),
                         _real(weight_decay, "weight_decay"), _real(eps, "eps"),
                         _flag(maximize, "maximize"), _real(step, "step"))


# ----------------------------------------------------- gradient norms --


def total_norm(arrays) -> float:
    """The 2-norm of the arrays' 2-norms, in float64 (a Python float): PyTorch's total
    norm of ``clip_grad_norm_(..., norm_type=2)``.

    Each array (float32, converted if not; any shape) is viewed as (rows, last dim) (a
    0-d array as (1, 1)): its sum of squares adds each row's squares left to right and
    then the row sums in row order, in float64 (every square of a float32 is exact);
    the total is ``sqrt(sum_k sqrt(ss_k) ** 2)``, k in order. The fused epoch's gradient
    clipping computes exactly these sums (so both paths give the same bits), and so
    does any thread count.
    """
    return _core.total_norm(arrays)


# ------------------------------- matrix-vector path, one-call forward --


def gemv_forward(x, weight, bias=None, activation=None, out=None) -> np.ndarray:
    """``activation(x @ weight.T + bias)`` for a few rows, ``weight`` read in place.

    x (M, K), weight (N, K) (a Linear's stored layout, never packed or copied when
    it is float32 C-contiguous), bias (N,) or None, ``activation`` as
    :func:`sgemm`'s. Returns out (M, N) (or fills ``out``, which must not share
    memory with the inputs). Each output is a dot product in a fixed order (16 lane
    sums, a fixed tree, then + bias; csrc/ops/gemv_isa.h), then the activation with
    ``<name>_forward``'s bits: an output's bits never depend on M, on the other
    rows or on the thread count, and AVX-512 and AVX2 agree bitwise. It is not
    :func:`sgemm`'s summation order: the two may differ in the last bits.
    """
    return _core.gemv_forward(x, weight, bias, activation, out)


def infer_forward(x, weights, biases, activations, head=None, out=None) -> np.ndarray:
    """A Linear/activation stack's forward in one call: out (N, out_features).

    ``h = activations[l](h @ weights[l].T + biases[l])`` for each layer l (weights
    (out_l, in_l) float32 C-contiguous, read in place; biases (out_l,) or None;
    activations as :func:`sgemm`'s), then ``head``: None, ``"softmax"`` or
    ``"log_softmax"`` over each row. With at most ``_core.gemv_max_rows()`` rows
    each layer is :func:`gemv_forward`, otherwise :func:`sgemm` (``trans_b``, bias,
    the activation as its epilogue): the bits of those kernels called one after
    the other (then :func:`softmax` / :func:`log_softmax`). The hidden activations
    live in per-thread scratch reused across calls; no array per layer is made.
    """
    return _core.infer_forward(x, weights, biases, activations, head, out)

