"""``fastmlp bench``: fastmlp beside NumPy, PyTorch and scikit-learn, on this machine.

Suites (``fastmlp bench [gemm|layers|train|all]``):

``gemm``
    ``fastmlp.kernels.sgemm`` against ``numpy.matmul`` and ``torch.mm`` on
    the shapes of ``bench/bench_gemm.py`` plus the forward and backward GEMMs
    of a 784-1024-1024-10 MLP at batch 256. GFLOP/s and % of the measured peak.
``layers``
    The kernels a seed network (784-128-10) runs per step at batch 64 (and
    256 unless ``--quick``): Linear forward (GEMM + bias), Linear backward
    (dX, dW and db), ReLU forward/backward, softmax cross-entropy loss and
    gradient. PyTorch runs the same ATen kernels its autograd would call,
    without the autograd bookkeeping; NumPy the textbook expressions.
``train``
    One epoch of the seed network (SGD lr 0.01, cross-entropy) at batch 64
    and 256: ``fastmlp.train_epoch`` (the fused C++ epoch) on the normalized
    float32 images and on the uint8 images with ``normalize=True``
    (``fastmlp-u8``: the rows converted as they are gathered, bitwise the same
    training), the seed script through fastmlp's PyTorch-style Python API
    (``fastmlp-loop``), a NumPy
    float32 loop, the PyTorch seed script with batches cut from in-memory
    tensors (``torch``) and as written, fed by ``torch.utils.data.DataLoader``
    (``torch-loader``), and scikit-learn's
    ``MLPClassifier(solver="sgd", max_iter=1)``. Data: Fashion-MNIST's 60,000
    training images when ``fastmlp.data.load_mnist(kind="fashion-mnist",
    download=False)`` finds them, else random MNIST-shaped data (reported).

Method: every side is warmed up, then timed ``reps`` times, interleaved: each
repetition runs every side once, in an order rotated per repetition, so drift
on a shared machine hits all sides alike. Before each timing the run waits
until the previous side's worker threads stop spinning (``settle``: at least
50 ms, until the process's other threads are idle, at most 1 s; OpenBLAS's
spin for 100-200 ms after a call and would take the next side's cores) and,
for short calls, makes one untimed call; a timing is a loop
of calls lasting about ``target`` seconds, divided by the call count
(``time.perf_counter``). A figure is the median of the repetitions; the spread
is the interquartile range (the JSON also has min and max). Every side runs
at the same thread count: ``fastmlp.set_num_threads``, OpenBLAS through
``threadpoolctl.threadpool_limits(n, user_api="blas")``, ``torch.set_num_threads``.

From Python::

    from fastmlp.tools import bench
    report = bench.run_benchmarks(["gemm"], threads=2, quick=True)
    print(bench.format_report(report))

The JSON written by ``--json`` is ``report`` itself (see :func:`run_benchmarks`).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import json
import os
import platform
import shlex
import sys
import time
import warnings

try:
    import resource
except ImportError:  # not on Windows: settle() then only sleeps
    resource = None

import numpy as np

__all__ = [
    "SUITES",
    "GEMM_SHAPES",
    "add_arguments",
    "run",
    "main",
    "run_benchmarks",
    "suite_gemm",
    "suite_layers",
    "layer_cases",
    "suite_train",
    "measure",
    "machine_info",
    "detect_peers",
    "format_report",
    "compare",
    "plot",
]

SCHEMA = "fastmlp-bench/1"
SUITES = ("gemm", "layers", "train")
PEERS = ("numpy", "torch", "sklearn")
OURS = ("fastmlp", "fastmlp-u8", "fastmlp-loop")
SIDE_ORDER = ("fastmlp", "fastmlp-u8", "fastmlp-loop", "numpy", "torch", "torch-loader", "sklearn")
# Sides a ratio column is shown for: every peer, and in the train suite the
# PyTorch seed script fed by torch.utils.data.DataLoader as written
# ("torch-loader"; "torch" cuts its batches from in-memory tensors).
RATIO_SIDES = ("numpy", "torch", "torch-loader", "sklearn")
SLEEP_BETWEEN_SIDES = 0.05  # at least this long before each timing; see settle()
SETTLE_MAX_S = 1.0
OPENBLAS_SLOW_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# (M, K, N, trans_a, trans_b, what): op(A) is (M, K), op(B) is (K, N);
# "NT" is x @ W.T (a Linear forward), "TN" a weight gradient dY.T @ X.
GEMM_SHAPES = [
    (64, 784, 128, False, True, "seed fc1 fwd, b64"),
    (64, 128, 10, False, True, "seed fc2 fwd, b64"),
    (256, 784, 128, False, True, "seed fc1 fwd, b256"),
    (784, 64, 128, True, False, "X.T @ dY, b64"),
    (128, 64, 784, True, False, "seed fc1 dW, b64"),
    (512, 512, 512, False, False, "square"),
    (1024, 1024, 1024, False, False, "square"),
    (2048, 2048, 2048, False, False, "square"),
    # a 784-1024-1024-10 MLP at batch 256: forward, then backward (dW and dX)
    (256, 784, 1024, False, True, "mlp fc1 fwd"),
    (256, 1024, 1024, False, True, "mlp fc2 fwd"),
    (256, 1024, 10, False, True, "mlp fc3 fwd"),
    (10, 256, 1024, True, False, "mlp fc3 dW"),
    (256, 10, 1024, False, False, "mlp fc3 dX"),
    (1024, 256, 1024, True, False, "mlp fc2 dW"),
    (256, 1024, 1024, False, False, "mlp fc2 dX"),
    (1024, 256, 784, True, False, "mlp fc1 dW"),
]
GEMM_QUICK = ("seed fc1 fwd, b64", "seed fc1 dW, b64", "square", "mlp fc2 fwd")

# repetitions, seconds per timing, warm-up calls
_DEFAULTS = {
    False: {"gemm": (11, 0.05, 2), "layers": (11, 0.05, 2), "train": (5, 0.0, 1)},
    True: {"gemm": (5, 0.015, 1), "layers": (5, 0.01, 1), "train": (3, 0.0, 1)},
}
_QUICK_TRAIN_SAMPLES = 2048


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


def settle(min_s: float = SLEEP_BETWEEN_SIDES, max_s: float = SETTLE_MAX_S,
           poll_s: float = 0.02) -> float:
    """Sleep until this process's worker threads stop using the CPU; returns the wait.

    After a call, thread pools keep spinning: libgomp's (ours) for a few ms,
    OpenBLAS's for 100-200 ms here. A side timed while the previous side's
    threads still spin shares the cores with them: measured on the 2-core dev
    machine, a 256x1024x1024 fastmlp (or torch) GEMM right after NumPy ran at
    half speed with a fixed 50 ms pause, and at full speed after 300 ms. So
    this waits at least ``min_s``, then until the other threads used under 10%
    of one core over a ``poll_s`` window, at most ``max_s`` in all.
    """
    t0 = time.perf_counter()
    time.sleep(min_s)
    if resource is None:
        return time.perf_counter() - t0
    prev = _other_threads_cpu_s()
    while time.perf_counter() - t0 < max_s:
        time.sleep(poll_s)
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
                if per_call[name] < 0.01:
                    fn()  # wake this side's worker threads, untimed
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


def _run_case(results, *, suite, case, shape, unit, scale, work, fns, reps, target, warmup,
              gemm=False, peak=None, skipped=None, extra=None):
    """Measure one case's sides and append its result record to ``results``.

    ``gemm``: a GEMM-bound case (GFLOP/s); with ``peak`` it gets ``pct_peak``.
    """
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
    return (reps or r), (t if target is None else target), w


# ------------------------------------------------------------------ gemm --


def suite_gemm(*, threads=None, quick=False, reps=None, target=None, peers=None, peak=None,
               shapes=None) -> list:
    """GEMM throughput of fastmlp, NumPy and torch; a list of result records.

    ``peak`` (GFLOP/s) adds ``pct_peak`` to every figure; ``shapes`` (a list
    of GEMM_SHAPES-like tuples) overrides the default set.
    """
    from fastmlp import kernels

    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("gemm", quick, reps, target)
    if shapes is None:
        shapes = [s for s in GEMM_SHAPES
                  if not quick or (s[5] in GEMM_QUICK and s[0] <= 512)]
    torch = _torch(peers)
    results = []
    rng = np.random.default_rng(0)
    with thread_settings(threads, peers):
        for M, K, N, ta, tb, what in shapes:
            a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
            b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
            c = np.empty((M, N), np.float32)
            ao, bo = (a.T if ta else a), (b.T if tb else b)
            fns = {
                "fastmlp": lambda a=a, b=b, c=c, ta=ta, tb=tb: kernels.sgemm(
                    a, b, c, trans_a=ta, trans_b=tb),
                "numpy": lambda ao=ao, bo=bo, c=c: np.matmul(ao, bo, out=c),
            }
            if torch:
                at, bt, ct = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
                at, bt = (at.t() if ta else at), (bt.t() if tb else bt)
                fns["torch"] = lambda at=at, bt=bt, ct=ct: torch.mm(at, bt, out=ct)
            shape = f"{M}x{K}x{N} {'T' if ta else 'N'}{'T' if tb else 'N'}"
            _run_case(results, suite="gemm", case=what, shape=shape, unit="GFLOP/s", scale=1e9,
                      work=2.0 * M * N * K, fns=fns, reps=reps, target=target, warmup=warmup,
                      gemm=True, peak=peak, skipped=_skipped(peers, ("torch",)),
                      extra={"m": M, "k": K, "n": N, "trans_a": ta, "trans_b": tb})
    return results


# ---------------------------------------------------------------- layers --


def layer_cases(batch: int, torch=None, seed: int = 0) -> list:
    """The layers suite's cases at one batch size, for this module and bench/bench_layers.py.

    A list of ``{"name", "shape", "unit", "scale", "work", "gemm", "fns"}``:
    ``fns`` maps a side ("fastmlp", "numpy", and "torch" when the ``torch``
    module is given) to a zero-argument callable on preallocated float32
    arrays; throughput is ``work / seconds / scale`` in ``unit``. Linear
    backward computes dX, dW and db; ``gemm`` marks GEMM-bound cases.
    """
    from fastmlp import kernels

    B = int(batch)
    rng = np.random.default_rng(seed)
    cases = []

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def add(name, shape, unit, scale, work, fns, gemm=False):
        cases.append({"name": name, "shape": shape, "unit": unit, "scale": scale,
                      "work": float(work), "gemm": gemm, "fns": fns})

    for layer, (IN, OUT) in (("fc1", (784, 128)), ("fc2", (128, 10))):
        x, W, bias, dy = f32(B, IN), f32(OUT, IN), f32(OUT), f32(B, OUT)
        y, dx, dW, db = (np.empty((B, OUT), np.float32), np.empty((B, IN), np.float32),
                         np.empty((OUT, IN), np.float32), np.empty(OUT, np.float32))
        fwd = {
            "fastmlp": lambda x=x, W=W, bias=bias, y=y: kernels.sgemm(
                x, W, y, trans_b=True, bias=bias),
            "numpy": lambda x=x, W=W, bias=bias, y=y: np.add(
                np.matmul(x, W.T, out=y), bias, out=y),
        }

        def _ours_bwd(x=x, W=W, dy=dy, dx=dx, dW=dW, db=db):
            kernels.sgemm(dy, W, dx)
            kernels.sgemm(dy, x, dW, trans_a=True)
            kernels.bias_grad(dy, db)

        def _np_bwd(x=x, W=W, dy=dy, dx=dx, dW=dW, db=db):
            np.matmul(dy, W, out=dx)
            np.matmul(dy.T, x, out=dW)
            np.sum(dy, axis=0, out=db)

        bwd = {"fastmlp": _ours_bwd, "numpy": _np_bwd}
        if torch is not None:
            xt, Wt, bt, dyt = (torch.from_numpy(v) for v in (x, W, bias, dy))
            yt, dxt, dWt, dbt = (torch.from_numpy(v) for v in (y, dx, dW, db))
            fwd["torch"] = lambda xt=xt, Wt=Wt, bt=bt, yt=yt: torch.addmm(bt, xt, Wt.t(), out=yt)

            def _torch_bwd(xt=xt, Wt=Wt, dyt=dyt, dxt=dxt, dWt=dWt, dbt=dbt):
                torch.mm(dyt, Wt, out=dxt)
                torch.mm(dyt.t(), xt, out=dWt)
                torch.sum(dyt, 0, out=dbt)

            bwd["torch"] = _torch_bwd
        flops = 2.0 * B * IN * OUT
        add(f"Linear fwd {layer}", f"{B}x{IN}->{OUT}", "GFLOP/s", 1e9, flops, fwd, True)
        add(f"Linear bwd {layer}", f"{B}x{IN}->{OUT}", "GFLOP/s", 1e9, 2 * flops, bwd, True)

    H = 128
    h, dout = f32(B, H), f32(B, H)
    out, dh = np.empty((B, H), np.float32), np.empty((B, H), np.float32)
    np.maximum(h, 0, out=out)
    rf = {"fastmlp": lambda: kernels.relu_forward(h, out),
          "numpy": lambda: np.maximum(h, 0, out=out)}
    rb = {"fastmlp": lambda: kernels.relu_backward(dout, out, dh),
          "numpy": lambda: np.multiply(dout, out > 0, out=dh)}
    if torch is not None:
        ht, ot, dot = torch.from_numpy(h), torch.from_numpy(out), torch.from_numpy(dout)
        rf["torch"] = lambda: torch.clamp_min(ht, 0, out=ot)
        rb["torch"] = lambda: torch.ops.aten.threshold_backward(dot, ot, 0)
    add("ReLU fwd", f"{B}x{H}", "Melem/s", 1e6, B * H, rf)
    add("ReLU bwd", f"{B}x{H}", "Melem/s", 1e6, B * H, rb)

    C = 10
    z, t = f32(B, C), rng.integers(0, C, B).astype(np.int64)
    dz = np.empty((B, C), np.float32)
    rows = np.arange(B)

    def _np_ce():
        m = z.max(axis=1, keepdims=True)
        np.subtract(z, m, out=dz)
        np.exp(dz, out=dz)
        s = dz.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, t]))
        np.divide(dz, s, out=dz)
        dz[rows, t] -= 1
        np.multiply(dz, np.float32(1.0 / B), out=dz)
        return loss

    ce = {"fastmlp": lambda: kernels.cross_entropy(z, t, dlogits=dz)[0], "numpy": _np_ce}
    if torch is not None:
        zt, tt, one = torch.from_numpy(z), torch.from_numpy(t), torch.ones(())
        aten = torch.ops.aten

        def _torch_ce():  # the ATen calls F.cross_entropy and its backward make
            logp = aten._log_softmax(zt, 1, False)
            loss, tw = aten.nll_loss_forward(logp, tt, None, 1, -100)
            g = aten.nll_loss_backward(one, logp, tt, None, 1, -100, tw)
            aten._log_softmax_backward_data(g, logp, 1, torch.float32)
            return loss.item()

        ce["torch"] = _torch_ce
    add("cross-entropy fwd+bwd", f"{B}x{C}", "Msample/s", 1e6, B, ce)
    return cases


def suite_layers(*, threads=None, quick=False, reps=None, target=None, peers=None, peak=None,
                 batches=None) -> list:
    """The seed network's per-step kernels (784-128-10) at batch 64 (and 256)."""
    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("layers", quick, reps, target)
    batches = batches or ((64,) if quick else (64, 256))
    torch = _torch(peers)
    skipped = _skipped(peers, ("torch",))
    results = []
    with thread_settings(threads, peers):
        for B in batches:
            for c in layer_cases(B, torch):
                _run_case(results, suite="layers", case=c["name"], shape=c["shape"],
                          unit=c["unit"], scale=c["scale"], work=c["work"], fns=c["fns"],
                          reps=reps, target=target, warmup=warmup,
                          gemm=c["gemm"], peak=peak, skipped=skipped,
                          extra={"batch_size": B})
    return results


