"""sgemm's skinny paths (branch skinny): the narrow-N dot path (gemm/gemm_small.h).

The dot path runs C = op(A) @ op(B) for op(A) = A (not transposed), N <= 12 and
K deep enough (sgemm.cpp's use_dot_path) on the AVX-512 path; elsewhere (other
ISA paths, trans_a) the same shapes take the micro-kernel paths, so every case
below runs on every ISA path this CPU has, at 1 and 2 threads.

Tolerance: the module docstring of tests/test_sgemm.py (its ``check``): a float32
dot product of length K summed in any order (here 16 lane sums and a fixed
tree) is within K * 2^-24 of exact relative to sum |a_i b_i| (Higham, Accuracy
and Stability, 3.1); the epilogue adds 4 roundings: (K + 4) u (|alpha| |A| |B| +
|beta C| + |bias|). It holds for every seed, so it cannot flake.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import kernels
from test_sgemm import check, make

# N across every tile width of the kernel's switch (1 .. 12) and past kDotMaxN
# (13, 16); K below the 16-lane step, at it, primes, K >> M, N; M = 1, primes,
# not multiples of the 3/4/5/8-row tiles or of the 8-row thread split. The
# first group takes the dot path on the AVX-512 path (sgemm.cpp's cost model;
# checked by hand against the micro-kernel path's bits), the second stays on
# the micro-kernels just below the model's limits.
DOT_SHAPES = [
    (5, 64, 1), (8, 97, 2), (13, 128, 3), (40, 256, 4), (50, 300, 5), (41, 400, 6),
    (67, 1031, 7), (97, 700, 8), (71, 900, 9), (256, 1024, 10), (301, 1031, 10),
    (263, 2048, 11), (1300, 512, 12), (100, 333, 1), (7, 4099, 2),
]
NEAR_SHAPES = [
    (1, 64, 1), (64, 128, 10), (257, 784, 10), (1, 4099, 10), (19, 640, 13), (8, 1024, 16),
    (40, 31, 10), (1100, 512, 12), (3, 4099, 2),
]


@pytest.mark.parametrize("shape", DOT_SHAPES + NEAR_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
def test_dot_path_shapes(rng, isa, threads, shape, trans_b):
    check(rng, *shape, False, trans_b)
    check(rng, *shape, False, trans_b, alpha=-0.75, beta=0.5, use_bias=True, activation="relu")


@pytest.mark.parametrize("activation", ["gelu", {"name": "leaky_relu", "negative_slope": 0.1}, "tanh"],
                         ids=["gelu", "leaky", "tanh"])
@pytest.mark.parametrize("shape", [(256, 1024, 10), (37, 300, 3)], ids=lambda s: "x".join(map(str, s)))
def test_dot_path_activation_epilogue(rng, isa, threads, shape, activation):
    """Any other activation: applied by the driver after the kernel, bitwise the
    activation's own forward kernel on the identity GEMM's C (sgemm's contract)."""
    M, K, N = shape
    a, b = make(rng, M, K, N, False, True)
    bias = rng.standard_normal(N).astype(np.float32)
    got = kernels.sgemm(a, b, trans_b=True, bias=bias, activation=activation)
    lin = kernels.sgemm(a, b, trans_b=True, bias=bias)
    name = activation if isinstance(activation, str) else activation["name"]
    params = {} if isinstance(activation, str) else {k: v for k, v in activation.items() if k != "name"}
    want = getattr(kernels, f"{name}_forward")(lin, **params)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    check(rng, M, K, N, False, True, use_bias=True, activation=activation)


@pytest.mark.parametrize("shape", [(64, 128, 10), (257, 784, 10), (1300, 512, 12), (100, 333, 1),
                                   (67, 1031, 7), (256, 1024, 10)], ids=lambda s: "x".join(map(str, s)))
def test_nn_nt_and_threads_bitwise(rng, isa, thread_count, shape):
    """x @ W.T (NT, the Python layer's forward) and x @ WT (NN, the fused epoch's)
    give the same bits, at 1 and at 2 threads: the path depends on M, N, K only."""
    M, K, N = shape
    a = rng.standard_normal((M, K)).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    wt = np.ascontiguousarray(w.T)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    outs = []
    for n in (1, 2):
        thread_count(n)
        for b, tb in ((w, True), (wt, False)):
            c = c0.copy()
            kernels.sgemm(a, b, c, alpha=0.7, beta=0.3, trans_b=tb, bias=bias, activation="relu")
            outs.append(c.view(np.uint32))
    for o in outs[1:]:
        assert np.array_equal(outs[0], o)


def test_dot_path_strided_operands(rng, isa, threads):
    """Row-strided A (a slice of a wider array) and a transposed view of B: read in place."""
    big = rng.standard_normal((70, 300)).astype(np.float32)
    a = big[3:67, 7:263]  # (64, 256), row stride 300
    w = rng.standard_normal((300, 4)).astype(np.float32)[:256]  # (256, 4): takes the dot path
    got = kernels.sgemm(a, w)
    got_t = kernels.sgemm(a, np.ascontiguousarray(w.T), trans_b=True)
    ref = a.astype(np.float64) @ w.astype(np.float64)
    tol = (256 + 4) * 2.0**-24 * (np.abs(a).astype(np.float64) @ np.abs(w).astype(np.float64))
    assert np.all(np.abs(got - ref) <= tol) and np.all(np.abs(got_t - ref) <= tol)


def test_dot_path_beta_zero_never_reads_c_and_nan(rng, isa, threads):
    a, b = make(rng, 256, 1024, 10, False, True)
    c = np.full((256, 10), np.nan, np.float32)
    kernels.sgemm(a, b, c, trans_b=True)
    assert np.isfinite(c).all()
    a[5, 17] = np.nan  # ReLU keeps a NaN (MAXPS with the value second), like NumPy's maximum
    out = kernels.sgemm(a, b, trans_b=True, activation="relu")
    assert np.isnan(out[5]).all() and np.isfinite(np.delete(out, 5, axis=0)).all()


def test_dot_path_is_taken_where_the_model_says():
    """The kernel exists on the AVX-512 path only; the others keep the micro-kernels."""
    if "avx512" not in fastmlp.available_cpu_capabilities():
        pytest.skip("no AVX-512 on this CPU")
    prev = fastmlp.cpu_capability()
    try:
        fastmlp._set_cpu_capability("avx512")
        assert fastmlp._core.gemm_config()["dot_path"]
        fastmlp._set_cpu_capability("avx2")
        assert not fastmlp._core.gemm_config()["dot_path"]
    finally:
        fastmlp._set_cpu_capability(prev)
