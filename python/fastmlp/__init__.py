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
        import sys as _sys

        _argv = getattr(_sys, "orig_argv", [])
        if _os.path.basename(_sys.argv[0] if _sys.argv else "") == "fastmlp" or (
                "-m" in _argv and _argv[_argv.index("-m") + 1:][:1] == ["fastmlp"]):
            # the command line, which imports this package first: a user mistake is one
            # line and exit 2 there (fastmlp.tools.cli), not a traceback
            _sys.stderr.write(f"fastmlp: error: FASTMLP_CPU_CAPABILITY={_forced!r}: {e}\n")
            raise SystemExit(2) from None
        raise ValueError(f"FASTMLP_CPU_CAPABILITY={_forced!r}: {e}") from None
_core.gemm_init()  # blk: ValueError naming FASTMLP_CPU_CLASS / FASTMLP_GEMM_BLOCKING if bad

_thread_warning = _core._thread_default()["warning"]
if _thread_warning:  # OMP_NUM_THREADS out of range or not a number: say what is used instead
    import warnings as _warnings
    _warnings.warn(_thread_warning, RuntimeWarning, stacklevel=1)

from . import kernels, reference  # noqa: E402
from .autograd import (Tensor, tensor, from_numpy, no_grad, enable_grad,  # noqa: E402
                       set_grad_enabled, is_grad_enabled, inference_mode)
from . import autograd, functional, nn, optim, data  # noqa: E402
from .functional import relu, flatten  # noqa: E402
from .nn import manual_seed  # noqa: E402
from .serialization import save, load  # noqa: E402
from .train import train_epoch  # noqa: E402
from . import infer  # noqa: E402  (issue 12: the one-call forward, infer.predict)

from ._version import __version__  # noqa: E402

_ISA_ORDER = ("generic", "avx2", "avx512")


def set_num_threads(num_threads: int) -> None:
    """Set the number of threads fastmlp's kernels use, for every thread of the process.

    ``num_threads``: an int in ``[1, fastmlp._core.max_threads()]`` (that is
    ``max(256, CPUs configured)``); anything else raises TypeError/ValueError naming
    ``num_threads`` and the range. Like ``torch.set_num_threads`` the setting is
    process-wide: a Python thread started later uses it too. It is fastmlp's own
    count: it does not change OpenMP's setting (``omp_set_num_threads``), so other
    OpenMP libraries in the process (scikit-learn, an OpenMP BLAS) are unaffected.

    The default, chosen at import: ``OMP_NUM_THREADS`` when it is an integer in that
    range (otherwise a RuntimeWarning at import says why it was not used), else the
    CPUs in the process's affinity mask (``os.sched_getaffinity``), lowered to
    ``floor`` of the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), at
    least 1. See README "Threads".
    """
    _core.set_num_threads(num_threads)


def get_num_threads() -> int:
    """The number of threads a kernel called now from this thread uses.

    The rule: the process-wide count (:func:`set_num_threads`), except that

    * an OpenMP limit set in the calling thread below the OpenMP runtime's default
      caps it: ``threadpoolctl.threadpool_limits(n)`` (with or without
      ``user_api="openmp"``) and ``omp_set_num_threads(n)`` give
      ``min(count, n)`` in that thread while they hold (PyTorch instead lets its own
      setting win; we follow threadpoolctl, which promises the limit). When
      ``OMP_NUM_THREADS`` already is ``n`` or less the limit changes nothing
      OpenMP can see, so the count stands;
    * it is 1 in a child created by ``fork()`` (e.g. ``multiprocessing``'s default
      start method on Linux before Python 3.14): libgomp's thread pool does not
      survive fork, so the child runs every kernel on its own thread, always;
    * it is 1 inside an active OpenMP parallel region (no nested parallelism).
    """
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
    blocking model keeps the micro-panels in), ``pack_a``, ``direct_max_flops``,
    ``dot_path`` (whether a narrow N, e.g. 10 logits, runs as dot products along K) and
    ``dot_kernel`` (its kernel's name, or None when it is off), ``swap_path`` (whether a
    narrow-N product with a transposed A may run as its transpose, vectors along M) and
    ``swap_kernels`` (the micro-kernels that path and the direct path choose among per
    shape, ``micro_kernel`` first), and
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
    "infer",
    "gemm_config",
]
