"""sgemm (issue 12, session 5): a transposed A whose rows are a power of two apart on the
packed path, and the Python wrapper's fast path for exact floats and bools.

The lda test runs on every (CPU class, ISA path) cell this CPU can run, at 1
and 2 threads, on shapes above every class's direct-path limit (64 M
multiply-adds), so the packed path runs, with M, N, K not multiples of any MR
(6, 8, 12), NR (16, 32) or KC, and lda a multiple of 4 KiB (1024, 2048 floats:
every k step of a transposed A read in place falls in one L1 set) or not (1037).

Bound: as tests/test_sgemm.py's module docstring (a float32 dot product of
length K in any order is within K * 2^-24 of exact relative to sum |a_i b_i|,
plus 4 roundings for alpha, beta * C, bias, ReLU); it cannot fail for a
correct kernel. Bits: reading op(A) from its transposed storage or from a
contiguous copy gives the same values to the same FMAs, so the same bits, at 1
and 2 threads.
"""
import numpy as np
import pytest

from fastmlp import kernels, reference
from test_sgemm import bound, cpu_class  # noqa: F401  (cpu_class: the fixture)

# (M, K, N, lda of the stored (K, M) transposed A: M, or padded to a power of two)
SHAPES = [(1000, 300, 240, 1024), (131, 517, 1001, 2048), (1037, 129, 530, 1037)]


def _run(a, b, c0, bias, trans_a, trans_b):
    c = c0.copy()
    kernels.sgemm(a, b, c, alpha=0.75, beta=0.5, trans_a=trans_a, trans_b=trans_b, bias=bias,
                  activation="relu")
    return c


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
def test_transposed_a_packed_matches_reference_and_in_place(rng, cpu_class, thread_count, shape,
                                                           trans_b):
    """Within the module docstring's bound; TN bitwise equal to NN on A's transpose
    (contiguous), at 1 and 2 threads."""
    M, K, N, lda = shape
    assert M * K * N > 64 * 1024 * 1024  # above every direct-path limit
    store = rng.standard_normal((K, lda)).astype(np.float32)
    a_t = store[:, :M]  # op(A) = a_t.T, rows lda floats apart
    a_n = np.ascontiguousarray(a_t.T)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    outs = []
    for n in (1, 2):
        thread_count(n)
        outs.append(_run(a_t, b, c0, bias, True, trans_b))
        outs.append(_run(a_n, b, c0, bias, False, trans_b))
    ref = reference.sgemm(a_t, b, c0, alpha=0.75, beta=0.5, trans_a=True, trans_b=trans_b,
                          bias=bias, activation="relu")
    tol = bound(a_t, b, c0, bias, 0.75, 0.5, True, trans_b)
    err = np.abs(outs[0].astype(np.float64) - ref)
    assert np.all(err <= tol), f"max err {err.max()} vs tol at that point {tol.flat[err.argmax()]}"
    for o in outs[1:]:
        assert np.array_equal(outs[0].view(np.uint32), o.view(np.uint32))


@pytest.mark.parametrize("alpha,beta,ta,tb", [(1, 0, 1, 0), (np.float32(0.75), np.float64(0.5), np.bool_(True), False),
                                             (2**31, -1, False, np.bool_(False))])
def test_wrapper_converts_numbers_and_flags_like_floats_and_bools(rng, alpha, beta, ta, tb):
    """ints, NumPy scalars and NumPy bools give the bits of the same float / bool
    (exact floats and bools skip the checks in the wrapper, the others are converted)."""
    a = rng.standard_normal((7, 13)).astype(np.float32)
    b = rng.standard_normal((13, 5) if not tb else (5, 13)).astype(np.float32)
    a = a.T.copy() if ta else a
    c0 = rng.standard_normal((7, 5)).astype(np.float32)
    c1, c2 = c0.copy(), c0.copy()
    kernels.sgemm(a, b, c1, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    kernels.sgemm(a, b, c2, alpha=float(alpha), beta=float(beta), trans_a=bool(ta), trans_b=bool(tb))
    assert np.array_equal(c1.view(np.uint32), c2.view(np.uint32))


@pytest.mark.parametrize("kw,exc,msg", [({"alpha": True}, TypeError, "alpha: expected a real number, got bool"),
                                        ({"beta": "1"}, TypeError, "beta: expected a real number"),
                                        ({"trans_a": 2}, TypeError, "trans_a: expected a bool"),
                                        ({"trans_b": "False"}, TypeError, "trans_b: expected a bool, got str"),
                                        ({"trans_b": None}, TypeError, "trans_b: expected a bool")])
def test_wrapper_rejects_what_it_does_not_convert(kw, exc, msg):
    a = np.ones((3, 3), np.float32)
    with pytest.raises(exc, match=msg):
        kernels.sgemm(a, a, **kw)
