"""Gradient clipping and flat parameter vectors (``torch.nn.utils``).

:func:`clip_grad_norm_` and :func:`clip_grad_value_` change the ``.grad``
arrays in place; :func:`parameters_to_vector` / :func:`vector_to_parameters`
flatten parameters into one vector and write one back (in place, bumping each
parameter's version). ``parameters`` may be one Tensor or any iterable of
Tensors (a generator included).
"""
from __future__ import annotations

import math
import numbers
import types
import warnings

import numpy as np

from .. import kernels
from .._arrays import F32 as _F32
from ..autograd.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _param_list(parameters, name="parameters") -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    if isinstance(parameters, (np.ndarray, str)) or not hasattr(parameters, "__iter__"):
        raise TypeError(f"{name} must be a Tensor or an iterable of Tensors, but got "
                        f"{type(parameters).__name__}")
    is_generator = isinstance(parameters, types.GeneratorType)
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name} must hold Tensors, but one is {type(p).__name__}")
    if is_generator and not params:
        warnings.warn(f"`{name}` is an empty generator, no gradient clipping will occur.",
                      stacklevel=3)
    return params


def _number(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, but got {type(value).__name__}")
    return float(value)


def _vector_norm(x: np.ndarray, p: float) -> float:
    """``torch.linalg.vector_norm(x, p)`` of a float64 vector: inf, -inf, 0 or any p."""
    a = np.abs(x)
    if p == math.inf or p == -math.inf:
        if a.size == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p} norm on an empty "
                               "tensor because the operation does not have an identity")
        return float(a.max() if p > 0 else a.min())
    if p == 0:
        return float(np.count_nonzero(a))
    if p == 1:
        return float(a.sum())
    if p == 2:
        return float(np.sqrt(np.dot(a, a)))
    return float(np.sum(a**p) ** (1.0 / p))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale the gradients so that their total ``norm_type`` norm is at most ``max_norm``.

    PyTorch's arithmetic: the total norm is the norm of the per-parameter gradient
    norms (``norm_type`` may be ``inf``/``'inf'``); ``clip_coef = max_norm / (total +
    1e-6)``, clamped to 1.0, multiplies every gradient in place (also when it is 1).
    Parameters without a gradient are skipped. The norms are accumulated in float64
    (torch: in the gradients' float32; for norm_type 2 and float32 gradients by
    :func:`fastmlp.kernels.total_norm`, which ``train_epoch(clip_grad_norm=...)``'s
    fused path shares), the total rounded to float32, and the
    coefficient computed and applied in float32 as torch does. Returns the total norm
    as a 0-d float32 Tensor (``float(result)`` gives the number). ``foreach`` is
    accepted for PyTorch compatibility (one implementation here).

    Raises RuntimeError (PyTorch's message) when ``error_if_nonfinite`` and the total
    norm is nan or infinite.
    """
    params = _param_list(parameters)
    max_norm = _number("max_norm", max_norm)
    try:
        norm_type = float(norm_type)
    except (TypeError, ValueError):
        raise TypeError(f"norm_type must be a number or 'inf', but got {norm_type!r}") from None
    if math.isnan(norm_type):
        raise ValueError("norm_type must not be nan")
    if foreach not in (None, True, False):
        raise TypeError(f"foreach must be None or a bool, but got {foreach!r}")
    grads = [np.asarray(p.grad) for p in params if p.grad is not None]
    if not grads:
        return Tensor(np.zeros((), dtype=_F32))
    if norm_type == 2.0 and all(g.dtype == _F32 for g in grads):
        # The one implementation the fused epoch's clipping shares (bitwise).
        total = np.float32(kernels.total_norm(grads))
    else:
        norms = np.array([_vector_norm(g.astype(np.float64).ravel(), norm_type)
                          for g in grads])
        total = np.float32(_vector_norm(norms, norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        coef = np.float32(max_norm) / (total + np.float32(1e-6))
        coef = np.minimum(coef, np.float32(1.0))
        for g in grads:
            g *= coef
    return Tensor(np.asarray(total, dtype=_F32))


def clip_grad_value_(parameters, clip_value, foreach=None) -> None:
    """Clamp every gradient into ``[-clip_value, clip_value]`` in place."""
    params = _param_list(parameters)
    clip_value = _number("clip_value", clip_value)
    if foreach not in (None, True, False):
        raise TypeError(f"foreach must be None or a bool, but got {foreach!r}")
    lo, hi = np.float32(-clip_value), np.float32(clip_value)
    for p in params:
        if p.grad is not None:
            g = p.grad
            np.maximum(g, lo, out=g)
            np.minimum(g, hi, out=g)


def parameters_to_vector(parameters) -> Tensor:
    """The parameters' data flattened and concatenated into one new float32 Tensor."""
    params = _param_list(parameters)
    if not params:
        return Tensor(np.zeros((0,), dtype=_F32))
    return Tensor(np.concatenate([p.data.reshape(-1) for p in params]).astype(_F32, copy=False))


def vector_to_parameters(vec, parameters) -> None:
    """Write consecutive slices of the 1-D ``vec`` into the parameters' data, in place
    (each parameter's version is bumped). ``vec`` must have exactly as many elements
    as the parameters together."""
    if isinstance(vec, Tensor):
        v = vec.data
    elif isinstance(vec, np.ndarray):
        v = vec
    else:
        raise TypeError(f"expected vec to be a Tensor, but got {type(vec).__name__}")
    if v.ndim != 1:
        raise ValueError(f"vec must be 1-D, but has shape {v.shape}")
    params = _param_list(parameters)
    total = sum(p.data.size for p in params)
    if v.size != total:
        raise ValueError(f"vec has {v.size} elements, the parameters have {total}")
    offset = 0
    for p in params:
        n = p.data.size
        p.data[...] = v[offset:offset + n].reshape(p.data.shape)
        p._bump_version()
        offset += n