# ----------------------------------------------------------------- train --


def load_train_data(root=None, n=None, *, raw=False):
    """(X float32 (N, 784), y int64 (N,), description): Fashion-MNIST or random.
    With ``raw``, a 4th item: the uint8 images (N, 784) that X normalizes."""
    from fastmlp import data as fdata

    try:
        images, labels = fdata.load_mnist(root, kind="fashion-mnist", download=False)
        source = "fashion-mnist"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 60000)
        source = "random MNIST-shaped data (Fashion-MNIST not found)"
    if n is not None:
        images, labels = images[:n], labels[:n]
    out = (fdata.normalize(images), np.ascontiguousarray(labels, dtype=np.int64), source)
    return out + (np.ascontiguousarray(images.reshape(len(images), -1)),) if raw else out


def _init_numpy(rng):
    k1, k2 = 1 / np.sqrt(784), 1 / np.sqrt(128)
    return dict(W1=rng.uniform(-k1, k1, (128, 784)).astype(np.float32),
                b1=rng.uniform(-k1, k1, 128).astype(np.float32),
                W2=rng.uniform(-k2, k2, (10, 128)).astype(np.float32),
                b2=rng.uniform(-k2, k2, 10).astype(np.float32))


def _numpy_epoch(st, X, y, b, rng):
    W1, b1, W2, b2 = st["W1"], st["b1"], st["W2"], st["b2"]
    lr = np.float32(0.01)
    perm = rng.permutation(len(X))
    running, steps = 0.0, 0
    for s in range(0, len(X), b):
        idx = perm[s:s + b]
        x, t = X[idx], y[idx]
        n = len(idx)
        rows = np.arange(n)
        h = x @ W1.T
        h += b1
        np.maximum(h, 0, out=h)
        z = h @ W2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        s_ = p.sum(axis=1, keepdims=True)
        running += float(np.mean(np.log(s_[:, 0]) - z[rows, t]))
        p /= s_
        p[rows, t] -= 1
        p /= n
        dW2, db2 = p.T @ h, p.sum(axis=0)
        dh = p @ W2
        dh *= h > 0
        dW1, db1 = dh.T @ x, dh.sum(axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        steps += 1
    return running / steps


def _train_sides(X, y, b, peers, images=None):
    """{side: one-epoch callable} for batch size ``b`` (state persists across epochs).
    ``images``: the uint8 pixels X was normalized from, for the ``fastmlp-u8`` side."""
    from fastmlp import data as fdata

    fns = {}
    try:  # our nn/optim/train API
        from fastmlp import functional as F
        from fastmlp import nn, optim
        from fastmlp import train_epoch

        torch_like_seed = getattr(nn, "manual_seed", None)
        if torch_like_seed:
            torch_like_seed(0)
        seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        crit, opt = nn.CrossEntropyLoss(), optim.SGD(seq.parameters(), lr=0.01)
        seeds = iter(range(1, 1 << 30))
        fns["fastmlp"] = lambda: train_epoch(seq, X, y, crit, opt, batch_size=b, shuffle=True,
                                             seed=next(seeds))
        if images is not None:  # the same, converting the uint8 rows as it gathers them
            seq8 = copy.deepcopy(seq)
            opt8 = optim.SGD(seq8.parameters(), lr=0.01)
            seeds8 = iter(range(1, 1 << 30))
            fns["fastmlp-u8"] = lambda: train_epoch(seq8, images, y, crit, opt8, batch_size=b,
                                                    shuffle=True, seed=next(seeds8),
                                                    normalize=True)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 128)
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):
                x = F.flatten(x, 1)
                x = F.relu(self.fc1(x))
                return self.fc2(x)

        net = Net()
        lcrit, lopt = nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01)
        lseeds = iter(range(1, 1 << 30))

        def _loop():
            loader = fdata.DataLoader(X, y, batch_size=b, shuffle=True, seed=next(lseeds))
            running = 0.0
            for inputs, labels in loader:
                lopt.zero_grad()
                loss = lcrit(net(inputs), labels)
                loss.backward()
                lopt.step()
                running += loss.item()
            return running / len(loader)

        fns["fastmlp-loop"] = _loop
    except Exception as e:  # a peer's module still landing
        _log(f"  train: fastmlp nn/optim/train_epoch unavailable ({type(e).__name__}: {e})")

        def _fail(e=e):
            raise e

        fns.setdefault("fastmlp", _fail)

    nst, nrng = _init_numpy(np.random.default_rng(0)), np.random.default_rng(1)
    fns["numpy"] = lambda: _numpy_epoch(nst, X, y, b, nrng)

    torch = _torch(peers)
    if torch:
        torch.manual_seed(0)
        tnn = torch.nn

        class TNet(tnn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = tnn.Linear(784, 128)
                self.fc2 = tnn.Linear(128, 10)

            def forward(self, x):
                x = torch.flatten(x, 1)
                x = torch.relu(self.fc1(x))
                return self.fc2(x)

        def _seed_loop(batches, model, crit, opt):  # the seed script's inner loop
            running, steps = 0.0, 0
            for inputs, labels in batches:
                opt.zero_grad()
                loss = crit(model(inputs), labels)
                loss.backward()
                opt.step()
                running += loss.item()
                steps += 1
            return running / steps

        def _seed_state():  # a fresh model, criterion and optimizer
            model = TNet()
            return model, tnn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01)

        Xt, yt, gen = torch.from_numpy(X), torch.from_numpy(y), torch.Generator().manual_seed(0)
        t_state = _seed_state()

        def _torch_epoch():  # batches cut from in-memory tensors by a shuffled index
            perm = torch.randperm(len(Xt), generator=gen)
            batches = ((Xt[perm[s:s + b]], yt[perm[s:s + b]]) for s in range(0, len(Xt), b))
            return _seed_loop(batches, *t_state)

        fns["torch"] = _torch_epoch

        # The seed script exactly as PyTorch users run it: its trainloader a
        # torch DataLoader (shuffle=True) over a TensorDataset, a model of its own.
        l_state = _seed_state()
        tloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt),
                                              batch_size=b, shuffle=True,
                                              generator=torch.Generator().manual_seed(0))
        fns["torch-loader"] = lambda: _seed_loop(tloader, *l_state)

    if peers.get("sklearn", {}).get("available"):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        sk_seeds = iter(range(1, 1 << 30))

        def _sklearn_epoch():
            clf = MLPClassifier(solver="sgd", hidden_layer_sizes=(128,), batch_size=b,
                                learning_rate_init=0.01, momentum=0, max_iter=1,
                                random_state=next(sk_seeds))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            return clf.loss_

        fns["sklearn"] = _sklearn_epoch
    return fns


