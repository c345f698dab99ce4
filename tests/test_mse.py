"""mse_loss (F.mse_loss, nn.MSELoss) against its float64 twin: the shared suite
(tests/loss_suite.py: every ISA path, 1 and 2 threads, the tolerance derived there) plus
MSE's own cases. MSE forms d*d and 2d(/n) in double from the exact difference and rounds
once, as the suite's derivation assumes."""

import numpy as np

from fastmlp import kernels, nn, reference
from fastmlp import functional as F
from loss_suite import REDUCTIONS, ElementwiseLossSuite


class TestMseLoss(ElementwiseLossSuite):
    name = "mse_loss"
    function = staticmethod(F.mse_loss)
    module = nn.MSELoss


def test_conversions_and_nonfinite(rng):
    suite = TestMseLoss()
    pred = rng.standard_normal((6, 7))
    target = rng.standard_normal((6, 7)).astype(np.float32)[:, ::1]
    ref = reference.mse_loss(pred.astype(np.float32), target, reduction="sum")
    suite.check(kernels.mse_loss(pred.tolist(), np.asfortranarray(target), reduction="sum"), ref,
                (6, 7), "sum")
    p = pred.astype(np.float32)
    p[0, 0] = np.nan
    p[1, 1] = np.inf
    for red in REDUCTIONS:
        with np.errstate(invalid="ignore"):
            suite.check(kernels.mse_loss(p, target, reduction=red),
                        reference.mse_loss(p, target, reduction=red), (6, 7), red)
