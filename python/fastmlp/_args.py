"""Checked conversion of scalar arguments, shared by the whole Python layer.

Every public function that passes a Python scalar on (to the compiled core, an
optimizer's kernel, the fused epoch) converts it here, so a wrong type or an
out-of-range integer is a ``TypeError`` / ``ValueError`` that names the
argument and says what was expected, never pybind11's generic "incompatible
function arguments" / "Unable to cast", a bare ``float()`` error, or a
comparison error from deep inside. The compiled core's own range checks
(NaN, ``lr >= 0``, ...) still run on the converted values.

Conventions (PyTorch's): a real number is anything ``float()`` converts except
``str``/``bytes``, ``bool`` and ``None`` (so NumPy scalars, 0-d arrays and
tensors pass); an integer is a ``numbers.Integral`` (NumPy integers too) that
is not a ``bool``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["real", "integer", "flag", "text", "INT64_MIN", "INT64_MAX", "UINT64_MAX"]

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _got(v) -> str:
    r = repr(v)
    return f"{type(v).__name__} {r if len(r) <= 40 else r[:37] + '...'}"


def _int_to_float(v: int, name: str) -> float:
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{name}: {_got(v)} is too large for a float") from None


def real(v, name: str, *, finite: bool = False, lo: float | None = None,
         what: str = "a real number") -> float:
    """``v`` as a Python float; TypeError naming ``name`` for a non-number (str, bool,
    None, ...). ``finite``: ValueError for inf/NaN; ``lo``: ValueError unless ``v >= lo``
    (NaN fails)."""
    t = type(v)
    if (t is float or t is int) and not finite and lo is None:  # the hot path (steps)
        return v if t is float else _int_to_float(v, name)
    if v is None or isinstance(v, (str, bytes, bool)):
        raise TypeError(f"{name}: expected {what}, got {_got(v)}")
    if t is int:
        f = _int_to_float(v, name)
    else:
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"{name}: expected {what}, got {_got(v)}") from None
    if finite and not math.isfinite(f):
        raise ValueError(f"{name}: expected a finite number, got {f}")
    if lo is not None and not f >= lo:
        raise ValueError(f"{name}: expected a number >= {lo:g}, got {f}")
    return f


def integer(v, name: str, lo: int = INT64_MIN, hi: int = INT64_MAX,
            what: str = "an integer") -> int:
    """``v`` as a Python int in ``[lo, hi]``: TypeError naming ``name`` for a non-integer
    (a float, even 2.0, a bool, a str), ValueError with the range when out of it."""
    if type(v) is not int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name}: expected {what}, got {_got(v)}")
        v = int(v)
    if not lo <= v <= hi:
        rng = (f">= {lo}" if hi == math.inf else f"<= {hi}" if lo == -math.inf
               else f"in [{lo}, {hi}]")
        raise ValueError(f"{name}: expected {what} {rng}, got {v}")
    return v


def flag(v, name: str) -> bool:
    """``v`` as a bool: a bool, a NumPy bool or the ints 0 / 1; TypeError otherwise (a
    str such as ``"False"`` is truthy, so it is refused rather than guessed)."""
    if v is True or v is False:
        return v
    if isinstance(v, np.bool_) or (isinstance(v, numbers.Integral) and int(v) in (0, 1)):
        return bool(v)
    raise TypeError(f"{name}: expected a bool, got {_got(v)}")


def text(v, name: str, choices=None) -> str:
    """``v`` as a str (one of ``choices`` when given); TypeError / ValueError naming
    ``name``."""
    if not isinstance(v, str):
        exp = "a str" if choices is None else "one of " + ", ".join(map(repr, choices))
        raise TypeError(f"{name}: expected {exp}, got {_got(v)}")
    if choices is not None and v not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {v!r}")
    return v