def suite_train(*, threads=None, quick=False, reps=None, peers=None, batches=None,
                data_root=None, n_samples=None, data=None) -> list:
    """One epoch of the seed network per side; samples/s. ``data``: (X, y, source)."""
    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("train", quick, reps, None)
    batches = batches or (64, 256)
    if n_samples is None and quick:
        n_samples = _QUICK_TRAIN_SAMPLES
    X, y, source, *rest = data if data is not None else load_train_data(data_root, n_samples,
                                                                         raw=True)
    images = rest[0] if rest else None
    if data is not None and n_samples:
        X, y = X[:n_samples], y[:n_samples]
        images = None if images is None else images[:n_samples]
    _log(f"  train data: {source}, {len(X)} samples")
    results = []
    with thread_settings(threads, peers):
        for b in batches:
            _run_case(results, suite="train", case=f"epoch, batch {b}", shape=f"{len(X)}x784",
                      unit="ksample/s", scale=1e3, work=float(len(X)),
                      fns=_train_sides(X, y, b, peers, images), reps=reps, target=target,
                      warmup=warmup, skipped=_skipped(peers, ("torch", "sklearn")),
                      extra={"batch_size": b, "data": source, "samples": len(X)})
    return results


# ------------------------------------------------------------ machine info --


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


# ------------------------------------------------------------------ driver --


