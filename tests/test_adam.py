"""adam_update (torch.optim.Adam's step) against its float64 twin on every ISA path and at
1 and 2 threads, and its bad inputs.

Tolerance of one kernel pass: tests/helpers.py's ``adam_step_bounds`` derives an
elementwise bound from the float32 roundings of each quantity (6u for exp_avg relative to
the magnitudes it is formed from, 10u relative for exp_avg_sq and the denominator, their
sum for the update), and the tests allow twice it.
"""
import inspect
import itertools

import numpy as np
import pytest

from fastmlp import kernels, reference
from helpers import U, adam_random_state, check_adam_step

SHAPES = [(1,), (7, 13), (0,), (3, 5, 2), (97,)]
LARGE = (1000003,)  # above the parallel threshold, a prime

CONFIGS = [
    dict(amsgrad=a, maximize=mx, weight_decay=wd, beta1=b1)
    for a, mx, wd, b1 in itertools.product([False, True], [False, True], [0.0, 0.1], [0.9, 0.3])
]  # beta1 = 0.3: lerp's weight 0.7 takes at::lerp's other branch


def cfg_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items() if v) or "plain"


def test_signature_matches_reference():
    assert inspect.signature(kernels.adam_update) == inspect.signature(reference.adam_update)


@pytest.mark.parametrize("step", [1, 3, 1000])
@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("shape", SHAPES)
def test_one_step_vs_twin(rng, isa, threads, shape, cfg, step):
    check_adam_step("adam_update", rng, shape, dict(cfg, lr=0.01), step)


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[-1]], ids=cfg_id)
def test_one_step_vs_twin_large(rng, isa, threads, cfg):
    check_adam_step("adam_update", rng, LARGE, cfg, 5)


@pytest.mark.parametrize("name", ["adam_update", "adamw_update"])
@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[-1]], ids=cfg_id)
def test_bitwise_1_vs_2_threads(rng, thread_count, name, cfg):
    state0 = adam_random_state(rng, (1 << 18) | 5, cfg["amsgrad"])
    grads = [rng.standard_normal(state0[0].size).astype(np.float32) for _ in range(3)]
    res = {}
    for t in (1, 2):
        thread_count(t)
        p, _, m, v, mx = (None if a is None else a.copy() for a in state0)
        for k, g in enumerate(grads):
            getattr(kernels, name)(p, g, m, v, mx, step=k + 1, **cfg)
        res[t] = [a for a in (p, m, v, mx) if a is not None]
    assert all(np.array_equal(a, b) for a, b in zip(res[1], res[2]))


def test_first_step_from_zeros_and_beta1_zero():
    # Step 1 from zeros: exp_avg = 0.1 g exactly when exact, the update is about -lr*sign(g).
    p = np.zeros(4, np.float32)
    g = np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    kernels.adam_update(p, g, m, v, step=1, lr=0.1)
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1, 0.0], rtol=1e-6)
    assert p[3] == 0.0  # 0 / eps
    # beta1 = 0: at::lerp with weight 1 returns the gradient itself, bit for bit.
    g2 = np.array([0.1, 1e-30, -3.7, 12345.678], np.float32)
    kernels.adam_update(p, g2, m, v, step=2, beta1=0.0)
    np.testing.assert_array_equal(m, g2)


def test_amsgrad_denominator_uses_the_maximum():
    # A big old max_exp_avg_sq damps the step; without amsgrad the same state steps further.
    f = np.float32
    p1, p2 = np.ones(3, f), np.ones(3, f)
    g = np.full(3, 0.5, f)
    mx = np.full(3, 100.0, f)
    kernels.adam_update(p1, g, np.zeros(3, f), np.zeros(3, f), mx, step=1, amsgrad=True)
    kernels.adam_update(p2, g, np.zeros(3, f), np.zeros(3, f), step=1)
    assert np.all(1 - p1 < 1 - p2) and np.all(mx == 100.0)


class TestBadInput:
    name = "adam_update"

    def setup_method(self):
        f = np.float32
        self.p, self.g = np.ones((3, 4), f), np.ones((3, 4), f)
        self.m, self.v, self.mx = np.zeros((3, 4), f), np.zeros((3, 4), f), np.zeros((3, 4), f)

    def call(self, *args, **kw):
        fn = getattr(kernels, self.name)
        args = args or (self.p, self.g, self.m, self.v, self.mx)
        kw.setdefault("step", 1)
        return fn(*args, **kw)

    def untouched(self):
        assert np.all(self.p == 1) and not self.m.any() and not self.v.any() and not self.mx.any()

    @pytest.mark.parametrize("name,value", [("lr", -0.1), ("lr", float("nan")), ("eps", -1e-8),
                                            ("beta1", 1.0), ("beta1", -0.1), ("beta2", 1.0),
                                            ("beta2", float("nan")), ("weight_decay", -1e-2),
                                            ("step", 0), ("step", float("nan"))])
    def test_hyperparameters(self, name, value):
        with pytest.raises(ValueError, match=name):
            self.call(**{name: value, "amsgrad": True})
        self.untouched()

    def test_arrays(self):
        f = np.float32
        cases = [
            ((np.ones((3, 4)), self.g, self.m, self.v), TypeError, "param"),  # float64
            (([1.0], [1.0], self.m, self.v), TypeError, "param"),
            ((self.p, np.ones((4, 3), f), self.m, self.v), ValueError, "grad"),
            ((self.p, "g", self.m, self.v), TypeError, "grad"),
            ((self.p, self.p, self.m, self.v), ValueError, "grad"),
            ((self.p, self.g, np.zeros((3, 4)), self.v), TypeError, "exp_avg"),
            ((self.p, self.g, np.zeros(12, f), self.v), ValueError, "exp_avg"),
            ((self.p, self.g, self.p, self.v), ValueError, "exp_avg"),
            ((self.p, self.g, self.g, self.v), ValueError, "exp_avg"),
            ((self.p, self.g, self.m, np.zeros((3, 8), f)[:, ::2]), ValueError, "exp_avg_sq"),
            ((self.p, self.g, self.m, self.m), ValueError, "exp_avg_sq"),
            ((self.p, self.g, self.m, None), TypeError, "exp_avg_sq"),
        ]
        for args, exc, match in cases:
            with pytest.raises(exc, match=match):
                self.call(*args)
        ro = np.zeros((3, 4), f)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="exp_avg_sq"):
            self.call(self.p, self.g, self.m, ro)
        self.untouched()

    def test_max_exp_avg_sq(self):
        with pytest.raises(ValueError, match="max_exp_avg_sq"):
            self.call(self.p, self.g, self.m, self.v, None, amsgrad=True)
        with pytest.raises(ValueError, match="max_exp_avg_sq"):
            self.call(self.p, self.g, self.m, self.v, self.v, amsgrad=True)
        with pytest.raises(ValueError, match="max_exp_avg_sq"):
            self.call(self.p, self.g, self.m, self.v, np.zeros(5, np.float32), amsgrad=True)
        self.call(self.p, self.g, self.m, self.v, "ignored", amsgrad=False, lr=0.0)  # not read
        assert np.all(self.p == 1)

    def test_step_is_required_keyword(self):
        with pytest.raises(TypeError, match="step"):
            getattr(kernels, self.name)(self.p, self.g, self.m, self.v)
        self.untouched()


def test_unit_roundoff_constant():
    assert U == np.finfo(np.float32).eps / 2

