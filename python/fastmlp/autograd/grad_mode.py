"""Grad mode: whether operations record a graph (per thread, as in PyTorch).

``no_grad`` / ``enable_grad`` / ``inference_mode`` / ``set_grad_enabled`` are
context managers and decorators; :func:`is_grad_enabled` reads the mode.
Ops read ``_grad_mode.enabled`` directly (one attribute load on a hot path).
"""
from __future__ import annotations

import functools
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode"]


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True unless inside :class:`no_grad` (per thread, as in PyTorch)."""
    return _grad_mode.enabled


def _with_mode(func, mode: bool):
    """``func`` wrapped to run with grad mode ``mode`` (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        prev = _grad_mode.enabled
        _grad_mode.enabled = mode
        try:
            return func(*args, **kwargs)
        finally:
            _grad_mode.enabled = prev

    return wrapper


class set_grad_enabled:
    """Enable or disable gradient recording (function, context manager, or decorator).

    ``set_grad_enabled(False)`` takes effect immediately; used as a context
    manager the previous mode comes back on exit.
    """

    def __init__(self, mode: bool):
        self.prev = _grad_mode.enabled
        self.mode = bool(mode)
        _grad_mode.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self.prev
        return False

    def __call__(self, func):
        _grad_mode.enabled = self.prev  # used as a decorator: don't leak the mode
        return _with_mode(func, self.mode)


class no_grad:
    """Context manager (and decorator) that records no graph: ``with fastmlp.no_grad(): ...``.

    Outputs computed inside have ``requires_grad=False`` and keep no reference
    to their inputs. Use it for evaluation.
    """

    _mode = False

    def __enter__(self):
        self.prev = _grad_mode.enabled
        _grad_mode.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self.prev
        return False

    def __call__(self, func):
        return _with_mode(func, self._mode)


class enable_grad(no_grad):
    """The opposite of :class:`no_grad` (e.g. inside a no_grad block)."""

    _mode = True


class inference_mode(no_grad):
    """``torch.inference_mode`` spelling: the same as :class:`no_grad` (``mode=False``: a no-op)."""

    def __init__(self, mode: bool = True):
        self._mode = not mode