def run_benchmarks(suites=("all",), *, threads=None, quick=False, reps=None, peers=PEERS,
                   isa=None, data_root=None, peak_seconds=None, command=None) -> dict:
    """Run the suites and return the report (what ``--json`` writes).

    Top-level keys: ``schema``, ``created`` (UTC ISO time), ``command``,
    ``machine`` (cpu_model, isa, threads, numpy_blas, threadpools, env,
    loadavg_start/end, ...), ``versions``, ``settings``, ``peak_gflops``,
    ``peers`` ({name: available, version | reason}), ``data``, ``warnings``,
    ``results`` (one record per case: suite, case, shape, unit, work, gemm,
    sides {side: median_s, q1_s, q3_s, min_s, max_s, runs, value, value_q1,
    value_q3, value_min, value_max[, pct_peak] | skipped}, ratios {peer:
    ours/peer throughput}).
    """
    import fastmlp
    from fastmlp import kernels

    if isinstance(suites, str):
        suites = [suites]
    suites = list(SUITES) if "all" in suites else [s for s in SUITES if s in suites]
    threads = int(threads or _all_cores())
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    prev_isa = fastmlp.cpu_capability()
    if isa:
        fastmlp._set_cpu_capability(isa)
    try:
        peer_info = detect_peers(peers)
        notes = []
        for k in OPENBLAS_SLOW_VARS:
            if os.environ.get(k):
                notes.append(f"{k}={os.environ[k]} is set: it slows NumPy's OpenBLAS here; "
                             f"run with `env -u {k} ...` for fair NumPy figures")
        load0 = _loadavg()
        if load0 is not None and load0[0] > 0.5 * _all_cores():
            notes.append(f"machine busy at start: load average {load0[0]:.2f} on "
                         f"{_all_cores()} cores; figures may be noisy")
        for n in notes:
            _log(f"WARNING: {n}")
        with thread_settings(threads, peer_info):
            info = machine_info(threads)
            # a ceiling: the best of 3 short runs is the least disturbed by other load
            secs = (peak_seconds or (0.3 if quick else 0.9)) / 3
            peak = max(kernels.peak_gflops(threads, secs) for _ in range(3))
        _log(f"fastmlp bench: {info['cpu_model']}, {info['isa']}, {_n_threads(threads)}, "
             f"peak {peak:.1f} GFLOP/s (FMA loop)")
        for p, d in peer_info.items():
            if not d["available"]:
                _log(f"  {p}: skipped ({d['reason']})")
        results, data = [], {}
        kw = dict(threads=threads, quick=quick, reps=reps, peers=peer_info)
        for s in suites:
            t0 = time.perf_counter()
            _log(f"[{s}]")
            if s == "gemm":
                results += suite_gemm(peak=peak, **kw)
            elif s == "layers":
                results += suite_layers(peak=peak, **kw)
            elif s == "train":
                tr = suite_train(data_root=data_root, **kw)
                if tr:
                    data["train"] = {"source": tr[0]["data"], "samples": tr[0]["samples"]}
                results += tr
            _log(f"[{s}] {time.perf_counter() - t0:.1f} s")
        info["loadavg_start"], info["loadavg_end"] = load0, _loadavg()
        return {
            "schema": SCHEMA,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "machine": info,
            "versions": _versions(peer_info),
            "settings": {"suites": suites, "quick": bool(quick), "threads": threads,
                         "isa": fastmlp.cpu_capability(),
                         "reps": {s: _defaults(s, quick, reps, None)[0] for s in suites},
                         "sleep_between_sides_s": SLEEP_BETWEEN_SIDES,
                         "settle": f"before each timing: >= {SLEEP_BETWEEN_SIDES} s, then until "
                                   f"the other threads are idle, <= {SETTLE_MAX_S} s",
                         "figure": "median over reps; spread: q1..q3 (IQR) and min..max",
                         "ratio": "ours/peer throughput = peer median time / our median time"},
            "peak_gflops": peak,
            "peers": peer_info,
            "data": data,
            "warnings": notes,
            "results": results,
        }
    finally:
        if isa:
            fastmlp._set_cpu_capability(prev_isa)


