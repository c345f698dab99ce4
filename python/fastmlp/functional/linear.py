"""``linear``: ``act(input @ weight.T + bias)`` as one GEMM, and its backward step.

``linear(x, W, b, activation="relu")`` is one step: the activation runs in the
GEMM's epilogue when its registry entry has one and its backward reads the
output (or no backward is recorded); when its backward reads the input
(``saves == "input"``: gelu, silu...) the GEMM computes the pre-activation z,
kept for the backward, and the activation's kernel makes the output from it
(out of place). Either way the
bits are those of ``Linear`` then the activation (the kernels' contract: the
epilogue and ``<name>_forward`` compute every element alike). ``nn.Sequential``
and the fused epoch use it for a ``Linear`` followed by an activation.
``relu(linear(x, W, b), inplace=True)`` reaches the same fused step after the
fact: the activation asks the Linear's step to take it (``fuse_activation``).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from .._arrays import F32 as _F32, is_f32_array, is_f32_buffer
from ..autograd.grad_mode import _grad_mode
from ..autograd.tensor import Tensor, as_array
from .activation import get_activation

__all__ = ["linear"]

_sgemm = kernels.sgemm


class _LinearBackward:
    """Backward of ``y = act(x W^T + b)`` for x (M, K), W (N, K), b (N,).

    ``dY`` is first multiplied by the activation's derivative (its backward
    kernel, in place: the engine hands each step a gradient it owns) from
    ``act_saved``, the output or the pre-activation as ``act.saves`` says, then
    ``dW += dY^T X`` (``sgemm(dy, x, trans_a=True)``, accumulated with beta=1
    into an existing ``.grad``), ``db += colsum(dY)`` and, only when x needs
    it, ``dX = dY W``. Leaf parameters are accumulated here directly; non-leaf
    weights (computed by other ops) are returned to the engine as parents.
    """

    __slots__ = ("x", "x_shape", "w", "weight", "bias", "need_dx", "w_mode", "b_mode", "act",
                 "act_saved")

    # w_mode / b_mode: 0 no gradient, 1 accumulate into the leaf's .grad, 2 return to the engine

    def fuse_activation(self, act, saved) -> bool:
        """Take ``act`` (applied in place to this step's output) into this step;
        ``saved`` is what its backward reads (the output, or a copy of the pre-activation)."""
        if self.act is not None:
            return False
        self.act = act
        self.act_saved = saved
        return True

    def __call__(self, g, keep):
        W = self.w
        n_out = W.shape[0]
        g2 = g if g.ndim == 2 else g.reshape(-1, n_out)
        act = self.act
        if act is not None:
            y = self.act_saved
            act.backward(g2, y if y.ndim == 2 else y.reshape(-1, n_out), dx=g2)
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
            elif is_f32_buffer(G, W.shape):
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
            elif is_f32_buffer(G, p.data.shape):
                G += kernels.bias_grad(g2)
            else:
                p.grad = np.asarray(G, dtype=_F32) + kernels.bias_grad(g2)
        elif bm == 2:
            res.append(kernels.bias_grad(g2))
        return res


def _linear(input, weight, bias, act, layer):
    """``act(input @ weight.T + bias)`` as one step; ``act`` is a
    :class:`~.activation.BoundActivation` or None; ``layer`` names the caller in errors."""
    if isinstance(input, Tensor):
        xt, x = input, input.data
    else:
        xt, x = None, (input if is_f32_array(input) else as_array(input))
    # (Tensor or None, its array) for each; isinstance first: Linear passes Parameters
    if isinstance(weight, Tensor):
        wt, W = weight, weight.data
    else:
        wt, W = None, as_array(weight)
    if isinstance(bias, Tensor):
        bt, b = bias, bias.data
    elif bias is None:
        bt = b = None
    else:
        bt, b = None, as_array(bias)
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
    if act is None:
        y = saved = _sgemm(x2, W, trans_b=True, bias=b)
    elif act.epilogue is not None and (act.saves == "output" or not (_grad_mode.enabled and (
            (xt is not None and xt.requires_grad) or (wt is not None and wt.requires_grad)
            or (bt is not None and bt.requires_grad)))):
        # in the epilogue: its backward reads the output, or no backward is recorded
        y = saved = _sgemm(x2, W, trans_b=True, bias=b, activation=act.epilogue)
    elif act.saves == "output":  # no epilogue: the kernel in place (the same bits)
        y = saved = _sgemm(x2, W, trans_b=True, bias=b)
        act.forward(y, out=y)
    else:
        # the backward reads the pre-activation: keep z, the output is a new array
        saved = _sgemm(x2, W, trans_b=True, bias=b)
        y = act.forward(saved)
    if x.ndim != 2:
        y = y.reshape(x_shape[:-1] + (n_out,))

    out = Tensor.__new__(Tensor)
    out.data = y
    out.grad = None
    out._version = 0
    out._op = "Linear" if act is None else "Linear" + act.op
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
            bw.act = act
            bw.act_saved = saved if act is not None else None
            parents = []
            if need_dx:
                parents.append(xt)
            if w_mode == 2:
                parents.append(wt)
            if b_mode == 2:
                parents.append(bt)
            checked = [(t, t._version) for t in (xt, wt, bt) if t is not None]
            if act is not None and act.saves == "output":
                checked.append((out, 0))
            out.requires_grad = True
            out._backward = bw
            out._parents = tuple(parents)
            out._saved = tuple(checked)
            return out
    out.requires_grad = False
    out._backward = None
    out._parents = ()
    out._saved = ()
    return out


def linear(input, weight, bias=None, activation=None):
    """``activation(input @ weight.T + bias)`` (``torch.nn.functional.linear`` plus a fused
    activation).

    input (*, in_features), weight (out_features, in_features), bias
    (out_features,) or None. ``activation``: None (PyTorch's ``F.linear``) or
    a name from :data:`fastmlp.functional.ACTIVATIONS` (``"relu"``, default
    parameters) or a dict ``{"name": "leaky_relu", "negative_slope": 0.2}``
    (the format of ``kernels.sgemm``'s ``activation``); ValueError naming
    ``activation`` otherwise. One ``sgemm`` call and one backward step (see the
    module docstring); the backward computes the input's gradient only when the
    input requires one.
    """
    return _linear(input, weight, bias, get_activation(activation, "linear: activation"), "linear")
