"""Losses: ``cross_entropy``, ``nll_loss``, ``mse_loss``, ``l1_loss``... (``torch.nn.functional``'s
names and reductions).

Forward and gradient are one kernel pass; the gradient is kept for backward.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import kernels
from .._arrays import F32 as _F32
from ..autograd.grad_mode import _grad_mode
from ..autograd.tensor import Tensor, as_array

__all__ = ["cross_entropy", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
           "binary_cross_entropy_with_logits", "nll_loss"]


def _legacy_reduction(size_average, reduce):
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


def _unpack(x):
    """(the Tensor or None, its float32 array)."""
    if isinstance(x, Tensor):
        return x, x.data
    return None, as_array(x)


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
    return _class_loss(_ce_kernel, "CrossEntropy", input, target, weight, ignore_index,
                       reduction, label_smoothing=float(label_smoothing))


def _ce_kernel(x, target, *, grad, **kw):
    return kernels.cross_entropy(x, target, dlogits=grad, **kw)


def _class_loss(kernel, op_name, input, target, weight, ignore_index, reduction, **options):
    """The shared body of the class-index losses (:func:`cross_entropy`, :func:`nll_loss`):
    one ``kernel`` call gives the loss and d(loss)/d(input), kept for backward."""
    t, x = _unpack(input)
    w = None if weight is None else as_array(weight)
    need = t is not None and t.requires_grad and _grad_mode.enabled
    loss, dl = kernel(x, _as_target(target), weight=w, ignore_index=int(ignore_index),
                      reduction=reduction, grad=None if need else False, **options)
    out = _loss_output(loss, reduction)
    if not need:
        return Tensor._result(out, (), None, op_name)
    return Tensor._result(out, (t,), _loss_backward([dl]), op_name)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)
    (``F.nll_loss``): ``-weight[t_i] * input[i, t_i]``, reduced as :func:`cross_entropy`
    ("mean" divides by the kept rows' weights; nan when none is kept, as PyTorch).

    Only 2-D ``(N, C)`` input (PyTorch's ``(C,)`` and ``(N, C, d1, ...)`` forms are a
    ValueError). ``target`` as :func:`cross_entropy`'s; a label out of range is the kernel's
    ValueError naming ``target``. Forward and gradient are one kernel call.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _class_loss(_nll_kernel, "NllLoss", input, target, weight, ignore_index, reduction)


def _nll_kernel(x, target, *, grad, **kw):
    return kernels.nll_loss(x, target, dinput=grad, **kw)


def _elementwise_loss(kernel, op_name, input, target, reduction, **options):
    """The shared body of the losses of ``d = input - target`` elementwise: one
    ``kernel`` call gives the loss and d(loss)/d(input); the target's gradient
    is its negative."""
    pt, p = _unpack(input)
    tt, tg = _unpack(target)
    enabled = _grad_mode.enabled
    need_p = enabled and pt is not None and pt.requires_grad
    need_t = enabled and tt is not None and tt.requires_grad
    loss, dp = kernel(p, tg, reduction=reduction, dpred=None if (need_p or need_t) else False,
                      **options)
    out = _loss_output(loss, reduction)
    if not (need_p or need_t):
        return Tensor._result(out, (), None, op_name)
    return Tensor._result(out, (pt, tt), _loss_backward([dp], (need_p, need_t)), op_name)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error (``F.mse_loss``); ``input`` and ``target`` must have the same shape."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _elementwise_loss(kernels.mse_loss, "MseLoss", input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error (``F.l1_loss``); ``input`` and ``target`` must have the same
    shape. The gradient is ``sign(input - target)`` (0 where equal, as PyTorch)."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _elementwise_loss(kernels.l1_loss, "L1Loss", input, target, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss (``F.huber_loss``): ``0.5 d**2`` where ``|d| < delta``, else
    ``delta (|d| - delta/2)``, ``d = input - target`` (same shapes); ``delta`` > 0."""
    return _elementwise_loss(kernels.huber_loss, "HuberLoss", input, target, reduction,
                             delta=delta)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1 loss (``F.smooth_l1_loss``): ``0.5 d**2 / beta`` where ``|d| < beta``, else
    ``|d| - beta/2``, ``d = input - target`` (same shapes); ``beta`` >= 0, 0 is L1."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _elementwise_loss(kernels.smooth_l1_loss, "SmoothL1Loss", input, target, reduction,
                             beta=beta)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` (same shapes)
    (``F.binary_cross_entropy_with_logits``), in PyTorch's stable form; ``weight`` and
    ``pos_weight`` have shapes that are trailing parts of the input's (e.g. ``(C,)``).
    Only the input gets a gradient: a target that requires one is a NotImplementedError."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if isinstance(target, Tensor) and target.requires_grad and _grad_mode.enabled:
        raise NotImplementedError(
            "binary_cross_entropy_with_logits: no gradient for target yet (detach it)")
    w = None if weight is None else as_array(weight)
    pw = None if pos_weight is None else as_array(pos_weight)
    return _elementwise_loss(_bce_kernel, "BinaryCrossEntropyWithLogits", input, target,
                             reduction, weight=w, pos_weight=pw)


def _bce_kernel(logits, target, *, dpred, **kw):
    return kernels.bce_with_logits(logits, target, dlogits=dpred, **kw)
