"""The seed network's per-step kernels: fastmlp beside NumPy and PyTorch (not run in CI).

The cases are ``fastmlp.tools.bench.layer_cases`` (the same as ``fastmlp bench
layers``): Linear forward (GEMM + bias) and backward (dX, dW, db) of fc1
784->128 and fc2 128->10, ReLU forward/backward on the 128-wide hidden layer,
softmax cross-entropy loss + gradient over 10 classes, at batch 64 and 256.

Run (NumPy's OpenBLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE where a
machine sets them, so unset both for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python \\
        python -m pytest bench/bench_layers.py --benchmark-only \\
        --benchmark-json=bench/results/layers.json

``extra_info`` has the throughput (``value`` in ``unit``: GFLOP/s for Linear,
Melem/s for ReLU, Msample/s for cross-entropy) from the median, plus
``pct_peak`` for the Linear cases. ``side`` is the innermost parameter, so the
sides of a case run back to back; every side runs at the same thread count
(``thread_settings``: all cores; ``FASTMLP_BENCH_THREADS`` overrides).
"""
import os
import time

import pytest

import fastmlp
from fastmlp import kernels
from fastmlp.tools import bench

pytest.importorskip("threadpoolctl")
PEERS = bench.detect_peers(("torch",))
torch = __import__("torch") if PEERS["torch"]["available"] else None

THREADS = int(os.environ.get("FASTMLP_BENCH_THREADS") or len(os.sched_getaffinity(0)))
BATCHES = (64, 256)
SIDES = ("fastmlp", "numpy", "torch")
# (batch, index) -> case; built once (names are stable across batch sizes)
_NAMES = [c["name"] for c in bench.layer_cases(2)]


@pytest.fixture(scope="module")
def cases():
    return {b: bench.layer_cases(b, torch) for b in BATCHES}


@pytest.fixture(scope="module")
def peak():
    fastmlp.set_num_threads(THREADS)
    return kernels.peak_gflops(THREADS, 0.5)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("name", _NAMES, ids=lambda n: n.lower().replace(" ", "_").replace("+", "_"))
@pytest.mark.parametrize("batch", BATCHES)
def test_layer(benchmark, cases, peak, batch, name, side):
    case = next(c for c in cases[batch] if c["name"] == name)
    if side not in case["fns"]:
        pytest.skip(f"{side} is not installed")
    fn = case["fns"][side]
    with bench.thread_settings(THREADS, PEERS):
        bench.settle()  # the previous side's workers stop spinning
        fn()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.01:
            fn()
            n += 1
        per_call = (time.perf_counter() - t0) / n
        iterations = max(1, int(0.005 / per_call))  # a round lasts ~5 ms
        benchmark.pedantic(fn, rounds=max(15, min(200, int(0.5 / (per_call * iterations)))),
                           iterations=iterations, warmup_rounds=2)
    med = benchmark.stats.stats.median
    value = case["work"] / med / case["scale"]
    benchmark.extra_info.update(side=side, case=name, shape=case["shape"], batch=batch,
                                threads=THREADS, isa=fastmlp.cpu_capability(),
                                unit=case["unit"], value=value)
    if case["gemm"]:
        benchmark.extra_info.update(gflops=value, peak_gflops=peak, pct_peak=100 * value / peak)
