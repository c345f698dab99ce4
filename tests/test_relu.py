"""relu_forward / relu_backward against the float64 reference, every ISA path, 1 and 2 threads.

Tolerance: none. max(x, 0) and the backward's select (out <= 0 ? 0 : dout) are
exact in float32, so the float32 result must equal the float64 reference
rounded to float32, NaN for NaN (assert_array_equal treats NaN as equal).
"""

import numpy as np
import pytest

import fastmlp
from fastmlp import kernels, reference
from helpers import signature_params


# 1, 2, primes, sizes not multiples of 16/64, empty, any ndim, and sizes
# above the 65536-element parallel threshold (300*257 = 77100).
SHAPES = [(1,), (2,), (7, 13), (0,), (3, 0), (17, 5, 3), (1000,), (300, 257), (65537,), ()]


def data(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    if flat.size >= 8:  # specials: NaN, +-inf, -0.0, +0.0 propagate like the reference
        flat[:5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    return x


def f32(a):
    return np.asarray(a, dtype=np.float32)


def test_signatures_extend_reference():
    for name in ("relu_forward", "relu_backward", "bias_grad"):
        ours, ref = signature_params(name)
        assert ours[: len(ref)] == ref, name
        assert all(p.default is None for p in ours[len(ref):]), name


@pytest.mark.parametrize("shape", SHAPES)
def test_relu_forward(rng, isa, threads, shape):
    x = data(rng, shape)
    x0 = x.copy()
    y = kernels.relu_forward(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, f32(reference.relu_forward(x)))
    np.testing.assert_array_equal(x, x0)  # input untouched

    out = np.full(shape, 7.0, np.float32)
    assert kernels.relu_forward(x, out) is out
    np.testing.assert_array_equal(out, y)

    assert kernels.relu_forward(x, out=x) is x  # in place
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("shape", SHAPES)
def test_relu_backward(rng, isa, threads, shape):
    out = f32(reference.relu_forward(data(rng, shape)))
    out.reshape(-1)[5:9] = [1e-3, -0.0, 0.0, np.nan][: max(0, min(4, out.size - 5))]
    dout = data(rng, shape)
    ref = f32(reference.relu_backward(dout, out))
    dx = kernels.relu_backward(dout, out)
    assert dx.dtype == np.float32 and dx.shape == dout.shape
    np.testing.assert_array_equal(dx, ref)

    buf = np.full(shape, 7.0, np.float32)
    assert kernels.relu_backward(dout, out, buf) is buf
    np.testing.assert_array_equal(buf, ref)

    d = dout.copy()
    assert kernels.relu_backward(d, out, dx=d) is d  # in place on dout
    np.testing.assert_array_equal(d, ref)


def test_relu_converts_inputs(rng):
    x = rng.standard_normal((9, 14))  # float64, and a non-contiguous view
    np.testing.assert_array_equal(kernels.relu_forward(x), f32(reference.relu_forward(f32(x))))
    v = f32(x)[:, ::3]
    np.testing.assert_array_equal(kernels.relu_forward(v), f32(reference.relu_forward(v)))
    np.testing.assert_array_equal(kernels.relu_forward([[-1, 2], [3, -4]]), [[0, 2], [3, 0]])
    dout = rng.standard_normal((9, 14))
    np.testing.assert_array_equal(kernels.relu_backward(dout, x),
                                  f32(reference.relu_backward(f32(dout), f32(x))))


@pytest.mark.parametrize("n", [1 << 17, 3 * 65537])
def test_bitwise_1_vs_2_threads(rng, thread_count, n):
    x = rng.standard_normal(n).astype(np.float32)
    dout = rng.standard_normal(n).astype(np.float32)
    res = {}
    for t in (1, 2):
        thread_count(t)
        y = kernels.relu_forward(x)
        res[t] = (y, kernels.relu_backward(dout, y))
    assert np.array_equal(res[1][0], res[2][0]) and np.array_equal(res[1][1], res[2][1])


def test_denormals(isa, threads):
    # Kernels run with FTZ/DAZ: a positive denormal input may come out as is
    # (exact) or as 0 (flushed); a negative one is 0 either way. No slowdown,
    # no other value is possible.
    tiny = np.float32(1e-40)
    x = np.array([tiny, -tiny, np.float32(1e-45), 1.0, -1.0] * 20000, np.float32)
    y = kernels.relu_forward(x)
    exact = np.maximum(x, 0)
    assert np.all((y == exact) | (y == 0))
    assert np.all(y[x <= 0] == 0) and np.all(y[x == 1] == 1)
    out = np.ones_like(x)
    dx = kernels.relu_backward(x, out)
    assert np.all((dx == x) | (dx == 0))
    assert np.all(dx[np.abs(x) >= 1] == x[np.abs(x) >= 1])


class TestBadInput:
    def test_x(self):
        with pytest.raises(TypeError, match="x"):
            kernels.relu_forward("abc")
        with pytest.raises(TypeError, match="x"):
            kernels.relu_forward(None)
        with pytest.raises(TypeError, match="x"):
            kernels.relu_forward(np.array(["a"]))

    def test_out(self):
        x = np.zeros((3, 4), np.float32)
        with pytest.raises(TypeError, match="out"):
            kernels.relu_forward(x, np.zeros((3, 4)))  # float64
        with pytest.raises(TypeError, match="out"):
            kernels.relu_forward(x, [[0.0] * 4] * 3)  # not an ndarray
        with pytest.raises(ValueError, match="out"):
            kernels.relu_forward(x, np.zeros((4, 3), np.float32))
        with pytest.raises(ValueError, match="out"):
            kernels.relu_forward(x, np.zeros(12, np.float32))
        with pytest.raises(ValueError, match="out"):
            kernels.relu_forward(x, np.zeros((3, 8), np.float32)[:, ::2])  # non-contiguous
        ro = np.zeros((3, 4), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="out"):
            kernels.relu_forward(x, ro)
        buf = np.arange(13, dtype=np.float32)
        with pytest.raises(ValueError, match="out"):  # partial overlap with x
            kernels.relu_forward(buf[:12], buf[1:])
        np.testing.assert_array_equal(buf, np.arange(13))  # nothing written

    def test_backward(self):
        dout = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match="out"):
            kernels.relu_backward(dout, np.zeros((4, 3), np.float32))
        with pytest.raises(TypeError, match="dx"):
            kernels.relu_backward(dout, dout, np.zeros((3, 4), np.float64))
        with pytest.raises(ValueError, match="dx"):
            kernels.relu_backward(dout, dout, np.zeros((3, 5), np.float32))
        ro = np.zeros((3, 4), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="dx"):
            kernels.relu_backward(dout, dout, ro)
        with pytest.raises(ValueError, match="dx"):
            kernels.relu_backward(dout, dout, np.zeros((3, 8), np.float32)[:, ::2])
        buf = np.ones(13, np.float32)
        with pytest.raises(ValueError, match="dx"):
            kernels.relu_backward(buf[1:], np.ones(12, np.float32), buf[:12])


@pytest.mark.parametrize("n", [1, 7, 31, 257, 70001])
def test_backward_selects_like_threshold_backward(rng, isa, threads, n):
    """PyTorch's threshold_backward (ReLU's backward) is ``y <= 0 ? 0 : dout``: an inf
    or NaN dout gives 0 where y <= 0 (a multiply by the mask would give NaN), and a
    NaN y passes dout. Every ISA path, 1 and 2 threads, lengths across the vector
    widths, the head to a 64-byte line and the parallel threshold; exact (a select)."""
    y = np.maximum(rng.standard_normal(n), 0).astype(np.float32)
    dout = rng.standard_normal(n).astype(np.float32)
    specials = np.array([np.inf, -np.inf, np.nan], np.float32)
    dout[rng.random(n) < 0.3] = specials[rng.integers(0, 3)]
    y[rng.random(n) < 0.05] = np.nan
    y[rng.random(n) < 0.05] = -0.0
    expect = np.where(y <= 0, np.float32(0), dout)
    for off in (0, 1, 5):  # misaligned starts: the head before a 64-byte line
        dx = kernels.relu_backward(dout[off:], y[off:])
        np.testing.assert_array_equal(dx, expect[off:])
        assert not np.signbit(dx[y[off:] <= 0]).any()  # +0, as torch's scalar 0
    np.testing.assert_array_equal(f32(reference.relu_backward(dout, y)), expect)


def _llc_bytes():
    caches = fastmlp._core.gemm_config()["caches"]
    return caches[-1]["size"] if caches else 0


@pytest.mark.parametrize("name, kw", [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}),
                                      ("gelu", {})])
