"""softmax against its float64 twin: the shared suite (tests/row_softmax_suite.py, which
derives the tolerance) plus softmax's own cases."""
import numpy as np

from fastmlp import kernels
from row_softmax_suite import RowSoftmaxBackwardSuite, RowSoftmaxSuite


class TestSoftmax(RowSoftmaxSuite):
    name = "softmax"


def test_rows_sum_to_one(rng):
    """Each of C outputs is within 2**-24 relative of exact, so the row sum is within
    C * 2**-24 of 1."""
    x = rng.standard_normal((50, 11)).astype(np.float32) * 4
    y = kernels.softmax(x)
    np.testing.assert_allclose(y.astype(np.float64).sum(axis=1), 1.0, rtol=11 * 2.0 ** -24)
    assert (y >= 0).all()


class TestSoftmaxBackward(RowSoftmaxBackwardSuite):
    """softmax_backward: the shared backward suite (tests/row_softmax_suite.py derives its
    tolerance)."""
    name = "softmax"


def test_backward_of_a_constant_gradient_is_zero(rng):
    """softmax's outputs sum to 1, so a gradient constant along a row has no effect:
    softmax_backward(c, y) = y * (c - c * sum(y)), with |1 - sum(y)| <= C u (above): within
    |c| C u y of 0; atol |c| 2 C u (2x margin)."""
    y = kernels.softmax((rng.standard_normal((50, 11)) * 4).astype(np.float32))
    dx = kernels.softmax_backward(np.full_like(y, 3.0), y)
    np.testing.assert_allclose(dx, 0.0, atol=3.0 * 2 * 11 * 2.0 ** -24)
