"""smooth_l1_loss (F.smooth_l1_loss, nn.SmoothL1Loss) against its float64 twin: the
shared suite (tests/loss_suite.py, which derives the tolerance) at several betas, beta
== 0 (the L1 loss) included, plus Smooth L1's own cases."""
import numpy as np

from fastmlp import kernels, nn
from fastmlp import functional as F
from loss_suite import ElementwiseLossSuite

D = [0.5, 2.0, -3.0, 1.0, -1.0, 0.0]  # d = pred - target of the known values


class TestSmoothL1Loss(ElementwiseLossSuite):
    name = "smooth_l1_loss"
    function = staticmethod(F.smooth_l1_loss)
    module = nn.SmoothL1Loss
    option_sets = [{"beta": 1.0}, {"beta": 0.25}, {"beta": 6.0}, {"beta": 0.0}]
    bad_options = [({"beta": -0.5}, "beta"), ({"beta": np.nan}, "beta")]
    repr_example = ({"reduction": "none", "beta": 0.0}, "SmoothL1Loss(reduction='none', beta=0.0)")

    known_values = [({"beta": 1.0}, D, [0.125, 1.5, 2.5, 0.5, 0.5, 0.0], [0.5, 1.0, -1.0, 1.0, -1.0, 0.0]),
                    ({"beta": 2.0}, D, [0.0625, 1.0, 2.0, 0.25, 0.25, 0.0],
                     [0.25, 1.0, -1.0, 0.5, -0.5, 0.0]),
                    ({"beta": 0.0}, D, [0.5, 2.0, 3.0, 1.0, 1.0, 0.0], [1.0, 1.0, -1.0, 1.0, -1.0, 0.0])]

    def kinks(self, options):
        # beta == 0: the L1 loss, whose derivative jumps at d == 0; otherwise the
        # second derivative jumps at |d| == beta
        return [options["beta"]]


def test_beta_zero_is_l1_with_no_nan(rng):
    p = rng.standard_normal(100).astype(np.float32)
    t = p.copy()
    t[::2] = rng.standard_normal(50).astype(np.float32)  # half equal: the 0/0 PyTorch avoids
    for red in ("none", "mean", "sum"):
        got = kernels.smooth_l1_loss(p, t, beta=0.0, reduction=red)
        want = kernels.l1_loss(p, t, reduction=red)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
