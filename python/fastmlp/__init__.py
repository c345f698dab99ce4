"""fastmlp: fast CPU training and inference of multilayer perceptrons.

Hand-written C++ kernels (packed SGEMM with AVX-512 / AVX2 / portable
micro-kernels, fused losses and SGD) under a PyTorch-shaped Python API.

Low-level kernels: :mod:`fastmlp.kernels`; their NumPy float64 specification:
:mod:`fastmlp.reference`.
"""
from __future__ import annotations

import os as _os

from . import _core

_forced = _os.environ.get("FASTMLP_CPU_CAPABILITY", "").strip().lower()
if _forced:
    try:
        _core.set_cpu_capability(_forced)
    except ValueError as e:  # make the cause obvious at import time
        raise ValueError(f"FASTMLP_CPU_CAPABILITY={_forced!r}: {e}") from None
_core.gemm_init()  # blk: ValueError naming FASTMLP_CPU_CLASS / FASTMLP_GEMM_BLOCKING if bad

from . import kernels, reference  # noqa: E402
from .autograd import (Tensor, tensor, from_numpy, no_grad, enable_grad,  # noqa: E402
                       set_grad_enabled, is_grad_enabled, inference_mode)
from . import autograd, functional, nn, optim, data  # noqa: E402
from .functional import relu, flatten  # noqa: E402
from .nn import manual_seed  # noqa: E402
from .serialization import save, load  # noqa: E402
from .train import train_epoch  # noqa: E402

from ._version import __version__  # noqa: E402

_ISA_ORDER = ("generic", "avx2", "avx512")


def set_num_threads(num_threads: int) -> None:
    """Set the number of OpenMP threads fastmlp's kernels use (``>= 1``).

    Same runtime setting as ``OMP_NUM_THREADS`` and threadpoolctl's limit.
    """
    _core.set_num_threads(num_threads)


def get_num_threads() -> int:
    """Number of OpenMP threads the kernels will use."""
    return _core.get_num_threads()


def cpu_capability() -> str:
    """The instruction-set path the kernels use now: 'avx512', 'avx2' or 'generic'."""
    return _core.cpu_capability()


def available_cpu_capabilities() -> list[str]:
    """Every path this CPU can run, lowest first (e.g. ['generic', 'avx2', 'avx512'])."""
    best = _core.best_cpu_capability()
    return list(_ISA_ORDER[: _ISA_ORDER.index(best) + 1])


def _set_cpu_capability(name: str) -> None:
    """Switch the kernels' ISA path at runtime (tests and benchmarks).

    Users set ``FASTMLP_CPU_CAPABILITY`` before import instead. Raises
    ValueError for an unknown name or a path this CPU cannot run.
    """
    _core.set_cpu_capability(name)


# blk: the per-CPU GEMM plan ----------------------------------------------
def gemm_config() -> dict:
    """How the GEMM runs on this CPU now, as a dict (``fastmlp info`` shows it).

    ``vendor``, ``family``, ``model``, ``stepping``; ``caches``: the data/unified
    levels (``level``, ``size`` bytes, ``ways``, ``line``, ``sets``, ``sharing``
    logical CPUs) from CPUID (``cache_source``), with ``cache_mismatch`` saying how
    /sys/devices/system/cpu/cpu0/cache differed, or None; ``cpu_class``: the
    microarchitecture class whose strategy runs (``detected_cpu_class``, or
    ``FASTMLP_CPU_CLASS``); for the active ISA path (``isa``): ``micro_kernel``, its
    ``mr`` x ``nr`` tile and ``prefetch_b_k``, ``operands_from`` (the cache the
    blocking model keeps the micro-panels in), ``pack_a``, ``direct_max_flops``, and
    the blocking ``mc``, ``kc``, ``nc`` (``blocking_overridden``: from
    ``FASTMLP_GEMM_BLOCKING=MC,KC,NC``, MC and NC rounded up to multiples of mr, nr).
    """
    return _core.gemm_config()


def _set_cpu_class(name: str) -> None:
    """Switch the GEMM's CPU-class strategy at runtime (tests and benchmarks).

    Users set ``FASTMLP_CPU_CLASS`` before import instead. Every class's choice
    runs on any CPU that has its ISA path. Raises ValueError for an unknown name.
    """
    _core.set_cpu_class(name)


__all__ = [
    "__version__",
    "kernels",
    "reference",
    "data",
    "Tensor", "tensor", "from_numpy", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "inference_mode", "functional", "nn", "optim", "relu", "flatten",
    "manual_seed", "save", "load", "train_epoch",
    "set_num_threads",
    "get_num_threads",
    "cpu_capability",
    "available_cpu_capabilities",
    "gemm_config",
]
