"""huber_loss (F.huber_loss, nn.HuberLoss) against its float64 twin: the shared suite
(tests/loss_suite.py, which derives the tolerance) at several deltas, plus Huber's own
cases."""
import numpy as np

from fastmlp import kernels, nn
from fastmlp import functional as F
from loss_suite import ElementwiseLossSuite

D = [0.5, 2.0, -3.0, 1.0, -1.0, 0.0]  # d = pred - target of the known values


class TestHuberLoss(ElementwiseLossSuite):
    name = "huber_loss"
    function = staticmethod(F.huber_loss)
    module = nn.HuberLoss
    # 1 (the default), one below and one above most |d| of the data (d has std ~3.2)
    option_sets = [{"delta": 1.0}, {"delta": 0.3}, {"delta": 7.5}]
    bad_options = [({"delta": 0.0}, "delta"), ({"delta": -1.0}, "delta"), ({"delta": np.nan}, "delta")]
    repr_example = ({"reduction": "sum", "delta": 0.5}, "HuberLoss(reduction='sum', delta=0.5)")

    # |d| < delta is quadratic, |d| >= delta linear; at |d| == delta both agree
    known_values = [({"delta": 1.0}, D, [0.125, 1.5, 2.5, 0.5, 0.5, 0.0], [0.5, 1.0, -1.0, 1.0, -1.0, 0.0]),
                    ({"delta": 2.0}, D, [0.125, 2.0, 4.0, 0.5, 0.5, 0.0], [0.5, 2.0, -2.0, 1.0, -1.0, 0.0])]

    def kinks(self, options):
        return [options["delta"]]  # the second derivative jumps there


def test_large_delta_is_half_the_squared_error(rng):
    p = rng.standard_normal(100).astype(np.float32)
    t = rng.standard_normal(100).astype(np.float32)
    loss, d = kernels.huber_loss(p, t, delta=np.inf, reduction="none")
    mse, dm = kernels.mse_loss(p, t, reduction="none")
    np.testing.assert_allclose(loss, 0.5 * mse, rtol=1e-6)
    np.testing.assert_allclose(d, 0.5 * dm, rtol=1e-6)
