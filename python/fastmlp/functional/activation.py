"""Activations: one registry entry per activation, read by every layer that applies one.

An :class:`Activation` says, once, everything the rest of the package needs:
its forward and backward kernels (``fastmlp.kernels.<name>_forward`` /
``_backward``), what its backward reads (the forward's output or its input),
and whether the GEMM epilogue can apply it (``kernels.sgemm(activation=...)``),
so that ``Linear`` + activation is one pass over C. ``F.linear(...,
activation=name)``, ``nn.Sequential``'s fusion and the fused epoch planner
look activations up here; adding one is one entry (plus its kernels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .. import kernels
from ..autograd.grad_mode import _grad_mode
from ..autograd.tensor import Tensor, as_array

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "relu"]


@dataclass(frozen=True)
class Activation:
    """One activation function, as every layer of the package sees it.

    ``forward(x, out)``: the kernel computing ``out = f(x)`` (``out`` may be ``x``).
    ``backward(dout, saved, dx)``: ``dx = dout * f'(.)`` from ``saved`` (``dx`` may be ``dout``).
    ``saves``: what ``saved`` is: ``"output"`` (f(x)) or ``"input"`` (x).
    ``epilogue``: the name ``kernels.sgemm(activation=...)`` takes, or None when the
    GEMM cannot apply it (then it runs as a separate pass after the GEMM).
    """

    name: str
    forward: Callable
    backward: Callable
    saves: str = "output"
    epilogue: Optional[str] = None


ACTIVATIONS = {
    "relu": Activation("relu", kernels.relu_forward, kernels.relu_backward, "output", "relu"),
}


def get_activation(name, where: str = "activation") -> Optional[Activation]:
    """The registry entry for ``name`` (None for None or "identity"); ValueError naming
    ``where`` and the known names otherwise."""
    if name is None or name == "identity":
        return None
    act = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if act is None:
        known = ", ".join(repr(k) for k in ("identity", *ACTIVATIONS))
        raise ValueError(f"{where}: unknown activation {name!r}; expected None or one of {known}")
    return act


def _activation_backward(act: Activation, y: np.ndarray):
    def backward(g, keep):
        return (act.backward(g, y, g),)

    return backward


def apply_activation(act: Activation, input, inplace: bool, op: str):
    """``act`` applied to ``input`` (a Tensor or array-like), recording its backward step.

    In place (``inplace=True`` on a Tensor): the data is overwritten and its version
    bumped. On a leaf that requires grad this is a RuntimeError (as in PyTorch). On a
    Linear's output whose step applies no activation yet, the step becomes the fused
    Linear+activation one; any other node gets the activation's step on top. Either
    way every step recorded earlier that uses this Tensor sees its version change and
    refuses to run (RuntimeError at ``backward()``), instead of a wrong gradient.
    """
    if not isinstance(input, Tensor):
        x = as_array(input)
        if inplace and x is input:
            act.forward(x, x)
            return Tensor(x)
        return Tensor(act.forward(x, None))
    d = input.data
    if not inplace:
        y = act.forward(d, None)
        out = Tensor._result(y, (input,), _activation_backward(act, y), op)
        if out._backward is not None:
            out._saved += ((out, 0),)
        return out
    recording = input.requires_grad and _grad_mode.enabled
    if recording and input._backward is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    act.forward(d, d)
    input._bump_version()
    if input.requires_grad and input._backward is not None:
        fuse = getattr(input._backward, "fuse_activation", None)
        if fuse is not None and fuse(act, d):
            input._op += op  # e.g. "LinearRelu"
        else:
            # Put the activation's step on top: the node so far moves to a new Tensor.
            prev = Tensor.__new__(Tensor)
            prev.data, prev.grad, prev.requires_grad = d, None, True
            prev._backward, prev._parents, prev._saved = (input._backward, input._parents,
                                                          input._saved)
            prev._op, prev._version = input._op, input._version
            input._backward = _activation_backward(act, d)
            input._parents = (prev,)
            input._saved = ()
            input._op = op
        input._saved += ((input, input._version),)
    return input


def relu(input, inplace=False):
    """``max(input, 0)`` elementwise (``torch.relu`` / ``F.relu``).

    Out of place by default. ``inplace=True`` overwrites ``input`` and returns
    it (see :func:`apply_activation` for how the graph is kept correct); on a
    Linear's fresh output this makes the pair one fused step.
    """
    return apply_activation(ACTIVATIONS["relu"], input, inplace, "Relu")