def test_streamed_stores_same_bits(rng, isa, threads, name, kw):
    """Calls whose arrays exceed the last-level cache write with non-temporal stores
    (activation.cpp), never in place: the out-of-place result (streamed) must equal the
    in-place one (ordinary stores) bit for bit, forward and backward, at a length that is
    no multiple of a vector and a start off a 64-byte line. Exact: the same arithmetic."""
    llc = _llc_bytes()
    if not llc:
        pytest.skip("cache size unknown: nothing is streamed")
    n = llc // 8 + 1237  # 2 arrays of n floats > llc bytes
    x = rng.standard_normal(n + 3).astype(np.float32)[3:]
    d = rng.standard_normal(n + 3).astype(np.float32)[3:]
    fwd = getattr(kernels, name + "_forward")
    bwd = getattr(kernels, name + "_backward")
    y = fwd(x, **kw)
    y_in = x.copy()
    fwd(y_in, out=y_in, **kw)
    assert np.array_equal(y.view(np.uint32), y_in.view(np.uint32))
    saved = y if name == "relu" else x
    dx = bwd(d, saved, **kw)
    dx_in = d.copy()
    bwd(dx_in, saved, dx=dx_in, **kw)
    assert np.array_equal(dx.view(np.uint32), dx_in.view(np.uint32))
