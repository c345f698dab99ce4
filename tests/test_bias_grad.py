"""bias_grad (column sums) against the float64 reference, every ISA path, 1 and 2 threads.

Tolerance: each column is a float32 sum of M float32 values in row order; by
the standard bound (Higham 4.2) |fl(sum) - sum| <= (M-1) u / (1 - (M-1) u) *
sum|x_i|, u = 2**-24. We check |db - ref| <= M * u * sum_i |dout[i, j]|
(+ a denormal-sized slack), which a correct kernel cannot exceed and any
missing/duplicated row or column would.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmlp import kernels, reference
from helpers import U

# 1, 2, primes, N not a multiple of 16/64, empty dims, and M*N above the
# 65536 parallel threshold with N >= 32 (300x300, 1000x67, 64x4099).
SHAPES = [(1, 1), (2, 3), (7, 13), (64, 10), (0, 5), (5, 0), (0, 0), (1000, 33),
          (300, 300), (1000, 67), (64, 4099), (13, 1)]


def check(dout, db):
    d64 = np.asarray(dout, np.float64)
    M = d64.shape[0]
    ref = reference.bias_grad(d64)
    tol = M * U * np.abs(d64).sum(axis=0) + 1e-37
    assert db.shape == ref.shape and db.dtype == np.float32
    assert np.all(np.abs(db - ref) <= tol), np.max(np.abs(db - ref) - tol)


@pytest.mark.parametrize("shape", SHAPES)
def test_bias_grad(rng, isa, threads, shape):
    dout = rng.standard_normal(shape).astype(np.float32)
    check(dout, kernels.bias_grad(dout))
    db = np.full(shape[1], np.nan, np.float32)  # overwritten, never read
    assert kernels.bias_grad(dout, db) is db
    check(dout, db)
    if shape[0] == 0:
        assert np.all(db == 0)


@pytest.mark.parametrize("shape", [(7, 13), (300, 300), (1000, 67)])
def test_views(rng, isa, threads, shape):
    M, N = shape
    big = rng.standard_normal((2 * M, N + 9)).astype(np.float32)
    for view in (big[:M, 3:3 + N],          # row-strided: read in place (ld = N + 9)
                 big[::2, 5:5 + N],         # every other row
                 np.asfortranarray(big[:M, :N]),  # transposed storage: copied once
                 big[:N, :M].T,             # a transpose view
                 big[:M, ::2],              # column-strided: copied once
                 big[:M, :N].astype(np.float64)):  # converted
        check(view, kernels.bias_grad(view))


def test_exact_small_integers(threads):
    # Integers: every partial sum is exact in float32, so the result must be exact.
    dout = (np.arange(64 * 1030) % 7 - 3).astype(np.float32).reshape(64, 1030)
    np.testing.assert_array_equal(kernels.bias_grad(dout), dout.astype(np.float64).sum(0))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(M=st.integers(0, 90), N=st.integers(0, 90), pad=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_hypothesis_shapes(M, N, pad, seed):
    rng = np.random.default_rng(seed)
    big = (rng.standard_normal((M, N + pad)) * rng.uniform(0.01, 100)).astype(np.float32)
    check(big[:, :N], kernels.bias_grad(big[:, :N]))


def test_bitwise_1_vs_2_threads(rng, thread_count):
    dout = rng.standard_normal((1024, 777)).astype(np.float32)
    res = {}
    for t in (1, 2):
        thread_count(t)
        res[t] = kernels.bias_grad(dout)
    assert np.array_equal(res[1], res[2])


class TestBadInput:
    def test_dout(self):
        with pytest.raises(ValueError, match="dout"):
            kernels.bias_grad(np.zeros(5, np.float32))
        with pytest.raises(ValueError, match="dout"):
            kernels.bias_grad(np.zeros((2, 3, 4), np.float32))
        with pytest.raises(TypeError, match="dout"):
            kernels.bias_grad("abc")

    def test_db(self):
        dout = np.ones((4, 5), np.float32)
        with pytest.raises(TypeError, match="db"):
            kernels.bias_grad(dout, np.zeros(5))  # float64
        with pytest.raises(ValueError, match="db"):
            kernels.bias_grad(dout, np.zeros(4, np.float32))
        with pytest.raises(ValueError, match="db"):
            kernels.bias_grad(dout, np.zeros((1, 5), np.float32))
        with pytest.raises(ValueError, match="db"):
            kernels.bias_grad(dout, np.zeros(10, np.float32)[::2])
        ro = np.zeros(5, np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="db"):
            kernels.bias_grad(dout, ro)
        with pytest.raises(ValueError, match="db"):  # db inside dout
            kernels.bias_grad(dout, dout[2])
        np.testing.assert_array_equal(dout, 1)
