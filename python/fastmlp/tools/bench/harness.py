"""The measurement harness of ``fastmlp bench``: timing, settling, threads, machine info.

Method: every side is warmed up, then timed ``reps`` times, interleaved: each
repetition runs every side once, in an order rotated per repetition, so drift
on a shared machine hits all sides alike. Before each timing the run waits
until the previous side's worker threads stop spinning (``settle``: at least
50 ms, until the process's other threads are idle, at most 1 s; OpenBLAS's keep
spinning after a call and would take the next side's cores) and,
for short calls, makes one untimed call; a timing is a loop
of calls lasting about ``target`` seconds, divided by the call count
(``time.perf_counter``). A figure is the median of the repetitions; the spread
is the interquartile range (the JSON also has min and max). Every side runs
at the same thread count: ``fastmlp.set_num_threads``, OpenBLAS through
``threadpoolctl.threadpool_limits(n, user_api="blas")``, ``torch.set_num_threads``.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import threading
import time
import warnings

try:
    import resource
except ImportError:  # not on Windows: settle() then only waits min_s
    resource = None

import numpy as np

from ..machine import cpu_id, cpu_model

SCHEMA = "fastmlp-bench/1"
SUITES = ("gemm", "layers", "train", "infer", "sklearn")  # infer: issue 12; sklearn: issue 11
PEERS = ("numpy", "torch", "sklearn")
OURS = ("fastmlp", "fastmlp-u8", "fastmlp-loop", "fastmlp-base")
# "fastmlp-base": in the train suite's variant cases, the SGD/ReLU fused epoch the
# variant (another optimizer or activation, fused) is timed against in the same run.
SIDE_ORDER = ("fastmlp", "fastmlp-u8", "fastmlp-loop", "fastmlp-base", "numpy", "torch",
              "torch-loader", "sklearn")
# Sides a ratio column is shown for: every peer, and in the train suite the
# PyTorch seed script fed by torch.utils.data.DataLoader as written
# ("torch-loader"; "torch" cuts its batches from in-memory tensors).
RATIO_SIDES = ("numpy", "torch", "torch-loader", "sklearn")
SLEEP_BETWEEN_SIDES = 0.05  # at least this long before each timing; see settle()
WARM_CALL_MAX_S = 0.5  # calls shorter than this get one untimed call after settle()
SETTLE_MAX_S = 1.0
OPENBLAS_SLOW_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# repetitions, seconds per timing, warm-up calls
_DEFAULTS = {
    False: {"gemm": (11, 0.05, 2), "layers": (11, 0.05, 2), "train": (5, 0.0, 1),
            "infer": (11, 0.05, 2), "sklearn": (5, 0.0, 1)},
    True: {"gemm": (5, 0.015, 1), "layers": (5, 0.01, 1), "train": (3, 0.0, 1),
           "infer": (5, 0.01, 1), "sklearn": (2, 0.0, 1)},
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- peers --


def detect_peers(wanted=PEERS) -> dict:
    """``{name: {"available": bool, "version" | "reason": str}}``; imports the peers."""
    out = {"numpy": {"available": True, "version": np.__version__}}
    for name, mod in (("torch", "torch"), ("sklearn", "sklearn")):
        if name not in wanted:
            out[name] = {"available": False, "requested": False,
                         "reason": "not requested (--peers)"}
            continue
        try:
            m = __import__(mod)
            if name == "sklearn":
                from sklearn.neural_network import MLPClassifier  # noqa: F401
            out[name] = {"available": True, "version": m.__version__}
        except Exception as e:  # ImportError, or a broken install
            out[name] = {"available": False, "reason": f"not installed ({type(e).__name__}: {e})"}
    return out


def _torch(peers):
    if peers.get("torch", {}).get("available"):
        import torch
        return torch
    return None


@contextlib.contextmanager
def thread_settings(threads: int, peers: dict):
    """Set ``threads`` for fastmlp's OpenMP, every loaded BLAS and torch; restore after."""
    import fastmlp

    torch = _torch(peers)
    prev = fastmlp.get_num_threads()
    prev_torch = torch.get_num_threads() if torch else None
    fastmlp.set_num_threads(threads)
    if torch:
        torch.set_num_threads(threads)
    try:
        import threadpoolctl
        limiter = threadpoolctl.threadpool_limits(threads, user_api="blas")
    except ImportError:
        limiter = None
        warnings.warn("threadpoolctl is not installed: NumPy's BLAS threads are not limited")
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        if torch:
            torch.set_num_threads(prev_torch)
        fastmlp.set_num_threads(prev)


# ----------------------------------------------------------- measurement --


