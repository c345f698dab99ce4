"""The tests log_softmax and softmax (the kernels over the last dimension) both take,
written once: tests/test_log_softmax.py and tests/test_softmax.py subclass
:class:`RowSoftmaxSuite` (collected only under a ``Test`` name).

Tolerance: each kernel forms d = x - max exactly in double, exp, the row sum and its log
in double (a few 2**-53 relative each), and rounds each output to float32 once (2**-24
relative). softmax: RTOL = 1e-6 (16x margin), ATOL = 0. log_softmax: y = d - lse can
cancel (the row's largest entry has y near 0): its double error is ~4 * 2**-53 * (|d| +
|lse|) absolute, <= 1e-14 for the data here (|x| < ~40), so ATOL = 1e-12.
"""
import numpy as np
import pytest

from fastmlp import kernels, reference
from helpers import fd_grad, signature_params

# 1-D, one class, primes, rows above and below the 32768-element parallel threshold, 3-D,
# no rows, rows at and past the 256 whose softmax exps are kept (row_softmax.h)
SHAPES = [(1,), (7,), (1, 1), (3, 5), (13, 17), (0, 4), (2, 3, 5), (64, 10), (1000, 37),
          (3, 65537), (5, 256), (5, 257)]


class RowSoftmaxSuite:
    name = ""  #: kernels.<name> and reference.<name>
    RTOL, ATOL = 1e-6, 0.0

    def kernel(self, *args, **kw):
        return getattr(kernels, self.name)(*args, **kw)

    def twin(self, x):
        return getattr(reference, self.name)(x)

    def data(self, rng, shape):
        return np.asarray(rng.standard_normal(shape) * 5, np.float32)

    def check(self, got, x):
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, self.twin(x), rtol=self.RTOL, atol=self.ATOL)

    def test_signature_extends_reference(self):
        ours, ref = signature_params(self.name)
        assert ours[: len(ref)] == ref
        assert [p.name for p in ours[len(ref):]] == ["out"]

    @pytest.mark.parametrize("shape", SHAPES)
    def test_against_twin(self, rng, isa, threads, shape):
        x = self.data(rng, shape)
        x0 = x.copy()
        self.check(self.kernel(x), x0)
        np.testing.assert_array_equal(x, x0)
        out = np.full(shape, np.nan, np.float32)
        assert self.kernel(x, out=out) is out
        self.check(out, x0)
        assert self.kernel(x, out=x) is x  # in place
        self.check(x, x0)

    def test_bitwise_1_vs_2_threads(self, rng, thread_count):
        x = self.data(rng, (513, 129))
        res = {}
        for t in (1, 2):
            thread_count(t)
            res[t] = self.kernel(x)
        assert np.array_equal(res[1], res[2])

    def test_stable_for_large_and_infinite_inputs(self):
        x = np.array([[1e30, 0.0, -1e30], [-np.inf, 0.0, 1.0], [88.0, 89.0, 90.0]], np.float32)
        got = self.kernel(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            want = self.twin(x)
        np.testing.assert_allclose(got, want, rtol=self.RTOL, atol=self.ATOL)
        assert not np.isnan(got).any()

    def test_nan_makes_its_row_nan(self):
        x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], np.float32)
        got = self.kernel(x)
        assert np.isnan(got[0]).all() and not np.isnan(got[1]).any()

    def test_bad_input(self):
        x = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match="x"):
            self.kernel(np.float32(1.0))
        with pytest.raises(TypeError, match="x"):
            self.kernel("x")
        with pytest.raises(TypeError, match="out"):
            self.kernel(x, out=np.zeros((3, 4)))
        for bad in (np.zeros((4, 3), np.float32), np.zeros((3, 8), np.float32)[:, ::2]):
            with pytest.raises(ValueError, match="out"):
                self.kernel(x, out=bad)
        buf = np.zeros(13, np.float32)
        with pytest.raises(ValueError, match="out"):
            self.kernel(buf[:12].reshape(3, 4), out=buf[1:].reshape(3, 4))


# ------------------------------------------------------------ backward (issue 10) --


