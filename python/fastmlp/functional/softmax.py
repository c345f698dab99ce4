"""``softmax`` and ``log_softmax`` (``torch.nn.functional``'s names and signatures).

The kernels run over the last dimension (``kernels.softmax`` / ``log_softmax`` and their
``_backward``); any other ``dim`` is moved last (one copy in, one copy out, in both
directions), so every dimension is supported. The backward step reads the forward's
output and writes the gradient in place of the incoming one.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import kernels
from .._arrays import F32 as _F32, is_f32_buffer
from ..autograd.tensor import Tensor, as_array

__all__ = ["softmax", "log_softmax"]


def _softmax_dim(name, ndim, stacklevel):
    """PyTorch's implicit dim (``_get_softmax_dim``), with its deprecation warning."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _wrap(dim, ndim):
    n = max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"dim: expected an int, got {type(dim).__name__}")
    d = int(dim)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {d})")
    return d + n if d < 0 else d


def _last(a, d):
    """``a`` with axis ``d`` moved last, C-contiguous (``a`` itself when it already is last)."""
    if a.ndim == 0 or d == a.ndim - 1:
        return a
    return np.ascontiguousarray(np.moveaxis(a, d, -1))


def _back(a, d, ndim):
    if ndim == 0 or d == ndim - 1:
        return a
    return np.ascontiguousarray(np.moveaxis(a, -1, d))


def _row_op(forward, backward, name, op, input, dim, stacklevel, dtype):
    if dtype is not None and np.dtype(dtype) != _F32:
        raise TypeError(f"{name}: dtype: fastmlp computes in float32, got {np.dtype(dtype)}")
    t = input if isinstance(input, Tensor) else None
    x = as_array(input)
    nd = x.ndim
    d = _softmax_dim(name, nd, stacklevel + 1) if dim is None else _wrap(dim, nd)
    xl = _last(x, d)
    y = forward(xl.reshape(1) if nd == 0 else xl)
    if nd == 0:
        y = y.reshape(())
    out = _back(y, d, nd)
    if t is None:
        return Tensor(out)

    def step(g, keep):
        if not is_f32_buffer(g):
            g = np.array(g, dtype=_F32, order="C")
        gl = _last(g, d)
        if nd == 0:
            return (backward(gl.reshape(1), y.reshape(1), dx=gl.reshape(1)).reshape(()),)
        return (_back(backward(gl, y, dx=gl), d, nd),)

    res = Tensor._result(out, (t,), step, op)
    if res._backward is not None and out is y:
        res._saved += ((res, 0),)  # the step reads the output: an in-place write to it must fail
    return res


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim`` (``F.softmax``), stable (the max is subtracted
    first). ``dim=None`` picks PyTorch's implicit dimension (0 for 0-, 1- and 3-D inputs,
    else 1) with its deprecation warning. ``dtype``: None or float32 (fastmlp computes in
    float32; anything else is a TypeError)."""
    return _row_op(kernels.softmax, kernels.softmax_backward, "softmax", "Softmax", input, dim,
                   _stacklevel, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``x - log(sum(exp(x)))`` along ``dim`` (``F.log_softmax``), stable; arguments as
    :func:`softmax`. With :func:`~fastmlp.functional.nll_loss` it is the cross-entropy, in two
    kernels instead of one (:func:`~fastmlp.functional.cross_entropy` fuses them)."""
    return _row_op(kernels.log_softmax, kernels.log_softmax_backward, "log_softmax",
                   "LogSoftmax", input, dim, _stacklevel, dtype)
