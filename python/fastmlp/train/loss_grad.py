"""Full-data loss and gradient in one fused call: :func:`loss_and_grad`.

For full-batch solvers (scikit-learn's ``lbfgs`` through ``scipy.optimize``),
which need ``loss(model(X), y)`` and its gradient over all rows at every
function evaluation: one C++ call (``csrc/train/loss_grad.cpp``) with the GIL
released, the fused epoch's forward, loss and backward kernels and no
optimizer update.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from .._arrays import is_f32_buffer
from ..nn.loss import _Loss
from .epoch import _prepare
from .plan import Fallback, make_plan

__all__ = ["loss_and_grad"]


def loss_and_grad(model, X, y, criterion, *, grads=None) -> float:
    """``criterion(model(X), y)`` over all rows of ``X`` and its gradient, in one fused call.

    The gradient of each parameter (in ``model.parameters()`` order) is
    written into ``p.grad``: overwritten, not accumulated as ``backward()``
    does; a ``p.grad`` that is not a writeable C-contiguous float32 array of
    the parameter's shape (or None) is replaced by a new one. With ``grads``
    (a list of such arrays, one per parameter in that order) the gradients go
    there instead and no ``.grad`` changes. Returns the loss as a Python float.

    Same result as ``loss = criterion(model(X), y); loss.backward()`` with
    zeroed gradients: bitwise when ``len(X) <= 4096``; above that the rows are
    processed in chunks of 4096 (bounded workspace) whose summed losses and
    gradients are divided once by the reduction's denominator (the number of
    elements for the elementwise losses and BCE, the class weights of the
    non-ignored targets for CrossEntropyLoss and NLLLoss, PyTorch's mean), so
    float32 results differ from one big batch in summation order only
    (relative to the gradient's scale, about the float32 rounding of a sum of
    ``len(X)`` terms). The chunks depend on ``len(X)`` alone and every kernel's
    bits on nothing else, so the result is bitwise the same at any thread count.

    The model and criterion must be ones :func:`fastmlp.train_epoch` fuses (an
    ``nn.Sequential`` of Flatten/Linear/activations, optionally ending with
    LogSoftmax; CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, HuberLoss,
    SmoothL1Loss or BCEWithLogitsLoss with reduction 'mean' or 'sum'), with no
    Dropout in training mode (call ``model.eval()``); otherwise ValueError
    naming what is not supported. ``X``: (N >= 1, features...) real numbers
    (converted once to float32), ``y`` as for train_epoch; ValueError/TypeError
    for wrong dtypes, shapes or labels out of range, before anything is written.
    """
    X, y = _prepare(X, y)
    if not isinstance(criterion, _Loss):
        raise ValueError(f"loss_and_grad: criterion {type(criterion).__name__} has no fused "
                         f"loss kernel")
    try:
        plan = make_plan(model, criterion, None, X)
    except Fallback as why:
        raise ValueError(f"loss_and_grad: unsupported: {why}") from None
    if any(p is not None for p in plan.dropouts):
        raise ValueError("loss_and_grad: unsupported: a Dropout in training mode (its mask is "
                         "random; call model.eval() for the deterministic loss)")
    params = list(model.parameters())
    if len(params) != len(plan.params) or any(a is not b for a, b in zip(params, plan.params)):
        raise ValueError("loss_and_grad: unsupported: the model has parameters outside its "
                         "Linear layers")
    if len(X) == 0:
        raise ValueError("X: expected at least one row, got 0")
    X2 = X.reshape(len(X), -1) if X.ndim != 2 else X
    if X2.shape[1] != plan.in_features:
        raise ValueError(
            f"X: the first Linear layer takes {plan.in_features} features, X has "
            f"{X2.shape[1]} per sample (shape {X.shape})")
    y = criterion.epoch_targets(y, plan.n_out)
    out = grads
    if grads is None:
        out = [p.grad if is_f32_buffer(p.grad, p.data.shape)
               else np.empty(p.data.shape, dtype=np.float32) for p in params]
    elif not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads: expected None or a list of float32 arrays (one per parameter), "
                        f"got {type(grads).__name__}")
    kw = dict(plan.loss)
    loss = kw.pop("loss")
    value = _core.loss_and_grad(plan.weights, plan.biases, plan.activations, X2, y, list(out),
                                loss=loss, **kw)
    if grads is None:
        for p, g in zip(params, out):
            p.grad = g
    return float(value)
