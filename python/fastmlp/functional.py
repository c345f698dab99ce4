"""Functional ops on Tensors (or NumPy arrays): linear, relu, flatten, cross_entropy, mse_loss.

Same names and signatures as ``torch.nn.functional`` (and ``torch.flatten`` /
``torch.relu``). Each op runs one kernel from :mod:`fastmlp.kernels` forward
and records one backward step (see :mod:`fastmlp.tensor`) when an input needs
a gradient and grad mode is on. Inputs that are not float32 are converted;
every output is a :class:`~fastmlp.tensor.Tensor`.

Linear + ReLU fusion. ``relu(linear(x, W, b))`` is one GEMM with a bias+ReLU
epilogue when :class:`fastmlp.nn.Sequential` sees a ``Linear`` followed by a
``ReLU``. In the functional spelling (``fastmlp.relu(self.fc1(x))``) the GEMM
has already run when ``relu`` is called, so ``relu`` instead rectifies the
Linear's fresh output *in place* (one pass over a buffer still in cache) and
turns the Linear's backward step into the fused "linear+relu" step, returning
the same Tensor object -- but only when nothing else can see that Tensor: it
came from a Linear, no other op consumed it, and no name refers to it (the
CPython reference count says it is a temporary; the threshold is measured at
import, and the optimisation switches itself off where it cannot be
measured). Otherwise ``relu`` is an ordinary out-of-place op.
"""
from __future__ import annotations

import sys

import numpy as np

from . import kernels
from .tensor import Tensor, _as_array, _grad_mode, _is_grad_buffer

__all__ = ["linear", "relu", "flatten", "cross_entropy", "mse_loss"]

_F32 = np.dtype(np.float32)
_sgemm = kernels.sgemm


# ---------------------------------------------------------------- linear --


class _LinearBackward:
    """Backward of ``y = relu?(x W^T + b)`` for x (M, K), W (N, K), b (N,).

    ``dY`` is masked by the ReLU (``relu_backward``, in place: the engine hands
    each step a gradient it owns), then ``dW += dY^T X`` (``sgemm(dy, x,
    trans_a=True)``, accumulated with beta=1 into an existing ``.grad``),
    ``db += colsum(dY)`` and, only when x needs it, ``dX = dY W``. Leaf
    parameters are accumulated here directly; non-leaf weights (computed by
    other ops) are returned to the engine as parents.
    """

    __slots__ = ("x", "x_shape", "w", "weight", "bias", "need_dx", "w_mode", "b_mode", "relu_out")

    # w_mode / b_mode: 0 no gradient, 1 accumulate into the leaf's .grad, 2 return to the engine

    def __call__(self, g, keep):
        W = self.w
        n_out = W.shape[0]
        g2 = g if g.ndim == 2 else g.reshape(-1, n_out)
        y = self.relu_out
        if y is not None:
            kernels.relu_backward(g2, y if y.ndim == 2 else y.reshape(-1, n_out), g2)
        x = self.x
        res = []
        if self.need_dx:
            dx = _sgemm(g2, W)
            res.append(dx if dx.shape == self.x_shape else dx.reshape(self.x_shape))
        wm = self.w_mode
        if wm == 1:
            p = self.weight
            G = p.grad
            if G is None:
                p.grad = _sgemm(g2, x, trans_a=True)
            elif _is_grad_buffer(G, W.shape):
                _sgemm(g2, x, G, beta=1.0, trans_a=True)
            else:
                p.grad = np.asarray(G, dtype=_F32) + _sgemm(g2, x, trans_a=True)
        elif wm == 2:
            res.append(_sgemm(g2, x, trans_a=True))
        bm = self.b_mode
        if bm == 1:
            p = self.bias
            G = p.grad
            if G is None:
                p.grad = kernels.bias_grad(g2)
            elif _is_grad_buffer(G, p.data.shape):
                G += kernels.bias_grad(g2)
            else:
                p.grad = np.asarray(G, dtype=_F32) + kernels.bias_grad(g2)
        elif bm == 2:
            res.append(kernels.bias_grad(g2))
        return res


