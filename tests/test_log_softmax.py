"""log_softmax against its float64 twin: the shared suite (tests/row_softmax_suite.py,
which derives the tolerance) plus log_softmax's own cases."""
import numpy as np

from fastmlp import kernels
from row_softmax_suite import RowSoftmaxSuite


class TestLogSoftmax(RowSoftmaxSuite):
    name = "log_softmax"
    ATOL = 1e-12


def test_exp_sums_to_one_and_matches_softmax(rng):
    x = rng.standard_normal((50, 11)).astype(np.float32) * 4
    y = kernels.log_softmax(x)
    np.testing.assert_allclose(np.exp(y.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(y), kernels.softmax(x), rtol=2e-6)
