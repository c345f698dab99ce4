"""total_norm (clip_grad_norm_'s total 2-norm, float64) against its twin (math.fsum, i.e.
exactly rounded sums) on every ISA path and at 1 and 2 threads; its fixed summation order
(bitwise the same at any thread count); nn.utils.clip_grad_norm_ uses it.

Tolerance: each square of a float32 is exact in float64; array k, viewed as (r_k, c_k),
sums c_k terms per row and then r_k row sums, all positive: relative error <= (c_k + r_k)
u_d (u_d = 2^-53). Its norm (sqrt) halves that and rounds once, its square in the
combination doubles it back and rounds once, the k-term sum adds k u_d and the final sqrt
halves and rounds once: <= (max_k (c_k + r_k) + count + 4) u_d relative. The tests allow
twice that.
"""
import math

import numpy as np
import pytest

from fastmlp import kernels, nn, reference
from fastmlp.nn.utils import clip_grad_norm_

UD = 2.0 ** -53

SHAPE_SETS = [
    [],
    [(0,)],
    [()],
    [(1,)],
    [(7, 13), (13,)],
    [(3, 5, 2), (0, 4), (257,)],
    [(31, 33), (31,), (10, 31), (10,)],
    [(70001,)],
    [(300, 257), (300,)],
]


def arrays(rng, shapes):
    return [(rng.standard_normal(s) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
            for s in shapes]


def bound(arrs, total):
    worst = 0
    for a in arrs:
        c = a.shape[-1] if a.ndim else 1
        r = a.size // c if c else 0
        worst = max(worst, c + r)
    return 2 * (worst + len(arrs) + 4) * UD * total


def test_signature_matches_reference():
    import inspect
    assert inspect.signature(kernels.total_norm) == inspect.signature(reference.total_norm)


@pytest.mark.parametrize("shapes", SHAPE_SETS, ids=lambda s: str(s))
def test_vs_twin(rng, isa, threads, shapes):
    arrs = arrays(rng, shapes)
    got = kernels.total_norm(arrs)
    ref = reference.total_norm(arrs)
    assert type(got) is float
    assert abs(got - ref) <= bound(arrs, ref)


def test_hand_computed():
    assert kernels.total_norm([np.array([3.0, 4.0], np.float32), np.float32(12.0)]) == 13.0
    assert kernels.total_norm([]) == 0.0
    assert kernels.total_norm([np.zeros((0, 5), np.float32)]) == 0.0
    assert math.isinf(kernels.total_norm([np.array([1.0, np.inf], np.float32)]))
    assert math.isnan(kernels.total_norm([np.array([np.nan, 1.0], np.float32)]))
    # float32 overflow of x*x does not happen: the squares are formed in float64
    assert kernels.total_norm([np.array([3e37, 4e37], np.float32)]) == pytest.approx(5e37,
                                                                                      rel=1e-7)


def test_bitwise_1_vs_2_threads(rng, thread_count):
    arrs = arrays(rng, [(600, 300), (600,), (7, 600), (1 << 17,)])
    res = []
    for t in (1, 2):
        thread_count(t)
        res.append(kernels.total_norm(arrs))
    assert res[0] == res[1]


def test_fixed_order_is_row_major_row_sums():
    """The order is defined: each row left to right, then the row sums in order, then the
    norms' squares in order (so the fused epoch can reproduce it on transposed storage)."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((9, 37)) * 10).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    rows = []
    for r in a.astype(np.float64):
        acc = 0.0
        for v in r:
            acc += v * v
        rows.append(acc)
    ss_a = 0.0
    for s in rows:
        ss_a += s
    ss_b = 0.0
    for v in b.astype(np.float64):
        ss_b += v * v
    acc = 0.0
    for ss in (ss_a, ss_b):
        n = math.sqrt(ss)
        acc += n * n
    assert kernels.total_norm([a, b]) == math.sqrt(acc)


def test_bad_input():
    with pytest.raises(TypeError, match="arrays"):
        kernels.total_norm(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="arrays"):
        kernels.total_norm(3.0)
    with pytest.raises(TypeError, match=r"arrays\[1\]"):
        kernels.total_norm([np.ones(2, np.float32), "x"])
    with pytest.raises(TypeError, match=r"arrays\[0\]"):
        kernels.total_norm([None])


def test_clip_grad_norm_uses_it(rng):
    ps = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in ((6, 5), (6,))]
    for p in ps:
        p.grad = rng.standard_normal(p.shape).astype(np.float32)
    expect = np.float32(kernels.total_norm([p.grad for p in ps]))
    assert clip_grad_norm_(ps, 0.5).data == expect