class RowSoftmaxBackwardSuite:
    """``<name>_backward(dout, y)`` against its twin (y = the forward kernel's output), by
    finite differences of the forward twin, aliasing, threads and bad inputs.

    Tolerance: the kernel reads the same float32 dout and y as the twin; it forms the row
    sum in double (C additions: within C 2**-53 sum_c|term_c| of exact), exp in double
    (< 2**-52 relative), one product and one difference in double, and rounds dx to
    float32 once (u relative). So |dx - exact| <= u |exact| + (C + 4) 2**-53 M, with
    M = |dout_c| + f(y_c) sum_c |dout_c y_c'| the magnitudes involved (see ``bound``).
    We allow 2u relative plus 4x that double part.
    """

    name = ""  #: the forward kernel; the backward is <name>_backward

    def backward(self, *args, **kw):
        return getattr(kernels, self.name + "_backward")(*args, **kw)

    def twin(self, dout, y):
        return getattr(reference, self.name + "_backward")(dout, y)

    def forward_output(self, rng, shape):
        x = np.asarray(rng.standard_normal(shape) * 3, np.float32)
        return getattr(kernels, self.name)(x)

    def bound(self, dout, y):
        """The double part of the error bound: (C + 4) 2**-53 M, elementwise."""
        d, y = np.abs(dout.astype(np.float64)), y.astype(np.float64)
        C = dout.shape[-1] if dout.ndim else 1
        if self.name == "log_softmax":
            m = d + np.exp(y) * d.sum(axis=-1, keepdims=True)
        else:
            m = y * (d + (d * y).sum(axis=-1, keepdims=True))
        return (C + 4) * 2.0 ** -53 * m

    def check(self, got, dout, y):
        want = self.twin(dout, y)
        assert got.dtype == np.float32 and got.shape == dout.shape
        err = np.abs(got.astype(np.float64) - want)
        assert np.all(err <= 2 * 2.0 ** -24 * np.abs(want) + 4 * self.bound(dout, y))

    def test_signature_extends_reference(self):
        ours, ref = signature_params(self.name + "_backward")
        assert ours[: len(ref)] == ref
        assert [p.name for p in ours[len(ref):]] == ["dx"]

    @pytest.mark.parametrize("shape", SHAPES)
    def test_against_twin(self, rng, isa, threads, shape):
        y = self.forward_output(rng, shape)
        dout = np.asarray(rng.standard_normal(shape), np.float32)
        d0, y0 = dout.copy(), y.copy()
        self.check(self.backward(dout, y), d0, y0)
        np.testing.assert_array_equal(dout, d0)
        np.testing.assert_array_equal(y, y0)
        out = np.full(shape, np.nan, np.float32)
        assert self.backward(dout, y, dx=out) is out
        self.check(out, d0, y0)
        assert self.backward(dout, y, dx=dout) is dout  # in place over dout
        self.check(dout, d0, y0)
        assert self.backward(d0, y, dx=y) is y  # in place over y
        self.check(y, d0, y0)

    @pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 3, 4)])
    def test_twin_by_finite_differences(self, rng, shape):
        """d/dx sum(dout * f(x)) is <name>_backward(dout, f(x)): central differences of the
        float64 forward twin, error ~ eps**2 (truncation, 1e-12 for these smooth f) +
        2**-53 |L| / eps (rounding, ~1e-10): atol 1e-8."""
        x = rng.standard_normal(shape) * 2
        dout = rng.standard_normal(shape)
        fwd = getattr(reference, self.name)
        fd = fd_grad(lambda z: float((dout * fwd(z)).sum()), x)
        np.testing.assert_allclose(self.twin(dout, fwd(x)), fd, atol=1e-8)

    def test_bitwise_1_vs_2_threads(self, rng, thread_count):
        y = self.forward_output(rng, (513, 129))
        dout = np.asarray(rng.standard_normal((513, 129)), np.float32)
        res = {}
        for t in (1, 2):
            thread_count(t)
            res[t] = self.backward(dout, y)
        assert np.array_equal(res[1], res[2])

    def test_bad_input(self):
        g = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match="dout"):
            self.backward(np.float32(1.0), np.float32(1.0))
        with pytest.raises(TypeError, match="dout"):
            self.backward("g", g)
        with pytest.raises(TypeError, match="y"):
            self.backward(g, "y")
        with pytest.raises(ValueError, match="y"):
            self.backward(g, np.zeros((4, 3), np.float32))
        with pytest.raises(TypeError, match="dx"):
            self.backward(g, g, dx=np.zeros((3, 4)))
        for bad in (np.zeros((4, 3), np.float32), np.zeros((3, 8), np.float32)[:, ::2]):
            with pytest.raises(ValueError, match="dx"):
                self.backward(g, g, dx=bad)
        buf = np.zeros(13, np.float32)
        with pytest.raises(ValueError, match="dx"):
            self.backward(buf[:12].reshape(3, 4), g, dx=buf[1:].reshape(3, 4))
        with pytest.raises(ValueError, match="dx"):
            self.backward(g, buf[:12].reshape(3, 4), dx=buf[1:].reshape(3, 4))
