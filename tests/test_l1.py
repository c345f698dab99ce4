"""l1_loss (F.l1_loss, nn.L1Loss) against its float64 twin: the shared suite
(tests/loss_suite.py, which derives the tolerance) plus L1's own cases."""
import numpy as np

from fastmlp import kernels, nn
from fastmlp import functional as F
from loss_suite import ElementwiseLossSuite


class TestL1Loss(ElementwiseLossSuite):
    name = "l1_loss"
    function = staticmethod(F.l1_loss)
    module = nn.L1Loss

    def kinks(self, options):
        return [0.0]


def test_gradient_is_zero_where_equal_and_nan_propagates():
    p = np.array([1.0, 2.0, -3.0, np.nan, 0.0], np.float32)
    t = np.array([1.0, 1.0, 0.0, 0.0, np.nan], np.float32)
    loss, d = kernels.l1_loss(p, t, reduction="none")
    np.testing.assert_array_equal(loss, [0.0, 1.0, 3.0, np.nan, np.nan])
    np.testing.assert_array_equal(d, [0.0, 1.0, -1.0, np.nan, np.nan])
    loss, d = kernels.l1_loss(p[:3], t[:3])
    assert loss == float(np.float32(4 / 3)) and d.tolist() == [0.0, np.float32(1 / 3), np.float32(-1 / 3)]