def _loadavg():
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


# ------------------------------------------------------------------ output --


def _n_threads(n) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def _num(v: float) -> str:
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(s: dict) -> str:
    if not s:
        return ""
    if "skipped" in s:
        return "skipped"
    half_iqr = 50.0 * (s["value_q3"] - s["value_q1"]) / s["value"]
    return f"{_num(s['value'])} ±{half_iqr:.0f}%"


def _table(header, rows) -> str:
    w = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w[i]) if i < 3 else str(c).rjust(w[i]) for i, c in enumerate(r)).rstrip()
    return "\n".join([line(header), line(["-" * x for x in w])] + [line(r) for r in rows])


def format_report(report: dict) -> str:
    """The terminal table: per suite, each side's median (± half the IQR), ratios, % peak."""
    m = report["machine"]
    out = [f"fastmlp {report['versions']['fastmlp']} bench: {m['cpu_model']}, ISA {m['isa']}, "
           f"{_n_threads(m['threads'])}, peak {report['peak_gflops']:.1f} GFLOP/s (FMA loop); "
           f"NumPy BLAS {m.get('numpy_blas')}"]
    if m.get("loadavg_start"):
        out.append(f"load average at start {m['loadavg_start'][0]:.2f}, at end "
                   f"{m['loadavg_end'][0]:.2f}")
    for p, d in report["peers"].items():
        out.append(f"{p}: {d['version']}" if d["available"] else f"{p}: skipped ({d['reason']})")
    for w in report.get("warnings", []):
        out.append(f"WARNING: {w}")
    for suite in SUITES:
        recs = [r for r in report["results"] if r["suite"] == suite]
        if not recs:
            continue
        sides = [s for s in SIDE_ORDER if any(s in r["sides"] for r in recs)]
        peers = [p for p in RATIO_SIDES if any(p in r["ratios"] for r in recs)]
        has_peak = any(r["gemm"] for r in recs)
        header = ["case", "shape", "unit"] + sides + [f"x{p}" for p in peers]
        if has_peak:
            header.append("% peak (" + "/".join(s for s in sides) + ")")
        rows = []
        for r in recs:
            row = [r["case"], r["shape"], r["unit"]] + [_cell(r["sides"].get(s, {})) for s in sides]
            row += [f"{r['ratios'][p]:.2f}" if p in r["ratios"] else "-" for p in peers]
            if has_peak:
                row.append("/".join(f"{r['sides'][s]['pct_peak']:.0f}"
                                    if "pct_peak" in r["sides"].get(s, {}) else "-"
                                    for s in sides) if r["gemm"] else "")
            rows.append(row)
        reps = report["settings"]["reps"].get(suite)
        title = f"\n== {suite}: median of {reps} interleaved runs ± half the IQR; " \
                f"xPEER = ours/peer throughput (>1: fastmlp faster)"
        if suite == "train":
            d = report.get("data", {}).get("train", {})
            title += f"\n   data: {d.get('source')}, {d.get('samples')} samples; " \
                     f"fastmlp = train_epoch (fused C++), fastmlp-u8 = the same on the uint8 " \
                     f"images (normalize=True)," \
                     f"\n   fastmlp-loop = the seed script via fastmlp's nn/optim" \
                     f"\n   torch = the seed script on in-memory tensor batches, torch-loader = " \
                     f"the seed script as written (torch DataLoader)"
        out += [title, _table(header, rows)]
    return "\n".join(out)


