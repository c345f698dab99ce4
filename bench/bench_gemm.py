"""SGEMM throughput: fastmlp.kernels.sgemm beside numpy.matmul (OpenBLAS), same inputs.

Run (NumPy's OpenBLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE where a
machine sets them, so unset both for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m pytest bench/bench_gemm.py --benchmark-only \\
        --benchmark-json=bench/results/gemm.json

Each case records GFLOP/s in ``extra_info``; the ``side`` parameter is the
innermost, so ours and NumPy's run back to back for every shape and thread
count (drift on a shared machine hits both alike). Shapes are M x K x N with
op(A) (M, K) and op(B) (K, N); "NT" is x @ W.T (a Linear forward), "TN" the
weight gradient.
"""

import numpy as np
import pytest

import fastmlp
from fastmlp import kernels
from fastmlp.tools import bench

threadpoolctl = pytest.importorskip("threadpoolctl")

# (M, K, N, trans_a, trans_b)
SHAPES = [
    (64, 784, 128, False, True),    # seed net layer 1 forward, batch 64
    (64, 128, 10, False, True),     # seed net layer 2 forward
    (256, 784, 128, False, True),   # layer 1 forward, batch 256
    (784, 64, 128, True, False),    # weight-gradient shape (X.T @ dY)
    (128, 64, 784, True, False),    # dW = dY.T @ X, as a Linear backward issues it
    (512, 512, 512, False, False),
    (1024, 1024, 1024, False, False),
    (2048, 2048, 2048, False, False),
]


def _id(s):
    M, K, N, ta, tb = s
    return f"{M}x{K}x{N}-{'T' if ta else 'N'}{'T' if tb else 'N'}"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    out = {}
    for s in SHAPES:
        M, K, N, ta, tb = s
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        out[s] = (a, b, np.empty((M, N), np.float32))
    return out


def _sleep_between_sides():
    # OpenBLAS (100-200 ms) and libgomp worker threads spin after a call; wait
    # until they stop so neither side runs beside the other's spinning threads.
    bench.settle()


@pytest.mark.parametrize("side", ["fastmlp", "fastmlp-avx2", "numpy"])
@pytest.mark.parametrize("threads", [2, 1])
@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_sgemm(benchmark, data, shape, threads, side):
    M, K, N, ta, tb = shape
    a, b, c = data[shape]
    flops = 2.0 * M * N * K
    if side == "fastmlp-avx2" and "avx2" not in fastmlp.available_cpu_capabilities():
        pytest.skip("CPU has no AVX2")
    prev_isa, prev_threads = fastmlp.cpu_capability(), fastmlp.get_num_threads()
    fastmlp.set_num_threads(threads)
    if side == "fastmlp-avx2":
        fastmlp._set_cpu_capability("avx2")
    _sleep_between_sides()
    try:
        with threadpoolctl.threadpool_limits(threads):
            if side == "numpy":
                ao, bo = (a.T if ta else a), (b.T if tb else b)
                run = lambda: np.matmul(ao, bo, out=c)  # noqa: E731
            else:
                run = lambda: kernels.sgemm(a, b, c, trans_a=ta, trans_b=tb)  # noqa: E731
            run()
            benchmark.pedantic(run, rounds=max(5, min(200, int(2e9 / flops))), iterations=1,
                               warmup_rounds=2)
    finally:
        fastmlp._set_cpu_capability(prev_isa)
        fastmlp.set_num_threads(prev_threads)
    med = benchmark.stats.stats.median
    benchmark.extra_info.update(gflops=flops / med / 1e9, shape=_id(shape), threads=threads,
                                side=side, isa=fastmlp.cpu_capability() if side != "fastmlp-avx2" else "avx2")
