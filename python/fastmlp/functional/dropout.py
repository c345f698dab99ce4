"""``dropout`` (``torch.nn.functional.dropout``) and the seeds it draws.

Every training-mode call with ``p > 0`` draws one uint64 seed from
:data:`fastmlp.nn.init.generator` (so ``fastmlp.manual_seed`` makes it
reproducible) and runs :func:`fastmlp.kernels.dropout_forward` with it; the
mask is a pure function of (seed, element index), so the backward step
regenerates it from the seed (``dropout_backward``) instead of keeping it.
The fused epoch (:mod:`fastmlp.train`) draws the same seeds in the same order
with :func:`draw_seeds` and gets the same bits.
"""
from __future__ import annotations

import numbers
import sys

import numpy as np

from .. import kernels
from ..autograd.grad_mode import _grad_mode
from ..autograd.tensor import Tensor, as_array

__all__ = ["dropout", "draw_seeds", "seed_generator", "check_dropout_p"]


def seed_generator() -> np.random.Generator:
    """:data:`fastmlp.nn.init.generator` as it is now (``manual_seed`` rebinds it)."""
    return sys.modules["fastmlp.nn.init"].generator


def draw_seeds(n: int) -> np.ndarray:
    """``n`` uint64 seeds from :func:`seed_generator`, as ``n`` successive calls of
    :func:`dropout` would draw them (one each, in call order)."""
    return seed_generator().integers(0, 2**64, size=n, dtype=np.uint64)


def check_dropout_p(p) -> float:
    """``p`` as a float in [0, 1); ValueError naming ``p`` otherwise (TypeError for a
    non-number). PyTorch also takes ``p == 1`` (all zeros); we do not (its scale
    1 / (1 - p) is infinite)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p: dropout probability must be a real number, got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p: dropout probability has to be in [0, 1), but got {p}")
    return p


def _dropout_backward(p: float, seed: int):
    def backward(g, keep):
        return (kernels.dropout_backward(g, p, seed, g),)

    return backward


def dropout(input, p=0.5, training=True, inplace=False):
    """``torch.nn.functional.dropout``: zero each element with probability ``p`` and
    scale the rest by ``1 / (1 - p)`` (float32, PyTorch's ``input * (bernoulli(1 - p) /
    (1 - p))`` arithmetic: see :func:`fastmlp.kernels.dropout_forward`).

    ``training=False`` or ``p == 0``: returns ``input`` itself (a Tensor; an array-like
    is wrapped), as PyTorch does, and draws no seed. Otherwise draws one seed from
    :data:`fastmlp.nn.init.generator`. ``inplace=True`` overwrites ``input``'s data and
    returns it, recording the step on top of its node; on a leaf that requires grad it
    is a RuntimeError, as in PyTorch, and an earlier step that saved this Tensor (e.g. a
    ReLU's output) refuses to run at ``backward()``.

    Differences from PyTorch: ``p`` must be in [0, 1) (``p == 1`` is a ValueError); the
    mask comes from a counter-based generator (Philox4x32-10), not from torch's.
    """
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return input if isinstance(input, Tensor) else Tensor(as_array(input))
    # Every check before the draw: a call that raises consumes no seed.
    if not isinstance(input, Tensor):
        x = as_array(input)
        seed = int(draw_seeds(1)[0])
        if inplace and x is input:
            kernels.dropout_forward(x, p, seed, x)
            return Tensor(x)
        return Tensor(kernels.dropout_forward(x, p, seed))
    recording = input.requires_grad and _grad_mode.enabled
    if inplace and recording and input._backward is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    seed = int(draw_seeds(1)[0])
    if not inplace:
        return Tensor._result(kernels.dropout_forward(input.data, p, seed), (input,),
                              _dropout_backward(p, seed), "Dropout")
    d = input.data
    kernels.dropout_forward(d, p, seed, d)
    input._bump_version()
    if recording:
        # The node so far moves to a new Tensor; input becomes the dropout's output.
        prev = Tensor.__new__(Tensor)
        prev.data, prev.grad, prev.requires_grad = d, None, True
        prev._backward, prev._parents, prev._saved = input._backward, input._parents, input._saved
        prev._op, prev._version = input._op, input._version
        input._backward = _dropout_backward(p, seed)
        input._parents = (prev,)
        input._saved = ()
        input._op = "Dropout"
    return input
