"""bce_with_logits (F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss) against its
float64 twin: the shared suite (tests/loss_suite.py) with and without weight and
pos_weight, plus BCE's own cases.

Tolerance: as the suite derives (one float rounding of a double result, RTOL = 1e-6),
except that l = w ((1 - t) x + c softplus(-x)) and dl/dx = w (c sigmoid(x) - pw t) can
cancel (t = 0 and x << 0: -x + (-x + tiny)); the double result is then off by ~2**-53
times the terms' size (|x| + c softplus(-x) <= ~40 here, weights <= 2): < 1e-14
absolute, which a relative tolerance does not cover when the result is tiny. ATOL =
1e-12 (100x margin); the twin computes the same formula, so in practice they agree to
float rounding.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import Tensor, kernels, nn, reference
from fastmlp import functional as F
from loss_suite import ElementwiseLossSuite


class TestBceWithLogits(ElementwiseLossSuite):
    name = "bce_with_logits"
    function = staticmethod(F.binary_cross_entropy_with_logits)
    module = nn.BCEWithLogitsLoss
    pred_name, grad_name = "logits", "dlogits"
    target_grad = False
    ATOL = 1e-12

    def data(self, rng, shape):
        logits = np.asarray(rng.standard_normal(shape) * 4, np.float32)
        target = np.asarray(rng.uniform(0, 1, shape), np.float32)  # soft targets
        flat = target.reshape(-1)
        flat[::3] = np.round(flat[::3])  # and hard ones
        return logits, target

    def options_for(self, shape, rng=None):
        rng = np.random.default_rng(len(shape)) if rng is None else rng
        trail = tuple(shape[-1:])  # (C,) of (..., C); () for a 0-d input
        w = np.asarray(rng.uniform(0.1, 2.0, trail), np.float32)
        pw = np.asarray(rng.uniform(0.2, 3.0, trail), np.float32)
        full = np.asarray(rng.uniform(0.1, 2.0, shape), np.float32)  # the whole shape is a trailing part
        return [{"weight": full, "pos_weight": pw}, {}, {"weight": w}, {"pos_weight": pw}]

    def torch_call(self, torch, x, t, reduction, options):
        kw = {k: torch.tensor(np.asarray(v, np.float64)) for k, v in options.items()}
        return torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction=reduction,
                                                                    **kw)


def test_known_values_and_extremes():
    x = np.array([0.0, 100.0, -100.0, 100.0, -100.0, 2.0], np.float32)
    t = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.5], np.float32)
    loss, d = kernels.bce_with_logits(x, t, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(d))  # no exp overflow
    np.testing.assert_allclose(loss[:5], [np.log(2), 0.0, 0.0, 100.0, 100.0], rtol=1e-6,
                               atol=1e-30)
    np.testing.assert_allclose(d[:5], [-0.5, 0.0, 0.0, 1.0, -1.0], atol=1e-30)
    sig = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(d[5], sig - 0.5, rtol=1e-6)


def test_pos_weight_scales_the_positive_term(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    ones = np.ones((4, 3), np.float32)
    pw = np.array([1.0, 2.0, 0.5], np.float32)
    loss = kernels.bce_with_logits(x, ones, pos_weight=pw, reduction="none")[0]
    plain = kernels.bce_with_logits(x, ones, reduction="none")[0]
    np.testing.assert_allclose(loss, plain * pw, rtol=1e-6)


class TestBadInput:
    x = np.zeros((3, 4), np.float32)

    @pytest.mark.parametrize("arg", ["weight", "pos_weight"])
    @pytest.mark.parametrize("shape", [(3,), (3, 1), (2, 3, 4), (1, 4, 1)])
    def test_weight_shape(self, arg, shape):
        for fn in (kernels.bce_with_logits, reference.bce_with_logits):
            with pytest.raises(ValueError, match=arg):
                fn(self.x, self.x, **{arg: np.ones(shape, np.float32)})

    @pytest.mark.parametrize("arg", ["weight", "pos_weight"])
    def test_weight_dtype(self, arg):
        with pytest.raises(TypeError, match=arg):
            kernels.bce_with_logits(self.x, self.x, **{arg: np.array(["a"] * 4)})

    @pytest.mark.parametrize("arg", ["weight", "pos_weight"])
    def test_dlogits_must_not_overlap_weights(self, arg):
        buf = np.zeros(16, np.float32)
        x = np.zeros((3, 4), np.float32)
        before = buf.copy()
        with pytest.raises(ValueError, match=f"dlogits.*{arg}"):
            kernels.bce_with_logits(x, x, **{arg: buf[:4]}, dlogits=buf[2:14].reshape(3, 4))
        np.testing.assert_array_equal(buf, before)

    def test_target_gradient_is_not_supported(self):
        x = Tensor(self.x, requires_grad=True)
        t = Tensor(self.x, requires_grad=True)
        with pytest.raises(NotImplementedError, match="target"):
            F.binary_cross_entropy_with_logits(x, t)
        with fastmlp.no_grad():
            F.binary_cross_entropy_with_logits(x, t)


def test_module_buffers_and_round_trip(tmp_path):
    m = nn.BCEWithLogitsLoss(weight=[1.0, 2.0], pos_weight=np.array([0.5, 3.0]), reduction="sum")
    assert m.weight.dtype == np.float32 and m.pos_weight.tolist() == [0.5, 3.0]
    assert set(m.state_dict()) == {"weight", "pos_weight"}
    assert repr(m) == "BCEWithLogitsLoss(reduction='sum')"
    fastmlp.save(m, tmp_path / "bce.npz")
    back = fastmlp.load(tmp_path / "bce.npz")
    assert back.weight.tolist() == [1.0, 2.0] and back.reduction == "sum"
    x = np.array([[0.3, -1.0]], np.float32)
    t = np.array([[1.0, 0.0]], np.float32)
    assert back(x, t).item() == m(x, t).item()
