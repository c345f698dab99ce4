"""sgemm's swapped path for a narrow N (branch narrow; sgemm.cpp "the swapped path").

A GEMM whose N is much narrower than M (the output layer's weight gradient
dW2^T = H^T dY with N = 10, and such) may run as the transposed product on a
micro-kernel of the same ISA with another row count, written back transposed.
Every element is the same FMA sequence and epilogue, so:

* against the float64 reference: the tolerance of tests/test_sgemm.py's
  ``check`` (a float32 dot product of length K in any order is within K u of
  exact relative to sum |a_i b_i|, Higham 3.1; the epilogue adds at most 4
  roundings: (K + 4) u (|alpha| |A| |B| + |beta C| + |bias|), u = 2^-24). It is a
  bound, not a fitted tolerance, so it holds for every seed;
* bitwise equal to the same call with the swapped path turned off
  (``_core._set_gemm_swap(False)``), and at 1 and 2 threads (exact equality:
  no tolerance).

Shapes: N = 1, 9, 10, 11, 15, 16, 17, 33, 100 beside larger M, M and K primes,
K >> M, N, and K = 0 / M = 0; every ISA path this CPU has, 1 and 2 threads.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core, kernels
from test_sgemm import check, make

# (M, K, N): N narrow against M; M, K primes; K >> M, N; crossing KC (K = 1031).
SHAPES = [
    (100, 200, 10), (64, 128, 10), (97, 211, 9), (131, 64, 11), (257, 200, 15), (200, 200, 16),
    (301, 97, 17), (523, 200, 33), (1031, 64, 100), (64, 2053, 10), (37, 1031, 1), (211, 7, 10),
    (24, 200, 10), (40, 3001, 5), (0, 50, 10), (50, 0, 10),
]


def _swap_off_bits(fn):
    _core._set_gemm_swap(False)
    try:
        return fn()
    finally:
        _core._set_gemm_swap(True)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
def test_narrow_shapes_reference(rng, isa, threads, shape, trans_a, trans_b):
    check(rng, *shape, trans_a, trans_b)
    check(rng, *shape, trans_a, trans_b, alpha=-0.75, beta=0.5, activation="relu")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("epi", [
    dict(), dict(alpha=0.5, beta=1.0), dict(alpha=-1.25, beta=0.5, activation="relu"),
    dict(activation="gelu"), dict(beta=0.25, activation="tanh"),
], ids=["plain", "beta1", "relu", "gelu", "tanh"])
def test_swapped_path_keeps_the_bits(rng, isa, thread_count, shape, trans_a, trans_b, epi):
    """The swapped path on or off, 1 or 2 threads: the same bits (and NaN in C with
    beta == 0 is never read)."""
    M, K, N = shape
    a, b = make(rng, M, K, N, trans_a, trans_b)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    if epi.get("beta", 0.0) == 0.0 and c0.size:
        c0.flat[::3] = np.nan
    outs = []
    for swap in (True, False):
        for t in (1, 2):
            thread_count(t)
            c = c0.copy()
            run = lambda: kernels.sgemm(a, b, c, trans_a=trans_a, trans_b=trans_b, **epi)
            run() if swap else _swap_off_bits(run)
            outs.append(c.view(np.uint32).copy())
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])
    if epi.get("beta", 0.0) == 0.0:
        assert np.isfinite(outs[0].view(np.float32)).all()


def test_swapped_path_is_taken_where_the_model_says():
    """The model's choices for the MLP shapes it was written for, per ISA path: the
    weight gradient with N = 10 swaps on the vector paths; a bias, a square shape, or a
    wide N does not; the portable path never does."""
    prev = fastmlp.cpu_capability()
    try:
        for isa in fastmlp.available_cpu_capabilities():
            fastmlp._set_cpu_capability(isa)
            dw2 = _core._gemm_swap_kernel(True, False, 100, 10, 200, 0.0, False)
            if isa == "generic":
                assert dw2 is None
                continue
            assert dw2 == {"avx2": "avx2_5x16", "avx512": "avx512_10x32"}[isa]
            assert _core._gemm_swap_kernel(True, False, 100, 10, 200, 0.0, True) is None  # bias
            assert _core._gemm_swap_kernel(True, False, 512, 512, 512, 0.0, False) is None
            assert _core._gemm_swap_kernel(True, False, 24, 100, 200, 0.0, False) is None
            assert _core._gemm_swap_kernel(True, False, 0, 10, 200, 0.0, False) is None
    finally:
        fastmlp._set_cpu_capability(prev)
