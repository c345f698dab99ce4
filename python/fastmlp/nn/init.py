"""Layer initialisation (``torch.nn.init``): the generator new layers draw from,
:func:`manual_seed`, and the in-place initialisers with PyTorch's names, gains and fans.

Layers read :data:`generator` through this module when they draw, so a
reseed is seen by every layer created afterwards; the initialisers below draw
from it too (or from the ``generator=`` they are given).

Every initialiser takes a fastmlp Tensor/Parameter (writes into its ``.data``
and bumps its version counter) or a floating NumPy array (writes into it),
and returns what it was given. Draws are made in float64 and rounded to the
array's dtype. Fans follow PyTorch: a weight of shape (out, in, *k) has
``fan_in = in * prod(k)`` and ``fan_out = out * prod(k)``.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _args
from ..autograd.tensor import Tensor

__all__ = ["manual_seed", "generator", "calculate_gain", "uniform_", "normal_", "constant_",
           "ones_", "zeros_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_"]

generator = np.random.default_rng()


def manual_seed(seed) -> np.random.Generator:
    """Seed the generator that initialises new layers (as ``torch.manual_seed``).

    Any integer (negative ones are taken modulo 2**64). Returns the generator.
    """
    global generator
    generator = np.random.default_rng(_args.integer(seed, "seed", -math.inf, math.inf) % 2**64)
    return generator


# ------------------------------------------------------------------ helpers --


def _target(tensor) -> np.ndarray:
    """The array an initialiser writes into: a Tensor's ``.data`` or the ndarray itself."""
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"tensor must be a fastmlp Tensor/Parameter or a NumPy array, but got "
                        f"{type(tensor).__name__}")
    if arr.dtype.kind != "f":
        raise TypeError(f"tensor must hold floating-point values, but has dtype {arr.dtype}")
    if not arr.flags.writeable:
        raise ValueError("tensor is read-only: the initialisers write in place")
    return arr


def _written(tensor):
    if isinstance(tensor, Tensor):
        tensor._bump_version()
    return tensor


def _number(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, but got {type(value).__name__}")
    return float(value)


def _rng(gen) -> np.random.Generator:
    if gen is None:
        return generator
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator or None, but got "
                        f"{type(gen).__name__}")
    return gen


def _fill_uniform(tensor, low, high, gen):
    arr = _target(tensor)
    arr[...] = _rng(gen).uniform(low, high, size=arr.shape)
    return _written(tensor)


def _fill_normal(tensor, mean, std, gen):
    arr = _target(tensor)
    arr[...] = _rng(gen).normal(mean, std, size=arr.shape)
    return _written(tensor)


# -------------------------------------------------------------- gains, fans --


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (PyTorch's table): 1 for linear, the
    conv functions and sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 +
    negative_slope**2)) for leaky_relu (``param``, default 0.01); 3/4 for selu."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, *receptive field)."""
    shape = _target(tensor).shape
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string, but got {type(mode).__name__}")
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# ------------------------------------------------------------- initialisers --


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill ``tensor`` with draws from U(a, b)."""
    a, b = _number("a", a), _number("b", b)
    if a > b:
        raise ValueError(f"uniform_ expects to return a [from, to) range, but found "
                         f"from(a)={a} > to(b)={b}")
    return _fill_uniform(tensor, a, b, generator)


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill ``tensor`` with draws from N(mean, std**2)."""
    mean, std = _number("mean", mean), _number("std", std)
    if not std >= 0.0:
        raise ValueError(f"normal expects std >= 0.0, but found std={std}")
    return _fill_normal(tensor, mean, std, generator)


def constant_(tensor, val: float):
    """Fill ``tensor`` with ``val``."""
    val = _number("val", val)
    _target(tensor)[...] = val
    return _written(tensor)


def ones_(tensor):
    """Fill ``tensor`` with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill ``tensor`` with zeros."""
    return constant_(tensor, 0.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    gain = _number("gain", gain)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if fan_in + fan_out == 0:
        return tensor  # an empty weight: nothing to draw
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return _fill_uniform(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    gain = _number("gain", gain)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if fan_in + fan_out == 0:
        return tensor
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _fill_normal(tensor, 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    """std = gain / sqrt(fan), or None for an empty tensor (PyTorch warns: a no-op)."""
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    if _target(tensor).size == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    return gain / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None):
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, ``gain =
    calculate_gain(nonlinearity, a)`` and ``fan`` the fan_in or fan_out (``mode``)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _fill_uniform(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None):
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)`` (see :func:`kaiming_uniform_`)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return _fill_normal(tensor, 0.0, std, generator)
