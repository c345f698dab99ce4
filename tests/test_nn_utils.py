"""nn.utils: clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters,
against float64 NumPy formulas (and torch.nn.utils when installed).

Tolerances (``u = 2**-24``, float32's unit roundoff): the total norm is accumulated in
float64 (its error, at most ``n 2**-53`` relative for n elements, is far below u) and
rounded once to float32, so ``|total - total64| <= u total64``; we assert ``2 u``. The
clip coefficient ``max_norm / (total + 1e-6)`` is computed in float32 from three rounded
inputs with two operations (at most 5 roundings) and each gradient is multiplied by it
(one more), so a clipped gradient is within ``6 u`` relative of
``g * max_norm / (total64 + 1e-6)``; we assert ``8 u``. When the coefficient clamps to
1.0 the gradients are multiplied by exactly 1: asserted unchanged bit for bit.

Randomized cases (shapes, values, max_norm on both sides of the norm, norm types) draw
from the ``rng`` fixture; before committing they were run over 50 session seeds:
``for s in $(seq 0 49); do FASTMLP_TEST_SEED=$s pytest tests/test_nn_utils.py; done``.
"""
import math

import numpy as np
import pytest

from fastmlp import nn
from fastmlp.autograd.tensor import Tensor
from fastmlp.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector,
                              vector_to_parameters)

U = 2.0 ** -24
NORM_TYPES = [2.0, 1.0, 3.5, 0.5, math.inf, "inf", 0]


def params_with_grads(rng, scale=1.0):
    shapes = [tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 3))))
              for _ in range(int(rng.integers(1, 5)))]
    ps = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    for p in ps:
        p.grad = (scale * rng.standard_normal(p.data.shape)).astype(np.float32)
    ps.append(nn.Parameter(np.ones(3, np.float32)))  # no gradient: skipped
    return ps


def norm64(grads, p):
    """PyTorch's total: the p-norm of the per-gradient p-norms. For p > 0 that is the
    p-norm of all elements together; for p = 0 it counts the gradients that are not all
    zero (the "0-norm" of the per-gradient counts)."""
    flat = np.concatenate([np.asarray(g, np.float64).ravel() for g in grads])
    p = float(p)
    if p == math.inf:
        return np.abs(flat).max()
    if p == 0:
        return float(sum(np.count_nonzero(g) > 0 for g in grads))
    return (np.abs(flat) ** p).sum() ** (1.0 / p)


@pytest.mark.parametrize("norm_type", NORM_TYPES, ids=[str(n) for n in NORM_TYPES])
def test_clip_grad_norm_matches_float64(rng, norm_type):
    for case in range(10):
        ps = params_with_grads(rng, scale=float(rng.uniform(0.1, 10)))
        before = [p.grad.copy() for p in ps if p.grad is not None]
        objects = [p.grad for p in ps if p.grad is not None]
        total64 = norm64(before, norm_type)
        max_norm = float(total64 * rng.choice([0.3, 0.9, 1.5]))
        total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        assert isinstance(total, Tensor) and total.shape == () and total.dtype == np.float32
        assert abs(float(total) - total64) <= 2 * U * total64
        coef = max_norm / (total64 + 1e-6)
        after = [p.grad for p in ps if p.grad is not None]
        assert all(a is b for a, b in zip(after, objects))  # in place
        for g0, g in zip(before, after):
            if coef >= 1.0:
                np.testing.assert_array_equal(g, g0)
            else:
                np.testing.assert_allclose(g, g0.astype(np.float64) * coef, rtol=8 * U, atol=0)
        assert ps[-1].grad is None


def test_clip_grad_norm_hard_computed():
    p = nn.Parameter(np.zeros(2, np.float32))
    p.grad = np.array([3.0, 4.0], np.float32)
    q = nn.Parameter(np.zeros(1, np.float32))
    q.grad = np.array([12.0], np.float32)
    total = clip_grad_norm_([p, q], max_norm=6.5)  # norm of (5, 12) = 13
    assert float(total) == 13.0
    np.testing.assert_allclose(p.grad, [1.5, 2.0], rtol=4 * U)
    np.testing.assert_allclose(q.grad, [6.0], rtol=4 * U)
    p.grad = np.array([3.0, -4.0], np.float32)
    assert float(clip_grad_norm_(p, 100.0, norm_type="inf")) == 4.0  # a single tensor
    np.testing.assert_array_equal(p.grad, [3.0, -4.0])