def _linear(input, weight, bias, relu, layer):
    """``relu?(input @ weight.T + bias)`` as one GEMM; ``layer`` names the caller in errors."""
    if isinstance(input, Tensor):
        xt = input
        x = input.data
    else:
        xt = None
        x = input if (type(input) is np.ndarray and input.dtype == _F32
                      and input.flags.c_contiguous) else _as_array(input)
    if isinstance(weight, Tensor):
        wt = weight
        W = weight.data
    else:
        wt = None
        W = _as_array(weight)
    if isinstance(bias, Tensor):
        bt = bias
        b = bias.data
    elif bias is None:
        bt = b = None
    else:
        bt = None
        b = _as_array(bias)
    if W.ndim != 2:
        raise ValueError(f"{layer}: weight must be 2-D (out_features, in_features), got {W.shape}")
    n_out, n_in = W.shape
    x_shape = x.shape
    if x.ndim == 0 or x_shape[-1] != n_in:
        got = "a 0-d input" if x.ndim == 0 else f"{x_shape[-1]} features"
        raise ValueError(
            f"{layer}: input has {got} (input shape {tuple(x_shape)}), expected {n_in} "
            f"features in the last dimension")
    if b is not None and b.shape != (n_out,):
        raise ValueError(f"{layer}: bias must have shape ({n_out},), got {b.shape}")
    x2 = x if x.ndim == 2 else x.reshape(-1, n_in)
    y = _sgemm(x2, W, trans_b=True, bias=b, activation="relu" if relu else None)
    if x.ndim != 2:
        y = y.reshape(x_shape[:-1] + (n_out,))

    out = Tensor.__new__(Tensor)
    out.data = y
    out.grad = None
    out._op = "LinearRelu" if relu else "Linear"
    if _grad_mode.enabled:
        need_dx = xt is not None and xt.requires_grad
        w_mode = 0 if wt is None or not wt.requires_grad else (1 if wt._backward is None else 2)
        b_mode = 0 if bt is None or not bt.requires_grad else (1 if bt._backward is None else 2)
        if need_dx or w_mode or b_mode:
            bw = _LinearBackward()
            bw.x = x2
            bw.x_shape = x_shape
            bw.w = W
            bw.weight = wt
            bw.bias = bt
            bw.need_dx = need_dx
            bw.w_mode = w_mode
            bw.b_mode = b_mode
            bw.relu_out = y if relu else None
            parents = []
            if need_dx:
                parents.append(xt)
            if w_mode == 2:
                parents.append(wt)
            if b_mode == 2:
                parents.append(bt)
            out.requires_grad = True
            out._backward = bw
            out._parents = tuple(parents)
            return out
    out.requires_grad = False
    out._backward = None
    out._parents = ()
    return out


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (``torch.nn.functional.linear``).

    input (*, in_features), weight (out_features, in_features), bias
    (out_features,) or None. One ``sgemm`` call; the backward computes the
    input's gradient only when the input requires one.
    """
    return _linear(input, weight, bias, False, "linear")


# ------------------------------------------------------------------ relu --


def _relu(input, refcount, inplace, entry):
    """relu; ``refcount`` is ``sys.getrefcount(input)`` as seen by the public ``entry`` point."""
    if isinstance(input, Tensor):
        d = input.data
        if input._op == "Linear" and refcount <= _TEMP_REFCOUNT.get(entry, -1):
            # A Linear's fresh output that nothing else can see: rectify in place
            # and make its backward step the fused linear+relu one.
            kernels.relu_forward(d, d)
            bw = input._backward
            if type(bw) is _LinearBackward:
                bw.relu_out = d
            input._op = "LinearRelu"
            return input
        if inplace and not input.requires_grad:
            kernels.relu_forward(d, d)
            return input
        y = kernels.relu_forward(d)

        def backward(g, keep):
            return (kernels.relu_backward(g, y, g),)

        return Tensor._result(y, (input,), backward, "Relu")
    x = _as_array(input)
    if inplace and x is input:
        kernels.relu_forward(x, x)
        return Tensor(x)
    return Tensor(kernels.relu_forward(x))


def relu(input, inplace=False):
    """``max(input, 0)`` elementwise (``torch.relu`` / ``F.relu``).

    ``inplace=True`` overwrites the input when that is safe (it records no
    gradient), otherwise computes out of place. Applied directly to a
    Linear's output, fuses with it (see the module docstring).
    """
    return _relu(input, sys.getrefcount(input), inplace, "relu")


# entry point -> the largest reference count its argument has when it is a temporary
_TEMP_REFCOUNT = {}


class _Probe:
    pass


def _calibrate(entry, call_with_temporary, call_with_named, make=_Probe):
    """Measure what ``sys.getrefcount`` reports inside the relu entry point ``entry`` for a
    temporary argument and for one a name refers to. Fusion in place is enabled for
    ``entry`` only if a temporary's count is strictly lower than a named value's."""
    global _relu
    real = _relu
    seen = []

    def spy(input, refcount, inplace, entry_):
        seen.append(refcount)

    _relu = spy
    try:
        call_with_temporary(make)
        call_with_named(make)
    finally:
        _relu = real
    temp, named = seen
    _TEMP_REFCOUNT[entry] = temp if temp < named else -1


def _relu_temp(make):
    relu(make())


def _relu_named(make):
    x = make()
    relu(x)


def _method_temp(make):
    make().relu()


def _method_named(make):
    x = make()
    x.relu()


_calibrate("relu", _relu_temp, _relu_named)
_calibrate("Tensor.relu", _method_temp, _method_named, lambda: Tensor(np.zeros(1, _F32)))


# --------------------------------------------------------------- flatten --


def _wrap_dim(d, ndim, name):
    n = max(ndim, 1)
    d = int(d)
    if not -n <= d < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            f" for {name}")
    return d + n if d < 0 else d


def flatten(input, start_dim=0, end_dim=-1):
    """``torch.flatten``: merge dims ``start_dim..end_dim`` into one (a view, no copy).

    A 0-d input gives shape (1,). Returns a Tensor (the input itself when
    nothing changes).
    """
    if isinstance(input, Tensor):
        t = input
        d = input.data
    else:
        t = None
        d = _as_array(input)
    shape = d.shape
    nd = d.ndim
    if nd == 2 and start_dim in (1, -1) and end_dim in (1, -1):  # the usual flatten(x, 1)
        return t if t is not None else Tensor(d)
    s = _wrap_dim(start_dim, nd, "start_dim")
    e = _wrap_dim(end_dim, nd, "end_dim")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if nd == 0:
        new_shape = (1,)
    else:
        n = 1
        for k in shape[s:e + 1]:
            n *= k
        new_shape = shape[:s] + (n,) + shape[e + 1:]
    if new_shape == shape:
        return t if t is not None else Tensor(d)
    out = d.reshape(new_shape)
    if t is None:
        return Tensor(out)
    return Tensor._result(out, (t,), lambda g, keep: (g.reshape(shape),), "Flatten")


# ---------------------------------------------------------------- losses --


def _legacy_reduction(size_average, reduce):
    import warnings

    warnings.warn("size_average and reduce args will be deprecated, please use reduction='...' "
                  "instead.", UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _loss_backward(saved, target_sign=None):
    """Backward of a loss whose kernel produced the (reduced-loss) gradient ``saved[0]``."""

    def backward(g, keep):
        d = saved[0]
        if not keep:
            saved[0] = None
        if g.ndim == 0:
            s = float(g)
            if s == 1.0:
                out = d.copy() if keep else d
            elif keep:
                out = d * np.float32(s)
            else:
                out = np.multiply(d, np.float32(s), out=d)
        else:  # reduction "none": one weight per row (CE) or per element (MSE)
            gg = g[:, None] if (g.ndim == 1 and d.ndim == 2) else g
            out = d * gg
        if target_sign is None:
            return (out,)
        res = []
        if target_sign[0]:
            res.append(out)
        if target_sign[1]:
            res.append(-out if target_sign[0] else np.negative(out, out=out))
        return res

    return backward


def _loss_output(loss, reduction):
    if reduction == "none":
        return np.asarray(loss, dtype=_F32, order="C")
    return np.array(loss, dtype=_F32)


def _as_target(target):
    if isinstance(target, Tensor):
        target = target.data
    a = np.asarray(target)
    if a.dtype.kind in "iu" and a.dtype != np.int64:
        a = a.astype(np.int64)
    return a


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C) against class indices (N,) (``F.cross_entropy``).

    ``target``: a NumPy integer array, a list, or anything ``np.asarray``
    takes; labels out of range raise the kernel's ValueError. ``weight`` (C,)
    per-class weights. Returns a 0-d Tensor ("mean"/"sum") or (N,) ("none").
    Forward and gradient are one kernel pass; the gradient is kept for backward.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if isinstance(input, Tensor):
        t = input
        x = input.data
    else:
        t = None
        x = _as_array(input)
    w = None if weight is None else _as_array(weight)
    need = t is not None and t.requires_grad and _grad_mode.enabled
    loss, dl = kernels.cross_entropy(
        x, _as_target(target), weight=w, ignore_index=int(ignore_index),
        label_smoothing=float(label_smoothing), reduction=reduction,
        dlogits=None if need else False)
    out = _loss_output(loss, reduction)
    if not need:
        return Tensor._result(out, (), None, "CrossEntropy")
    return Tensor._result(out, (t,), _loss_backward([dl]), "CrossEntropy")


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error (``F.mse_loss``); ``input`` and ``target`` must have the same shape."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if isinstance(input, Tensor):
        pt, p = input, input.data
    else:
        pt, p = None, _as_array(input)
    if isinstance(target, Tensor):
        tt, tg = target, target.data
    else:
        tt, tg = None, _as_array(target)
    enabled = _grad_mode.enabled
    need_p = enabled and pt is not None and pt.requires_grad
    need_t = enabled and tt is not None and tt.requires_grad
    loss, dp = kernels.mse_loss(p, tg, reduction=reduction,
                                dpred=None if (need_p or need_t) else False)
    out = _loss_output(loss, reduction)
    if not (need_p or need_t):
        return Tensor._result(out, (), None, "MseLoss")
    return Tensor._result(out, (pt, tt), _loss_backward([dp], (need_p, need_t)), "MseLoss")