def compare(old: dict, new: dict, threshold: float = 10.0):
    """Change of every figure vs an earlier report; ``(text, regressions)``.

    A regression is one of our figures (``fastmlp``, ``fastmlp-loop``) whose
    median throughput fell by more than ``threshold`` percent. Peers' change
    is shown beside it: when they moved alike, the machine did.
    """
    index = {(r["suite"], r["case"], r["shape"]): r for r in old.get("results", [])}
    rows, regressions = [], []
    for r in new["results"]:
        o = index.get((r["suite"], r["case"], r["shape"]))
        if o is None:
            continue
        chg = {}
        for side, s in r["sides"].items():
            os_ = o["sides"].get(side, {})
            if "value" in s and "value" in os_ and os_["value"] > 0:
                chg[side] = (s["value"], os_["value"], 100.0 * (s["value"] / os_["value"] - 1))
        for side in OURS:
            if side not in chg:
                continue
            newv, oldv, pct = chg[side]
            bad = pct < -threshold
            peer_chg = ", ".join(f"{p} {chg[p][2]:+.0f}%" for p in PEERS if p in chg)
            rows.append([r["suite"], r["case"], r["shape"], side, _num(oldv), _num(newv),
                         f"{pct:+.1f}%", peer_chg, "REGRESSION" if bad else ""])
            if bad:
                regressions.append({"suite": r["suite"], "case": r["case"], "shape": r["shape"],
                                    "side": side, "old": oldv, "new": newv, "change_pct": pct})
    lines = [f"\n== compare with {old.get('created', '?')} (threshold -{threshold:g}%)"]
    om, nm = old.get("machine", {}), new.get("machine", {})
    for k in ("cpu_model", "isa", "threads"):
        if om.get(k) != nm.get(k):
            lines.append(f"NOTE: {k} differs: {om.get(k)} then, {nm.get(k)} now")
    if rows:
        lines.append(_table(["suite", "case", "shape", "side", "old", "new", "change",
                             "peers' change", ""], rows))
    else:
        lines.append("no case in common with the earlier run")
    lines.append(f"{len(regressions)} regression(s) beyond {threshold:g}%" if regressions
                 else "no regression beyond the threshold")
    return "\n".join(lines), regressions


