"""The checks every activation kernel pair passes, written once (tests/test_<stem>.py
instantiate them for their stem with a Case).

An activation kernel is elementwise: ``<stem>_forward(x, *params, out=None)`` and
``<stem>_backward(dout, saved, *params, dx=None)`` with ``saved`` the forward's output
(``saves == "output"``) or its input. Each Case carries the error bounds of its kernels,
derived in the Case's docstring; ``U = 2^-24`` is float32's unit roundoff and
``ulp(r) = 2^(e-24)`` for |r| in [2^(e-1), 2^e) (so one ulp is between U|r| and 2U|r|).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest

import fastmlp
from fastmlp import kernels, reference
from helpers import U, fd_grad, signature_params

FLT_MIN = float(np.finfo(np.float32).tiny)

# 1, 2, primes, sizes not multiples of 8/16 (vector tails), empty, any ndim, and above
# the 32768-element parallel threshold (300*257 = 77100, 70001).
SHAPES = [(1,), (2,), (7,), (31,), (7, 13), (0,), (3, 0), (17, 5, 3), (257,), (1000,), (300, 257),
          (70001,), ()]


def ulp(r):
    """ulp of float64 values r as float32 sees them (at least the smallest subnormal's)."""
    r = np.abs(np.asarray(r, np.float64))
    _, e = np.frexp(r)
    return np.ldexp(1.0, np.maximum(e - 24, -149))


@dataclasses.dataclass
class Case:
    stem: str
    saves: str  # "output" | "input"
    params: dict  # keyword params for the kernels and the reference (float32-exact values)
    fwd_tol: Callable  # (x, r) -> allowed |y - r| elementwise
    bwd_tol: Callable  # (dout, saved, r) -> allowed |dx - r|
    scale: float = 1.0  # input scale of the random data

    @property
    def fwd(self):
        return getattr(kernels, self.stem + "_forward")

    @property
    def bwd(self):
        return getattr(kernels, self.stem + "_backward")

    @property
    def rfwd(self):
        return getattr(reference, self.stem + "_forward")

    @property
    def rbwd(self):
        return getattr(reference, self.stem + "_backward")

    def data(self, rng, shape):
        return np.array(rng.standard_normal(shape) * self.scale, dtype=np.float32)

    def saved(self, x):
        """What the backward reads: the kernel's own float32 output, or x."""
        return self.fwd(x, **self.params) if self.saves == "output" else x


def check_signatures(case: Case):
    for name in (case.stem + "_forward", case.stem + "_backward"):
        ours, ref = signature_params(name)
        assert [p.name for p in ours[: len(ref)]] == [p.name for p in ref], name
        assert [p.default for p in ours[: len(ref)]] == [p.default for p in ref], name
        assert all(p.default is None for p in ours[len(ref):]), name


def within(got, ref, tol, what):
    got = np.asarray(got, np.float64)
    err = np.abs(got - ref)
    flushed = (np.abs(ref) < FLT_MIN) & (got == 0)  # FTZ: a subnormal result may be 0
    bad = ~((err <= tol) | flushed | (np.isnan(got) & np.isnan(ref)) | (got == ref))
    if bad.any():
        i = np.flatnonzero(bad.reshape(-1))[0]
        raise AssertionError(f"{what}: {bad.sum()} elements out of bounds, first at flat index {i}: "
                             f"got {got.reshape(-1)[i]!r}, reference {ref.reshape(-1)[i]!r}, "
                             f"tolerance {np.broadcast_to(tol, ref.shape).reshape(-1)[i]!r}")


def check_forward(case: Case, rng, shape):
    x = case.data(rng, shape)
    x0 = x.copy()
    y = case.fwd(x, **case.params)
    assert y.dtype == np.float32 and y.shape == x.shape
    r = case.rfwd(x, **case.params)
    within(y, r, case.fwd_tol(x.astype(np.float64), r), f"{case.stem}_forward")
    np.testing.assert_array_equal(x, x0)  # input untouched
    out = np.full(shape, 7.0, np.float32)
    assert case.fwd(x, **case.params, out=out) is out
    np.testing.assert_array_equal(out, y)
    assert case.fwd(x, **case.params, out=x) is x  # in place
    np.testing.assert_array_equal(x, y)


def check_backward(case: Case, rng, shape):
    x = case.data(rng, shape)
    s = case.saved(x)
    dout = np.array(rng.standard_normal(shape), dtype=np.float32)
    dx = case.bwd(dout, s, **case.params)
    assert dx.dtype == np.float32 and dx.shape == dout.shape
    r = case.rbwd(dout, s, **case.params)
    within(dx, r, case.bwd_tol(dout.astype(np.float64), s.astype(np.float64), r), f"{case.stem}_backward")
    buf = np.full(shape, 7.0, np.float32)
    assert case.bwd(dout, s, **case.params, dx=buf) is buf
    np.testing.assert_array_equal(buf, dx)
    d = dout.copy()
    assert case.bwd(d, s, **case.params, dx=d) is d  # in place on dout
    np.testing.assert_array_equal(d, dx)
    s2 = s.copy()
    assert case.bwd(dout, s2, **case.params, dx=s2) is s2  # in place on the saved array
    np.testing.assert_array_equal(s2, dx)


def check_reference_backward_is_fd(case: Case, rng):
    """The reference backward is the derivative of the reference forward: central finite
    differences of sum(dout * f(x)) in float64 (error ~1e-9, see helpers.fd_grad), at
    points away from a kink (|x| > 1e-3; leaky_relu and elu have one at 0)."""
    x = rng.standard_normal(23) * case.scale
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    dout = rng.standard_normal(23)
    g = fd_grad(lambda v: float(np.sum(dout * case.rfwd(v, **case.params))), x)
    s = case.rfwd(x, **case.params) if case.saves == "output" else x
    np.testing.assert_allclose(case.rbwd(dout, s, **case.params), g, rtol=1e-6, atol=1e-7)


def check_bitwise(case: Case, rng, thread_count):
    """1 vs 2 threads, and an element's result never depends on its position or n: the
    same values computed at every offset into the vector (tails of every length)."""
    n = 3 * 65537
    x = case.data(rng, n)
    dout = rng.standard_normal(n).astype(np.float32)
    res = {}
    for t in (1, 2):
        thread_count(t)
        y = case.fwd(x, **case.params)
        res[t] = (y, case.bwd(dout, case.saved(x), **case.params))
    assert np.array_equal(res[1][0].view(np.uint32), res[2][0].view(np.uint32))
    assert np.array_equal(res[1][1].view(np.uint32), res[2][1].view(np.uint32))
    y, dx = res[1]
    s = case.saved(x)
    for off in range(0, 19):
        for m in (1, 5, 16, 17, 33):
            sl = slice(off, off + m)
            assert np.array_equal(case.fwd(x[sl], **case.params).view(np.uint32), y[sl].view(np.uint32))
            assert np.array_equal(case.bwd(dout[sl], s[sl], **case.params).view(np.uint32),
                                  dx[sl].view(np.uint32))


def check_isa_agreement(case: Case, rng):
    """AVX-512 and AVX2 run the same operations: bitwise equal. (The generic path is
    checked against the reference only: it has no FMA.)"""
    isas = [i for i in ("avx512", "avx2") if i in fastmlp.available_cpu_capabilities()]
    if len(isas) < 2:
        pytest.skip("needs both AVX-512 and AVX2")
    x = case.data(rng, 4099)
    x[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40]
    dout = rng.standard_normal(4099).astype(np.float32)
    prev = fastmlp.cpu_capability()
    out = {}
    try:
        for isa in isas:
            fastmlp._set_cpu_capability(isa)
            out[isa] = (case.fwd(x, **case.params), case.bwd(dout, case.saved(x), **case.params))
    finally:
        fastmlp._set_cpu_capability(prev)
    a, b = out[isas[0]], out[isas[1]]
    assert np.array_equal(a[0].view(np.uint32), b[0].view(np.uint32))
    assert np.array_equal(a[1].view(np.uint32), b[1].view(np.uint32))


def check_specials(case: Case):
    """NaN in -> NaN out (forward, and backward through dout); +-inf and +-0 as the
    reference; subnormal inputs read as +-0 (DAZ): the result is f(+-0) or f(x)."""
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 3.0, -3.0], np.float32)
    with np.errstate(all="ignore"):
        r = case.rfwd(x.astype(np.float64), **case.params)
        r0 = case.rfwd(np.array([0.0, -0.0]), **case.params)
    y = case.fwd(x, **case.params).astype(np.float64)
    assert np.isnan(y[0])
    for i in (1, 2):
        assert y[i] == r[i] or (np.isnan(y[i]) and np.isnan(r[i])), (x[i], y[i], r[i])
    within(y[3:5], r[3:5], case.fwd_tol(x[3:5].astype(np.float64), r[3:5]), "f(+-0)")
    assert np.signbit(y[3]) == np.signbit(r[3]) or y[3] != 0
    for i, z in ((5, 0), (6, 1)):
        assert y[i] == r0[z] or abs(y[i] - r[i]) <= case.fwd_tol(x[i:i + 1].astype(np.float64), r[i:i + 1])[0] \
            or (abs(r[i]) < FLT_MIN and y[i] == 0), (x[i], y[i])
    s = case.saved(np.array([1.0, -1.0], np.float32))
    dx = case.bwd(np.array([np.nan, np.nan], np.float32), s, **case.params)
    assert np.isnan(dx).all()


