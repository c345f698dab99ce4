"""SGEMM throughput: ``fastmlp bench gemm``'s shapes and sides under pytest-benchmark.

Run (NumPy's OpenBLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE where a
machine sets them, so unset both for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python \\
        python -m pytest bench/bench_gemm.py --benchmark-only \\
        --benchmark-json=bench/results/gemm.json

The shapes are ``fastmlp.tools.bench.GEMM_SHAPES`` and each side's call is
``fastmlp.tools.bench.gemm_sides``: the same as ``fastmlp bench gemm``, plus a
``fastmlp-avx2`` side (the AVX2 micro-kernel forced). Each case records GFLOP/s
in ``extra_info``; the ``side`` parameter is the innermost, so the sides of a
shape and thread count run back to back (drift on a shared machine hits them
alike), each after ``settle`` and at the same thread count (``thread_settings``).
"""

import numpy as np
import pytest

import fastmlp
from fastmlp.tools import bench

pytest.importorskip("threadpoolctl")

PEERS = bench.detect_peers(("torch",))
TORCH = __import__("torch") if PEERS["torch"]["available"] else None
SHAPES = [s[:5] for s in bench.GEMM_SHAPES]  # (M, K, N, trans_a, trans_b)
SIDES = ("fastmlp", "fastmlp-avx2", "numpy", "torch")


def _id(s):
    M, K, N, ta, tb = s
    return f"{M}x{K}x{N}-{'T' if ta else 'N'}{'T' if tb else 'N'}"


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(0)  # drawn in GEMM_SHAPES' order, as fastmlp bench gemm does
    return {s: bench.gemm_sides(*s, rng, TORCH) for s in SHAPES}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("threads", [2, 1])
@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_sgemm(benchmark, cases, shape, threads, side):
    M, K, N, ta, tb = shape
    flops = 2.0 * M * N * K
    if side == "fastmlp-avx2" and "avx2" not in fastmlp.available_cpu_capabilities():
        pytest.skip("CPU has no AVX2")
    if side == "torch" and TORCH is None:
        pytest.skip(f"torch: {PEERS['torch']['reason']}")
    run = cases[shape]["fastmlp" if side == "fastmlp-avx2" else side]
    prev_isa = fastmlp.cpu_capability()
    if side == "fastmlp-avx2":
        fastmlp._set_cpu_capability("avx2")
    try:
        with bench.thread_settings(threads, PEERS):
            bench.settle()  # the previous side's worker threads stop spinning
            run()
            benchmark.pedantic(run, rounds=max(5, min(200, int(2e9 / flops))), iterations=1,
                               warmup_rounds=2)
        isa = fastmlp.cpu_capability()
    finally:
        fastmlp._set_cpu_capability(prev_isa)
    med = benchmark.stats.stats.median
    benchmark.extra_info.update(gflops=flops / med / 1e9, shape=_id(shape), threads=threads,
                                side=side, isa=isa)
