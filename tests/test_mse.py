"""mse_loss against the float64 reference, every ISA path, 1 and 2 threads.

Tolerance: the kernel forms d = pred - target, d*d, 2d(/n) and the reduction
in double (the difference of two float32 is exact in double; the sum is a
double sum of n terms, error ~n * 2**-53 relative, far below float), and rounds
each result to float32 once: every output is within ~1 float ulp (6e-8
relative) of the reference. rtol=1e-6 (16x margin), atol=0.
"""

import numpy as np
import pytest

from fastmlp import kernels, reference
from helpers import signature_params

# Any ndim incl. 0-d, 1, 2, primes, empty, sizes not multiples of 8/16/64 or of
# the 4096-element chunk, and above the 32768 parallel threshold.
SHAPES = [(), (1,), (2,), (7, 13), (0,), (3, 0, 2), (64, 10), (5, 3, 11), (4097,),
          (200, 300), (3, 65537)]
REDUCTIONS = ["mean", "sum", "none"]


def check(got, ref, shape, reduction):
    loss, dpred = got
    rloss, rgrad = ref
    if reduction == "none":
        assert loss.dtype == np.float32 and loss.shape == shape
    else:
        assert isinstance(loss, float)
    np.testing.assert_allclose(loss, rloss, rtol=1e-6, atol=0)
    assert dpred.dtype == np.float32 and dpred.shape == shape
    np.testing.assert_allclose(dpred, rgrad, rtol=1e-6, atol=0)


def test_signature_extends_reference():
    ours, ref = signature_params("mse_loss")
    assert ours[: len(ref)] == ref
    assert [p.name for p in ours[len(ref):]] == ["dpred"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_mse_loss(rng, isa, threads, shape, reduction):
    pred = rng.standard_normal(shape).astype(np.float32)
    target = (rng.standard_normal(shape) * 3).astype(np.float32)
    ref = reference.mse_loss(pred, target, reduction=reduction)
    p0, t0 = pred.copy(), target.copy()
    check(kernels.mse_loss(pred, target, reduction=reduction), ref, shape, reduction)
    np.testing.assert_array_equal(pred, p0)
    np.testing.assert_array_equal(target, t0)

    out = np.full(shape, np.nan, np.float32)
    got = kernels.mse_loss(pred, target, reduction=reduction, dpred=out)
    assert got[1] is out
    check(got, ref, shape, reduction)

    got = kernels.mse_loss(pred, target, reduction=reduction, dpred=pred)  # in place
    assert got[1] is pred
    check(got, ref, shape, reduction)

    loss, none = kernels.mse_loss(p0, target, reduction=reduction, dpred=False)
    assert none is None
    np.testing.assert_allclose(loss, ref[0], rtol=1e-6, atol=0)


def test_empty_mean_is_nan():
    loss, d = kernels.mse_loss(np.zeros(0, np.float32), np.zeros(0, np.float32))
    assert np.isnan(loss) and d.shape == (0,)
    assert kernels.mse_loss(np.zeros((2, 0)), np.zeros((2, 0)), reduction="sum")[0] == 0.0


def test_conversions_and_nonfinite(rng):
    pred = rng.standard_normal((6, 7))
    target = rng.standard_normal((6, 7)).astype(np.float32)[:, ::1]
    ref = reference.mse_loss(pred.astype(np.float32), target, reduction="sum")
    check(kernels.mse_loss(pred.tolist(), np.asfortranarray(target), reduction="sum"), ref, (6, 7), "sum")
    p = pred.astype(np.float32)
    p[0, 0] = np.nan
    p[1, 1] = np.inf
    for red in REDUCTIONS:
        with np.errstate(invalid="ignore"):
            check(kernels.mse_loss(p, target, reduction=red), reference.mse_loss(p, target, reduction=red),
                  (6, 7), red)


def test_bitwise_1_vs_2_threads(rng, thread_count):
    pred = rng.standard_normal(1 << 20 | 77).astype(np.float32)
    target = rng.standard_normal(1 << 20 | 77).astype(np.float32)
    res = {}
    for t in (1, 2):
        thread_count(t)
        res[t] = [kernels.mse_loss(pred, target, reduction=r) for r in REDUCTIONS]
    for (l1, d1), (l2, d2) in zip(res[1], res[2]):
        assert np.array_equal(l1, l2) and np.array_equal(d1, d2)


class TestBadInput:
    p = np.zeros((3, 4), np.float32)

    def test_target_shape(self):
        with pytest.raises(ValueError, match="target"):
            kernels.mse_loss(self.p, np.zeros((4, 3), np.float32))
        with pytest.raises(ValueError, match="target"):
            kernels.mse_loss(self.p, np.zeros((1, 4), np.float32))  # no broadcasting
        with pytest.raises(TypeError, match="pred"):
            kernels.mse_loss("pred", self.p)

    def test_reduction(self):
        with pytest.raises(ValueError, match="reduction"):
            kernels.mse_loss(self.p, self.p, reduction="elementwise")

    def test_dpred(self):
        with pytest.raises(TypeError, match="dpred"):
            kernels.mse_loss(self.p, self.p, dpred=np.zeros((3, 4)))
        with pytest.raises(ValueError, match="dpred"):
            kernels.mse_loss(self.p, self.p, dpred=np.zeros(12, np.float32))
        with pytest.raises(ValueError, match="dpred"):
            kernels.mse_loss(self.p, self.p, dpred=np.zeros((3, 8), np.float32)[:, ::2])
        ro = np.zeros((3, 4), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="dpred"):
            kernels.mse_loss(self.p, self.p, dpred=ro)
        buf = np.zeros(13, np.float32)
        with pytest.raises(ValueError, match="dpred"):
            kernels.mse_loss(buf[:12], np.zeros(12, np.float32), dpred=buf[1:])