def test_clip_grad_norm_takes_a_generator_and_warns_when_it_is_empty(rng):
    m = nn.Linear(4, 3)
    for p in m.parameters():
        p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
    expect = norm64([p.grad for p in m.parameters()], 2)
    assert abs(float(clip_grad_norm_(m.parameters(), 1e-3)) - expect) <= 2 * U * expect
    assert abs(norm64([p.grad for p in m.parameters()], 2) - 1e-3) <= 1e-9
    with pytest.warns(UserWarning, match="empty generator"):
        assert float(clip_grad_norm_((p for p in []), 1.0)) == 0.0
    assert float(clip_grad_norm_([nn.Parameter(np.ones(2, np.float32))], 1.0)) == 0.0


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_nonfinite(bad):
    p = nn.Parameter(np.zeros(3, np.float32))
    p.grad = np.array([1.0, bad, 2.0], np.float32)
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, [1.0, bad, 2.0])  # nothing scaled
    total = clip_grad_norm_(p, 1.0)  # PyTorch scales by max_norm / (inf or nan) anyway
    assert not math.isfinite(float(total))
    assert p.grad[0] == 0.0 or math.isnan(p.grad[0])


def test_clip_grad_value(rng):
    ps = params_with_grads(rng, scale=3.0)
    before = [p.grad.copy() for p in ps if p.grad is not None]
    c = float(rng.uniform(0.1, 2.0))
    assert clip_grad_value_(ps, c) is None
    for g0, p in zip(before, ps):
        np.testing.assert_array_equal(p.grad, np.clip(g0, np.float32(-c), np.float32(c)))
    p = nn.Parameter(np.zeros(2, np.float32))
    p.grad = np.array([-5.0, 0.25], np.float32)
    clip_grad_value_(p, 1)
    np.testing.assert_array_equal(p.grad, [-1.0, 0.25])


def test_parameters_vector_round_trip(rng):
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    vec = parameters_to_vector(m.parameters())
    assert isinstance(vec, Tensor) and vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vec.data, np.concatenate([p.data.ravel()
                                                            for p in m.parameters()]))
    new = rng.standard_normal(vec.shape).astype(np.float32)
    arrays = [p.data for p in m.parameters()]
    versions = [p._version for p in m.parameters()]
    assert vector_to_parameters(Tensor(new), m.parameters()) is None
    assert all(p.data is a for p, a in zip(m.parameters(), arrays))  # in place
    assert [p._version for p in m.parameters()] == [v + 1 for v in versions]
    np.testing.assert_array_equal(parameters_to_vector(m.parameters()).data, new)
    vector_to_parameters(new * 2, list(m.parameters()))  # an ndarray works too
    np.testing.assert_array_equal(m[2].bias.data, new[-2:] * 2)
    assert parameters_to_vector(m[0].bias).shape == (4,)  # a single tensor


BAD = [
    (lambda ps: clip_grad_norm_(ps, "1"), TypeError, "max_norm must be a real number"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="l2"), TypeError, "norm_type"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=float("nan")), ValueError, "norm_type"),
    (lambda ps: clip_grad_norm_(ps, 1.0, foreach="yes"), TypeError, "foreach"),
    (lambda ps: clip_grad_norm_(5, 1.0), TypeError, "parameters must be a Tensor"),
    (lambda ps: clip_grad_norm_(np.zeros(3), 1.0), TypeError, "parameters must be a Tensor"),
    (lambda ps: clip_grad_norm_([np.zeros(3)], 1.0), TypeError, "parameters must hold Tensors"),
    (lambda ps: clip_grad_value_(ps, None), TypeError, "clip_value must be a real number"),
    (lambda ps: vector_to_parameters([1.0, 2.0], ps), TypeError, "expected vec to be a Tensor"),
    (lambda ps: vector_to_parameters(np.zeros((2, 3), np.float32), ps), ValueError, "1-D"),
    (lambda ps: vector_to_parameters(np.zeros(5, np.float32), ps), ValueError,
     "vec has 5 elements, the parameters have 6"),
    (lambda ps: parameters_to_vector("abc"), TypeError, "parameters must be a Tensor"),
]


@pytest.mark.parametrize("make, exc, msg", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments_raise_naming_them(make, exc, msg):
    ps = [nn.Parameter(np.ones((2, 3), np.float32))]
    ps[0].grad = np.full((2, 3), 5.0, np.float32)
    with pytest.raises(exc, match=msg):
        make(ps)
    assert (ps[0].grad == 5.0).all() and (ps[0].data == 1.0).all() and ps[0]._version == 0


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(rng, norm_type):
    torch = pytest.importorskip("torch")
    ps = params_with_grads(rng)[:-1]
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    for p, t in zip(ps, tps):
        t.grad = torch.from_numpy(p.grad.copy())
    max_norm = 0.5 * norm64([p.grad for p in ps], norm_type)
    ours = clip_grad_norm_(ps, max_norm, norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    # torch accumulates in float32 (we in float64): a few u times the element count
    n = sum(p.data.size for p in ps)
    assert float(ours) == pytest.approx(float(theirs), rel=(n + 2) * U)
    for p, t in zip(ps, tps):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=(n + 8) * U, atol=0)
