"""softmax against its float64 twin: the shared suite (tests/row_softmax_suite.py, which
derives the tolerance) plus softmax's own cases."""
import numpy as np

from fastmlp import kernels
from row_softmax_suite import RowSoftmaxSuite


class TestSoftmax(RowSoftmaxSuite):
    name = "softmax"


def test_rows_sum_to_one(rng):
    """Each of C outputs is within 2**-24 relative of exact, so the row sum is within
    C * 2**-24 of 1."""
    x = rng.standard_normal((50, 11)).astype(np.float32) * 4
    y = kernels.softmax(x)
    np.testing.assert_allclose(y.astype(np.float64).sum(axis=1), 1.0, rtol=11 * 2.0 ** -24)
    assert (y >= 0).all()