def plot(report: dict, path: str) -> None:
    """GFLOP/s of every GEMM shape for each side, by size, the peak as a line (matplotlib).

    Shapes are spaced evenly along x in order of their FLOP count (several
    shapes share a size); markers are medians, bars the interquartile range.
    """
    from matplotlib.figure import Figure

    recs = sorted((r for r in report["results"] if r["suite"] == "gemm"),
                  key=lambda r: (r["work"], r["shape"]))
    if not recs:
        raise ValueError("no gemm results to plot (run the gemm suite)")
    m = report["machine"]
    fig = Figure(figsize=(12, 7), layout="constrained")
    ax = fig.subplots()
    styles = {"fastmlp": ("C3", "o", -0.22, "fastmlp sgemm"),
              "numpy": ("C0", "s", 0.0, f"NumPy matmul ({m.get('numpy_blas')})"),
              "torch": ("C2", "^", 0.22, f"torch.mm {report['versions'].get('torch')}")}
    top = report["peak_gflops"]
    for side, (color, marker, dx, label) in styles.items():
        pts = [(i, r["sides"][side]) for i, r in enumerate(recs)
               if "value" in r["sides"].get(side, {})]
        if not pts:
            continue
        x = np.array([i + dx for i, _ in pts])
        y = np.array([s["value"] for _, s in pts])
        err = np.array([[s["value"] - s["value_q1"] for _, s in pts],
                        [s["value_q3"] - s["value"] for _, s in pts]])
        ax.errorbar(x, y, yerr=err, color=color, marker=marker, ms=7, ls="none", elinewidth=1.2,
                    capsize=3, label=label)
        ax.plot(x, y, color=color, lw=0.8, alpha=0.35)
        top = max(top, float(np.max(y)))
    peak = report["peak_gflops"]
    ax.axhline(peak, color="k", ls="--", lw=1.2)
    ax.text(0.005, peak, f" peak {peak:.0f} GFLOP/s (FMA loop, {_n_threads(m['threads'])})",
            transform=ax.get_yaxis_transform(), va="bottom", fontsize=9)
    ax.set_xticks(range(len(recs)))
    ax.set_xticklabels([f"{r['shape']}\n{r['case']}, {r['work'] / 1e9:.3g} GFLOP" for r in recs],
                       rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.6, len(recs) - 0.4)
    ax.set_ylim(0, top * 1.12)
    ax.set_xlabel("GEMM shape M x K x N with op(A) op(B) (T = transposed), in order of size "
                  "(GFLOP per call = 2·M·N·K)")
    ax.set_ylabel("GFLOP/s (median; bars: interquartile range)")
    load = m.get("loadavg_start")
    ax.set_title(f"SGEMM throughput: {m['cpu_model']}, fastmlp {m['isa']} path, "
                 f"{_n_threads(m['threads'])}, {report['created'][:10]}"
                 + (f" (load average {load[0]:.1f} at start)" if load else ""), fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=9, frameon=False)
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------- CLI --


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``fastmlp bench``'s options to ``parser`` (a subparser)."""
    parser.description = (
        "Benchmark fastmlp against NumPy (always), PyTorch and scikit-learn (when installed)\n"
        "on this machine, interleaved, at the same thread count; every figure is the median\n"
        "of repeated timings, shown with its spread.")
    parser.epilog = (
        "examples:\n"
        "  fastmlp bench --quick\n"
        "  fastmlp bench all --json bench/results/all.json --plot bench/results/gemm.png\n"
        "  fastmlp bench gemm --compare bench/results/all.json --threshold 10   (exit 1 on a "
        "regression)\n"
        "NumPy's OpenBLAS is slower with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE set: unset them "
        "for the run (env -u ...).")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("suite", nargs="?", default="all", choices=SUITES + ("all",),
                        help="which suite to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced set (4 GEMM shapes, batch 64 layers, a 2048-sample epoch),"
                             " fewer runs: under a minute")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help=f"threads for every side (default: all cores, {_all_cores()} here)")
    parser.add_argument("--reps", type=int, default=None, metavar="N",
                        help="timed runs per figure (default: 11, train 5; --quick 5, train 3)")
    parser.add_argument("--peers", default=",".join(PEERS), metavar="LIST",
                        help="comma-separated peers among numpy,torch,sklearn (numpy always runs)")
    parser.add_argument("--isa", choices=("avx512", "avx2", "generic"), default=None,
                        help="force fastmlp's kernel path (default: the best this CPU runs)")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="where to look first for Fashion-MNIST (train suite; never downloads)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="write every figure and the machine info as JSON")
    parser.add_argument("--plot", default=None, metavar="PATH.png",
                        help="plot GFLOP/s vs GEMM size with the peak (needs matplotlib)")
    parser.add_argument("--compare", default=None, metavar="OLD.json",
                        help="print the change vs an earlier --json run; exit 1 on a regression")
    parser.add_argument("--threshold", type=float, default=10.0, metavar="PCT",
                        help="--compare: regression threshold in percent (default: 10)")
    return parser


