"""Public low-level kernels on NumPy arrays.

Thin wrappers over the compiled core. Every function has a twin of the same
name and signature in :mod:`fastmlp.reference` (NumPy, float64) that defines
what it computes. Arrays are float32 and row-major; inputs of another dtype or
layout are converted, outputs you pass in must be writeable C-contiguous
float32 arrays of the exact shape. Bad arguments raise ``TypeError`` or
``ValueError`` naming the argument before any memory is touched. The GIL is
released while a kernel runs, and results are bitwise identical for any
number of threads.
"""
from __future__ import annotations

import numpy as np

from . import _core

__all__ = ["sgemm", "peak_gflops"]


def sgemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
          bias=None, relu=False) -> np.ndarray:
    """General matrix multiply with an optional bias + ReLU epilogue.

    ``C = relu?(alpha * op(a) @ op(b) + beta * C + bias[None, :])``

    - ``op(a)`` is ``a.T`` if ``trans_a`` else ``a``, shape (M, K).
    - ``op(b)`` is ``b.T`` if ``trans_b`` else ``b``, shape (K, N).
    - ``c``: (M, N) float32 C-contiguous array written in place, or ``None``
      for a new array (``beta`` is then irrelevant). With ``beta == 0`` C is
      never read, so uninitialised memory or NaN in it does not leak.
    - ``bias``: (N,) added to every row; ``relu`` applies ``max(., 0)`` last.

    Transposed views (``x.T``) are used without a copy. Returns C.
    """
    return _core.sgemm(a, b, c, float(alpha), float(beta), bool(trans_a), bool(trans_b),
                       bias, bool(relu))


def peak_gflops(threads: int = 1, seconds: float = 0.2) -> float:
    """Measured FMA ceiling (GFLOP/s) of ``threads`` cores on the active ISA path.

    Runs an FMA-only register loop for about ``seconds``; benchmarks report
    GEMM throughput as a fraction of it.
    """
    return _core.peak_gflops(int(threads), float(seconds))