def check_bad_input(case: Case):
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="x"):
        case.fwd("abc", **case.params)
    with pytest.raises(TypeError, match="x"):
        case.fwd(None, **case.params)
    with pytest.raises(TypeError, match="out"):
        case.fwd(x, **case.params, out=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="out"):
        case.fwd(x, **case.params, out=np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="out"):
        case.fwd(x, **case.params, out=np.zeros((3, 8), np.float32)[:, ::2])
    ro = np.zeros((3, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        case.fwd(x, **case.params, out=ro)
    buf = np.arange(13, dtype=np.float32)
    with pytest.raises(ValueError, match="out"):  # partial overlap with x
        case.fwd(buf[:12], **case.params, out=buf[1:])
    np.testing.assert_array_equal(buf, np.arange(13))  # nothing written
    saved_name = "y" if case.saves == "output" else ("saved" if case.stem == "identity" else "x")
    with pytest.raises(ValueError, match=saved_name):
        case.bwd(x, np.zeros((4, 3), np.float32), **case.params)
    with pytest.raises(TypeError, match="dx"):
        case.bwd(x, x, **case.params, dx=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="dx"):
        case.bwd(x, x, **case.params, dx=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="dx"):
        case.bwd(buf[1:], np.ones(12, np.float32), **case.params, dx=buf[:12])
    with pytest.raises(ValueError, match=saved_name):
        case.bwd(np.ones(12, np.float32), buf[1:], **case.params, dx=buf[:12])
    for key in case.params:
        if isinstance(case.params[key], str):
            continue
        for bad, exc in ((float("nan"), ValueError), (float("inf"), ValueError), (1e39, ValueError),
                         ("0.1", TypeError), (None, TypeError)):
            p = dict(case.params, **{key: bad})
            with pytest.raises(exc, match=key):
                case.fwd(x, **p)
            with pytest.raises(exc, match=key):
                case.bwd(x, x, **p)


def make_tests(cases):
    """The test functions of a tests/test_<stem>.py, over its Cases: put them in the
    module with ``globals().update(make_tests(CASES))``."""

    @pytest.fixture(params=cases, ids=[f"{c.stem}{c.params or ''}" for c in cases])
    def case(request):
        return request.param

    def test_signatures(case):
        check_signatures(case)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_forward(case, rng, isa, threads, shape):
        check_forward(case, rng, shape)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_backward(case, rng, isa, threads, shape):
        check_backward(case, rng, shape)

    def test_reference_backward_is_fd(case, rng):
        check_reference_backward_is_fd(case, rng)

    def test_bitwise_threads_and_positions(case, rng, isa, thread_count):
        check_bitwise(case, rng, thread_count)

    def test_avx512_equals_avx2(case, rng):
        check_isa_agreement(case, rng)

    def test_specials(case, isa):
        check_specials(case)

    def test_bad_input(case):
        check_bad_input(case)

    return {k: v for k, v in locals().items() if k.startswith("test_") or k == "case"}
