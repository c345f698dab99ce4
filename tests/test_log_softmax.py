"""log_softmax against its float64 twin: the shared suite (tests/row_softmax_suite.py,
which derives the tolerance) plus log_softmax's own cases."""
import numpy as np

from fastmlp import kernels
from row_softmax_suite import RowSoftmaxBackwardSuite, RowSoftmaxSuite


class TestLogSoftmax(RowSoftmaxSuite):
    name = "log_softmax"
    ATOL = 1e-12


def test_exp_sums_to_one_and_matches_softmax(rng):
    x = rng.standard_normal((50, 11)).astype(np.float32) * 4
    y = kernels.log_softmax(x)
    np.testing.assert_allclose(np.exp(y.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(y), kernels.softmax(x), rtol=2e-6)


class TestLogSoftmaxBackward(RowSoftmaxBackwardSuite):
    """log_softmax_backward: the shared backward suite (tests/row_softmax_suite.py derives its
    tolerance)."""
    name = "log_softmax"


def test_backward_of_nll_is_cross_entropys_gradient(rng):
    """log_softmax_backward(nll_loss's dinput, log_softmax(z)) is d cross_entropy / dz,
    softmax(z) - onehot (over N for "mean"): two float32 pipelines, each within a few u of
    exact for entries of magnitude <= 1 (cross_entropy's own bound is 32u): atol 64u."""
    z = (rng.standard_normal((40, 9)) * 2).astype(np.float32)
    t = rng.integers(0, 9, 40)
    y = kernels.log_softmax(z)
    dx = kernels.log_softmax_backward(kernels.nll_loss(y, t, reduction="sum")[1], y)
    np.testing.assert_allclose(dx, kernels.cross_entropy(z, t, reduction="sum")[1], rtol=0,
                               atol=64 * 2.0 ** -24)
