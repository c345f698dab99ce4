"""gemv_forward (the matrix-vector path of the one-call forward) against its float64 twin,
on every ISA path, at 1 and 2 threads.

Tolerance: an output is 16 lane sums of ceil(K/16) FMAs each (the generic path: a
rounded product and a rounded sum, 2 per step), a tree of 4 additions and the bias
addition; along any path from a product to the result at most n = 2 ceil(K/16) + 5
roundings happen, so |y - exact| <= gamma_n (sum_k |x_k w_k| + |b|) (Higham, Accuracy
and Stability, 3.1), gamma_n = n u / (1 - n u) <= 1.01 n u for the n here (u = 2**-24).
The activation then adds its kernel's bound: |f'| <= 1.2 for the activations tested
(elu alpha <= 1, softplus, silu, gelu) times that, plus at most 8 u |y| + 2 u |z| of its
own (tests/test_<stem>.py's). This bound (about K/8 u instead of the GEMM's K u) also
checks that the sums really are split 16 ways.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core, kernels, reference
from helpers import U, same_bits

# (M, K, N): no rows, one element, K below one 16-lane chunk, not a multiple of 16,
# primes, every row-tile remainder (M = 1..5, 7, 12, 13), N not a multiple of any output
# tile (1, 3, 7, 9), K = 0 (bias only), and sizes over the parallel threshold (64K
# multiply-adds: 1x784x1024, 5x1000x333) for 1 vs 2 threads.
SHAPES = [(0, 5, 3), (3, 5, 0), (1, 1, 1), (1, 15, 7), (2, 16, 9), (3, 17, 1), (4, 31, 3),
          (5, 257, 33), (7, 100, 10), (12, 64, 13), (13, 45, 8), (4, 0, 5), (1, 784, 128),
          (1, 784, 1024), (5, 1000, 333)]

ACTS = [None, "relu", "tanh", "sigmoid", "gelu", {"name": "gelu", "approximate": "tanh"}, "silu",
        {"name": "leaky_relu", "negative_slope": 0.2}, "elu", {"name": "softplus", "beta": 2.0}]


def data(rng, M, K, N):
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = (rng.standard_normal((N, K)) / np.sqrt(max(K, 1))).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    return x, w, b


def bound(x, w, b, K):
    """gamma_n (|x| @ |w|^T + |b|), n = 2 ceil(K/16) + 5 (the module docstring)."""
    n = 2 * -(-K // 16) + 5
    mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
    if b is not None:
        mag = mag + np.abs(b.astype(np.float64))
    return 1.01 * n * U * mag + 1e-30


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("use_bias", [True, False])
def test_gemv_forward_matches_reference(rng, isa, threads, shape, use_bias):
    M, K, N = shape
    x, w, b = data(rng, M, K, N)
    b = b if use_bias else None
    got = kernels.gemv_forward(x, w, b)
    assert got.dtype == np.float32 and got.shape == (M, N)
    err = np.abs(got - reference.gemv_forward(x, w, b))
    tol = bound(x, w, b, K)
    assert np.all(err <= tol), f"max err {err.max()} vs tol there {tol.flat[err.argmax()]}"


@pytest.mark.parametrize("act", ACTS, ids=str)
@pytest.mark.parametrize("shape", [(1, 33, 17), (3, 100, 9), (7, 16, 40)], ids=lambda s: "x".join(map(str, s)))
def test_gemv_activation_is_gemv_then_the_activation_kernel(rng, isa, threads, act, shape):
    """The epilogue is activation_forward's bits on the identity result (the contract),
    and within the propagated bound of the float64 twin."""
    M, K, N = shape
    x, w, b = data(rng, M, K, N)
    z = kernels.gemv_forward(x, w, b)
    got = kernels.gemv_forward(x, w, b, act)
    name = act if isinstance(act, str) or act is None else act["name"]
    params = {} if not isinstance(act, dict) else {k: v for k, v in act.items() if k != "name"}
    want = z if name is None else getattr(kernels, name + "_forward")(z, **params)
    assert same_bits(got, want)
    ref = reference.gemv_forward(x, w, b, act)
    zref = reference.gemv_forward(x, w, b)
    tol = 1.2 * bound(x, w, b, K) + 8 * U * np.abs(ref) + 2 * U * np.abs(zref)
    assert np.all(np.abs(got - ref) <= tol)


@pytest.mark.parametrize("shape", [(1, 784, 128), (1, 784, 1024), (5, 1000, 333), (12, 300, 700),
                                   (3, 70001, 8)],
                         ids=lambda s: "x".join(map(str, s)))
def test_gemv_bitwise_identical_at_1_and_2_threads(rng, isa, thread_count, shape):
    x, w, b = data(rng, *shape)
    thread_count(1)
    one = kernels.gemv_forward(x, w, b, "tanh")
    thread_count(2)
    two = kernels.gemv_forward(x, w, b, "tanh")
    assert same_bits(one, two)


def test_a_rows_bits_do_not_depend_on_the_other_rows(rng, isa, threads):
    """Every row count (every row-tile remainder) gives each row the bits it has alone."""
    x, w, b = data(rng, 13, 77, 21)
    alone = np.concatenate([kernels.gemv_forward(x[i:i + 1], w, b) for i in range(13)])
    for M in range(1, 14):
        assert same_bits(kernels.gemv_forward(x[:M], w, b), alone[:M]), M


def test_avx512_and_avx2_agree_bitwise(rng):
    paths = [p for p in fastmlp.available_cpu_capabilities() if p != "generic"]
    if len(paths) < 2:
        pytest.skip(f"this CPU runs only {paths} of the vector paths")
    prev = fastmlp.cpu_capability()
    x, w, b = data(rng, 13, 301, 29)
    res = []
    try:
        for p in paths:
            fastmlp._set_cpu_capability(p)
            res.append([kernels.gemv_forward(x[:m], w, b, "gelu") for m in (1, 2, 3, 5, 13)])
    finally:
        fastmlp._set_cpu_capability(prev)
    assert all(same_bits(a, c) for a, c in zip(res[0], res[1]))


def test_gemv_propagates_nan_and_inf(isa):
    x = np.ones((2, 20), np.float32)
    x[0, 3] = np.nan
    x[1, 5] = np.inf
    w = np.ones((3, 20), np.float32)
    y = kernels.gemv_forward(x, w)
    assert np.all(np.isnan(y[0])) and np.all(y[1] == np.inf)


def test_gemv_out_and_aliasing(rng):
    x, w, b = data(rng, 3, 20, 6)
    out = np.full((3, 6), np.nan, np.float32)
    assert kernels.gemv_forward(x, w, b, "relu", out=out) is out
    assert same_bits(out, kernels.gemv_forward(x, w, b, "relu"))
    xx = np.zeros((6, 6), np.float32)
    with pytest.raises(ValueError, match="out: must not share memory"):
        kernels.gemv_forward(xx, np.ones((6, 6), np.float32), out=xx)


def test_gemv_bad_inputs_name_the_argument(rng):
    x, w, b = data(rng, 2, 8, 3)
    with pytest.raises(ValueError, match="x: expected a 2-D"):
        kernels.gemv_forward(x[0], w)
    with pytest.raises(ValueError, match="weight: expected shape"):
        kernels.gemv_forward(x, w[:, :5])
    with pytest.raises(ValueError, match="bias: expected shape"):
        kernels.gemv_forward(x, w, b[:2])
    with pytest.raises(ValueError, match="activation"):
        kernels.gemv_forward(x, w, b, "nope")
    with pytest.raises(TypeError, match="x: expected"):
        kernels.gemv_forward("x", w)
    with pytest.raises(ValueError, match="out: expected shape"):
        kernels.gemv_forward(x, w, out=np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        kernels.gemv_forward(x, w, out=np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError, match="gemv_forward: weight"):
        reference.gemv_forward(x, w[:, :5])


def test_gemv_max_rows_is_three_row_tiles(isa):
    """The cost model (kernels.h gemv_max_rows): the packed GEMM makes 3 passes over W's
    size, gemv one per row tile (4 rows AVX-512, 2 AVX2, 1 generic)."""
    assert _core.gemv_max_rows() == 3 * {"avx512": 4, "avx2": 2, "generic": 1}[isa]