def run(args) -> int:
    """Run ``fastmlp bench`` with parsed ``args``; returns the exit status."""
    old = None
    if args.compare:
        try:
            with open(args.compare) as f:
                old = json.load(f)
            if not isinstance(old, dict) or "results" not in old:
                raise ValueError("no 'results' key: not a fastmlp bench JSON file")
        except (OSError, ValueError) as e:
            print(f"fastmlp bench: error: --compare {args.compare}: {e}", file=sys.stderr)
            return 2
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("fastmlp bench: error: --plot needs matplotlib: pip install matplotlib "
                  "(or pip install 'fastmlp[bench]')", file=sys.stderr)
            return 2
    if args.threads is not None and args.threads < 1:
        print(f"fastmlp bench: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    peers = [p.strip() for p in (args.peers or "").split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        print(f"fastmlp bench: error: unknown peer(s) {unknown}; choose from {list(PEERS)}",
              file=sys.stderr)
        return 2
    report = run_benchmarks([args.suite], threads=args.threads, quick=args.quick, reps=args.reps,
                            peers=peers, isa=args.isa, data_root=args.data_root,
                            command=_command_line())
    print(format_report(report), flush=True)
    if args.json:
        d = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(d, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
        print(f"\nwrote {args.json}")
    if args.plot:
        if any(r["suite"] == "gemm" for r in report["results"]):
            plot(report, args.plot)
            print(f"wrote {args.plot}")
        else:
            print("--plot: no gemm results in this run (plot needs the gemm suite)",
                  file=sys.stderr)
    if old is not None:
        text, regressions = compare(old, report, args.threshold)
        print(text)
        if regressions:
            return 1
    return 0


def _command_line() -> str:
    argv0 = os.path.basename(sys.argv[0])
    in_bench = os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0]))) == "bench"
    if argv0 == "__main__.py" and in_bench:  # python -m fastmlp.tools.bench
        words = ["fastmlp", "bench"] + sys.argv[1:]
    elif argv0 in ("fastmlp", "__main__.py", "cli.py"):
        words = ["fastmlp"] + sys.argv[1:]
    elif argv0 == "bench.py":
        words = ["fastmlp", "bench"] + sys.argv[1:]
    else:
        words = sys.argv
    return " ".join(shlex.quote(w) for w in words)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastmlp bench",
                                     description="Benchmark fastmlp against NumPy, PyTorch and "
                                                 "scikit-learn on this machine.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
