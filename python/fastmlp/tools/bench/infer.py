"""The ``infer`` suite's cases (issue 12): forward only, inference, beside PyTorch and NumPy.

Models ``INFER_ARCHS`` (784-128-10 and 784-1024-1024-10, ReLU between layers, PyTorch's
default init from one seed) at batches ``INFER_BATCHES`` (1, 64, 4096), on random
float32 inputs:

- ``fastmlp``: ``model(x)`` on a ``fastmlp.Tensor`` under ``fastmlp.no_grad()``, the
  model in eval mode: what a user writes, which runs the one-call forward
  (:mod:`fastmlp.infer`); the result is a Tensor.
- ``torch``: the same ``torch.nn.Sequential`` (the same weights) in eval mode, called
  under ``torch.inference_mode()`` (PyTorch eager).
- ``numpy``: ``np.maximum(x @ W.T + b, 0)`` per layer (the last without the maximum).

Work is the batch (ksample/s). Each record also carries ``weight_bytes`` (the
parameters, float32) and ``floor_s``: the time to read them once at the read bandwidth
measured in the same run (:func:`read_bandwidth`: a max-reduction over float32 arrays
far larger than the L3, one NumPy thread per kernel thread on contiguous slices, best
of ``reps``), and ``x_floor`` = our time / floor_s. At batch 1 a forward must read
every weight once, so ``floor_s`` is the bound the matrix-vector path aims at; weights
that fit in the L3 (7.4 MB here) may be read faster than DRAM's rate, so x_floor < 1 is
possible when the same model runs call after call.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import time

import numpy as np

INFER_ARCHS = ((784, 128, 10), (784, 1024, 1024, 10))
INFER_BATCHES = (1, 64, 4096)
INFER_QUICK_BATCHES = (1, 64)
READ_MIB = 256  # per thread-slice total; --quick: 128
READ_QUICK_MIB = 128


def read_bandwidth(threads: int = 1, mib: int = READ_MIB, reps: int = 5) -> dict:
    """The rate at which ``threads`` threads read a float32 array of ``mib`` MiB (far
    beyond the L3): each reduces its contiguous slice with ``np.max`` (NumPy's vector
    loop, no writes, releases the GIL), best of ``reps``. Returns ``{"read_Bps",
    "read_GBps", "array_mib", "threads", "reps", "method"}``."""
    n = (int(mib) << 20) // 4
    a = np.full(n, 1.0, np.float32)  # touched: no page faults in the timing
    threads = max(1, int(threads))
    parts = [slice(i * n // threads, (i + 1) * n // threads) for i in range(threads)]
    best = float("inf")
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda s: a[s].max(), parts))  # warm-up
        for _ in range(max(1, reps)):
            t0 = time.perf_counter()
            list(ex.map(lambda s: a[s].max(), parts))
            best = min(best, time.perf_counter() - t0)
    bps = 4.0 * n / best
    return {"read_Bps": bps, "read_GBps": bps / 1e9, "array_mib": int(mib), "threads": threads,
            "reps": int(reps),
            "method": f"np.max over a float32 array of {int(mib)} MiB, {threads} NumPy "
                      f"thread(s) on contiguous slices, best of {int(reps)}"}


def _models(sizes, torch, seed):
    """(fastmlp model, torch model or None, [(W, b)] float32) with the same weights."""
    import fastmlp
    from fastmlp import nn

    fastmlp.manual_seed(seed)
    mods = []
    for i in range(len(sizes) - 1):
        mods.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            mods.append(nn.ReLU())
    ours = nn.Sequential(*mods).eval()
    params = [(m.weight.data, m.bias.data) for m in ours if isinstance(m, nn.Linear)]
    theirs = None
    if torch is not None:
        tm = []
        for i, (w, b) in enumerate(params):
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            tm.append(lin)
            if i + 1 < len(params):
                tm.append(torch.nn.ReLU())
        theirs = torch.nn.Sequential(*tm).eval()
    return ours, theirs, params


def infer_cases(torch=None, batches=INFER_BATCHES, archs=INFER_ARCHS, seed: int = 0) -> list:
    """The infer cases: ``[{"name", "shape", "unit", "scale", "work", "fns", "skipped",
    "batch_size", "weight_bytes"}]`` (``fns``: {side: zero-argument callable})."""
    import fastmlp

    rng = np.random.default_rng(seed)
    cases = []
    for sizes in archs:
        ours, theirs, params = _models(sizes, torch, seed)
        arch = "-".join(map(str, sizes))
        wbytes = 4 * sum(w.size + b.size for w, b in params)
        for B in batches:
            x = rng.standard_normal((B, sizes[0])).astype(np.float32)
            xt = fastmlp.Tensor(x)

            def fm(model=ours, xt=xt):
                with fastmlp.no_grad():
                    return model(xt)

            def np_side(x=x, params=params):
                h = x
                for i, (w, b) in enumerate(params):
                    h = h @ w.T + b
                    if i + 1 < len(params):
                        h = np.maximum(h, 0, out=h)
                return h

            fns = {"fastmlp": fm, "numpy": np_side}
            if theirs is not None:
                xtt = torch.from_numpy(x)

                def th(model=theirs, xtt=xtt):
                    with torch.inference_mode():
                        return model(xtt)

                fns["torch"] = th
            cases.append({"name": f"forward {arch}", "shape": f"batch {B}", "unit": "ksample/s",
                          "scale": 1e3, "work": float(B), "fns": fns, "skipped": {},
                          "batch_size": B, "weight_bytes": wbytes, "arch": arch})
    return cases