def _stats(times, work, scale, peak=None) -> dict:
    t = np.asarray(times, dtype=np.float64)
    q1, med, q3 = (float(v) for v in np.percentile(t, [25, 50, 75]))
    d = {"median_s": med, "q1_s": q1, "q3_s": q3, "min_s": float(t.min()), "max_s": float(t.max()),
         "runs": int(t.size)}
    if work:
        # throughput: higher is better, so its quartiles come from the time's
        d.update(value=work / med / scale, value_q1=work / q3 / scale, value_q3=work / q1 / scale,
                 value_min=work / d["max_s"] / scale, value_max=work / d["min_s"] / scale)
        if peak:
            d["pct_peak"] = 100.0 * d["value"] / peak
    return d


def _other_threads_cpu_s() -> float:
    """CPU seconds used so far by this process's threads other than this one."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime - time.thread_time()


def _busy_wait(seconds: float) -> None:
    """Wait ``seconds`` without giving up the core (see settle): a spin, when this is the
    process's only Python thread. A spin holds the GIL, so with other Python threads
    (which may be the ones settle waits for) this sleeps instead."""
    if threading.active_count() > 1:
        time.sleep(seconds)
        return
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def settle(min_s: float = SLEEP_BETWEEN_SIDES, max_s: float = SETTLE_MAX_S,
           poll_s: float = 0.02) -> float:
    """Wait until this process's worker threads stop using the CPU; returns the wait.

    After a call, thread pools keep spinning (libgomp's, ours, briefly; OpenBLAS's
    much longer), and a side timed while the previous side's threads still spin
    shares the cores with them (figures: bench/results/README.md, "### settle:
    worker threads spin after a call"). So this waits at least ``min_s``, then
    until the other threads used under 10% of one core over a ``poll_s`` window,
    at most ``max_s`` in all.

    The calling thread waits busy, not in ``time.sleep``, when it is the process's
    only Python thread (``_busy_wait``): on a host where other processes are
    runnable, a thread that sleeps gives its core away, and the scheduler makes it
    wait on the run queue for a while after it wakes, so the calls timed right
    after a sleep ran slower in wall time than the same calls back to back while
    their CPU time was the same (figures: bench/results/README.md, "### settle:
    sleeping gives the core away"). A user's back-to-back calls do not pay that;
    an idle host does not either.
    """
    t0 = time.perf_counter()
    _busy_wait(min_s)
    if resource is None:
        return time.perf_counter() - t0
    prev = _other_threads_cpu_s()
    while time.perf_counter() - t0 < max_s:
        _busy_wait(poll_s)
        cur = _other_threads_cpu_s()
        if cur - prev < 0.1 * poll_s:
            break
        prev = cur
    return time.perf_counter() - t0


def measure(fns: dict, *, reps: int, target: float, warmup: int = 1,
            sleep: float = SLEEP_BETWEEN_SIDES) -> dict:
    """Time each zero-argument callable of ``fns``; interleaved repetitions.

    Returns ``{name: list of seconds per call}`` (``reps`` values), or
    ``{name: {"skipped": reason}}`` for a callable that raised.
    """
    per_call, calls, times, out = {}, {}, {}, {}
    for name, fn in fns.items():
        try:
            settle(sleep)
            t0 = time.perf_counter()
            for _ in range(max(1, warmup)):
                fn()
            est = (time.perf_counter() - t0) / max(1, warmup)
            if est < target:  # calibrate: how many calls fill `target` seconds
                n, t0 = 0, time.perf_counter()
                while True:
                    fn()
                    n += 1
                    el = time.perf_counter() - t0
                    if el >= target / 4 or n >= 100000:
                        break
                est = el / n
            per_call[name] = est
            calls[name] = max(1, int(round(target / est))) if est < target else 1
            times[name] = []
        except Exception as e:
            out[name] = {"skipped": f"error: {type(e).__name__}: {e}"}
    names = [n for n in fns if n in times]
    for r in range(reps):
        k = r % max(1, len(names))
        for name in names[k:] + names[:k]:  # rotate who goes first
            if name in out:
                continue
            fn, n = fns[name], calls[name]
            try:
                settle(sleep)
                if per_call[name] < WARM_CALL_MAX_S:
                    # untimed: wakes this side's worker threads and brings the core
                    # back from idle, so the timed calls see the back-to-back
                    # rate (figures: bench/results/README.md, "### settle: a warm call")
                    fn()
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                times[name].append((time.perf_counter() - t0) / n)
            except Exception as e:
                out[name] = {"skipped": f"error: {type(e).__name__}: {e}"}
    for name in names:
        if name not in out:
            out[name] = times[name]
    return {n: out[n] for n in fns}


# ``--cases``: substrings of the case names to run (None: all); set by run_benchmarks.
CASE_FILTER = None


def case_wanted(case: str) -> bool:
    """Whether ``case`` is selected by ``--cases`` (any of its substrings, case-insensitive)."""
    return CASE_FILTER is None or any(s.lower() in case.lower() for s in CASE_FILTER)


def _run_case(results, *, suite, case, shape, unit, scale, work, fns, reps, target, warmup,
              gemm=False, peak=None, skipped=None, extra=None):
    """Measure one case's sides and append its result record to ``results``; returns the
    record, or None for a case ``--cases`` leaves out.

    ``gemm``: a GEMM-bound case (GFLOP/s); with ``peak`` it gets ``pct_peak``.
    """
    if not case_wanted(f"{case} {shape}"):
        return None
    raw = measure(fns, reps=reps, target=target, warmup=warmup)
    sides = {}
    for name in SIDE_ORDER:
        if name in raw:
            r = raw[name]
            sides[name] = r if isinstance(r, dict) else _stats(r, work, scale,
                                                               peak if gemm else None)
        elif skipped and name in skipped:
            sides[name] = {"skipped": skipped[name]}
    ours = sides.get("fastmlp", {})
    ratios = {}
    for p in RATIO_SIDES:
        s = sides.get(p, {})
        if "median_s" in ours and "median_s" in s:
            ratios[p] = s["median_s"] / ours["median_s"]
    rec = {"suite": suite, "case": case, "shape": shape, "unit": unit, "work": work,
           "gemm": bool(gemm), "sides": sides, "ratios": ratios}
    if extra:
        rec.update(extra)
    results.append(rec)
    cells = []
    for n, s in sides.items():
        cells.append(f"{n} {s['value']:.4g}" if "value" in s else f"{n} skipped")
    _log(f"  {suite:6s} {case:24s} {shape:18s} {unit:9s} " + ", ".join(cells))
    return rec


def _skipped(peers, names):
    """{peer: reason} for the requested peers that are missing (shown as skipped)."""
    return {p: peers[p]["reason"] for p in names
            if p in peers and not peers[p]["available"] and peers[p].get("requested", True)}


def _defaults(suite, quick, reps, target):
    r, t, w = _DEFAULTS[bool(quick)][suite]
    if reps is not None and (isinstance(reps, bool) or not isinstance(reps, int) or reps < 1):
        raise ValueError(f"reps: expected None or an integer >= 1, got {reps!r}")
    return (r if reps is None else reps), (t if target is None else target), w

# ------------------------------------------------------------ machine info --


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_model() -> str:
    model = cpu_model()
    return model if model is not None else (platform.processor() or platform.machine())


def machine_info(threads: int) -> dict:
    """CPU, ISA path, threads, BLAS libraries (threadpoolctl), OpenBLAS env vars."""
    import fastmlp

    info = {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": _all_cores(),
        "isa": fastmlp.cpu_capability(),
        "available_isas": fastmlp.available_cpu_capabilities(),
        "threads": threads,
        # blk: bench/results/<cpu_id>/, and the GEMM plan the figures were taken with
        "cpu_id": cpu_id(),
        "gemm": fastmlp.gemm_config(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastmlp_build": dict(getattr(fastmlp._core, "build_info", {}) or {}),
        "env": {k: os.environ.get(k) for k in OPENBLAS_SLOW_VARS + ("OMP_NUM_THREADS",
                                                                     "FASTMLP_CPU_CAPABILITY")},
    }
    try:
        import threadpoolctl
        libs = threadpoolctl.threadpool_info()
        info["threadpools"] = [{k: v for k, v in d.items()
                                if k in ("user_api", "internal_api", "version", "architecture",
                                         "threading_layer", "num_threads", "prefix", "filepath")}
                               for d in libs]
        numpy_blas = [d for d in libs if d.get("user_api") == "blas"
                      and "numpy" in (d.get("filepath") or "")]
        nb = (numpy_blas or [d for d in libs if d.get("user_api") == "blas"] or [None])[0]
        info["numpy_blas"] = (None if nb is None else
                              f"{nb.get('internal_api')} {nb.get('version')} "
                              f"({nb.get('architecture')}, {nb.get('threading_layer')})")
    except ImportError:
        info["numpy_blas"] = "unknown (threadpoolctl not installed)"
    return info


def _git_commit():
    """``<sha>[+dirty]`` of the source tree fastmlp is imported from, else None."""
    import subprocess

    import fastmlp

    here = os.path.dirname(os.path.abspath(fastmlp.__file__))  # the package, not this folder
    try:
        sha = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions(peers) -> dict:
    import fastmlp

    v = {"fastmlp": fastmlp.__version__, "numpy": np.__version__,
         "python": platform.python_version()}
    for p in ("torch", "sklearn"):
        v[p] = peers[p].get("version") if peers[p]["available"] else None
    v["git_commit"] = _git_commit()
    for mod in ("threadpoolctl", "matplotlib"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:
            v[mod] = None
    return v

def _loadavg():
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None
