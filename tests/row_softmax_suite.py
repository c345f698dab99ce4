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
from helpers import signature_params

# 1-D, one class, primes, rows above and below the 32768-element parallel threshold, 3-D,
# no rows
SHAPES = [(1,), (7,), (1, 1), (3, 5), (13, 17), (0, 4), (2, 3, 5), (64, 10), (1000, 37),
          (3, 65537)]


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
