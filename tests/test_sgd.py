"""sgd_update (torch.optim.SGD's step) against the float64 reference, every
ISA path, at 1 and 2 threads, every valid option combination, over multi-step
trajectories (first_step on step 1 only, then the momentum recurrence).

Tolerance: the kernel does each step in float32 (<= 6 roundings of values
bounded by |p| + lr |g| (1 + momentum) / (1 - momentum)); the reference runs
the same trajectory in float64 from the same start. Errors add up over the
steps, and the momentum recurrence carries a buffer error at most
1/(1 - momentum) = 10x. With |p|, |g| ~ N(0, 1) and 6 steps that is a few
hundred ulp of 1 at worst: we allow |err| <= 1e-5 * (1 + |ref|) (rtol = atol
= 1e-5); measured worst case over 10^5 elements x 20 configs: 7e-7.
"""
import inspect
import itertools

import numpy as np
import pytest

from fastmlp import kernels, reference

SHAPES = [(1,), (7, 13), (0,), (3, 5, 2), (300, 257)]  # the last above the parallel threshold

CONFIGS = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.01],
                                             [False, True])
    if not (n and (m <= 0 or d != 0))
]


def cfg_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items() if v) or "plain"


def test_signature_matches_reference():
    assert inspect.signature(kernels.sgd_update) == inspect.signature(reference.sgd_update)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("shape", SHAPES)
def test_trajectory(rng, isa, threads, shape, cfg, steps=6, lr=0.1):
    param = rng.standard_normal(shape).astype(np.float32)
    buf = np.full(shape, np.nan, np.float32)  # never read on the first step
    p64, b64 = param.astype(np.float64), np.zeros(shape)
    use_buf = cfg["momentum"] != 0
    for k in range(steps):
        grad = rng.standard_normal(shape).astype(np.float32)
        g0 = grad.copy()
        kernels.sgd_update(param, grad, buf if use_buf else None, lr=lr, first_step=k == 0, **cfg)
        reference.sgd_update(p64, grad, b64 if use_buf else None, lr=lr, first_step=k == 0, **cfg)
        np.testing.assert_array_equal(grad, g0)  # grad untouched
        np.testing.assert_allclose(param, p64, rtol=1e-5, atol=1e-5, err_msg=f"param, step {k}")
        if use_buf:
            np.testing.assert_allclose(buf, b64, rtol=1e-5, atol=1e-5, err_msg=f"buffer, step {k}")
    assert use_buf or np.all(np.isnan(buf))  # momentum == 0: buffer ignored


def test_exact_simple_step():
    # Exactly representable values: plain SGD and first-step momentum are exact.
    p = np.array([1.0, -2.0, 0.5], np.float32)
    kernels.sgd_update(p, np.array([2.0, 4.0, -8.0], np.float32), lr=0.25)
    np.testing.assert_array_equal(p, [0.5, -3.0, 2.5])
    b = np.zeros(3, np.float32)
    kernels.sgd_update(p, [1.0, 1.0, 1.0], b, lr=0.5, momentum=0.5, dampening=0.5, first_step=True)
    np.testing.assert_array_equal(b, [1, 1, 1])  # no dampening on step 1
    np.testing.assert_array_equal(p, [0.0, -3.5, 2.0])
    kernels.sgd_update(p, [1.0, 1.0, 1.0], b, lr=0.5, momentum=0.5, dampening=0.5, first_step=False)
    np.testing.assert_array_equal(b, [1, 1, 1])  # 0.5 * 1 + 0.5 * 1
    np.testing.assert_array_equal(p, [-0.5, -4.0, 1.5])


def test_grad_conversions(rng):
    p = rng.standard_normal((4, 5)).astype(np.float32)
    g = rng.standard_normal((4, 5))  # float64, and a transposed view / list
    for grad in (g, np.asfortranarray(g), g.tolist()):
        mine, ref = p.copy(), p.astype(np.float64)
        kernels.sgd_update(mine, grad, lr=0.1, weight_decay=0.1)
        reference.sgd_update(ref, np.asarray(grad, np.float32), lr=0.1, weight_decay=0.1)
        np.testing.assert_allclose(mine, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cfg", [CONFIGS[0], dict(momentum=0.9, nesterov=True, weight_decay=0.01),
                                 dict(momentum=0.9, dampening=0.3, maximize=True)], ids=cfg_id)
def test_bitwise_1_vs_2_threads(rng, thread_count, cfg):
    p0 = rng.standard_normal(1 << 18 | 5).astype(np.float32)
    grads = [rng.standard_normal(p0.size).astype(np.float32) for _ in range(3)]
    res = {}
    for t in (1, 2):
        thread_count(t)
        p, b = p0.copy(), np.zeros_like(p0)
        for k, g in enumerate(grads):
            kernels.sgd_update(p, g, b, lr=0.05, first_step=k == 0, **cfg)
        res[t] = (p, b)
    assert np.array_equal(res[1][0], res[2][0]) and np.array_equal(res[1][1], res[2][1])


def test_denormals(isa, threads):
    # FTZ/DAZ inside the kernel: a denormal parameter with a zero gradient
    # stays as is (exact) or becomes 0 (flushed); normal values are exact.
    tiny = np.float32(1e-40)
    p = np.array([tiny, -tiny, 1.0, np.float32(1e-45)] * 20000, np.float32)
    exact = p.copy()
    b = np.full_like(p, tiny)
    kernels.sgd_update(p, np.zeros_like(p), lr=0.1)
    assert np.all((p == exact) | (p == 0))
    assert np.all(p[exact == 1.0] == 1.0)
    kernels.sgd_update(p, np.zeros_like(p), b, lr=0.1, momentum=0.9, first_step=False)
    assert np.all((b == np.float32(0.9) * tiny) | (b == 0)) and np.all(p[exact == 1.0] == 1.0)


class TestBadInput:
    def setup_method(self):
        self.p = np.ones((3, 4), np.float32)
        self.g = np.ones((3, 4), np.float32)
        self.b = np.zeros((3, 4), np.float32)

    def untouched(self):
        assert np.all(self.p == 1) and np.all(self.b == 0)

    def test_param(self):
        with pytest.raises(TypeError, match="param"):
            kernels.sgd_update([1.0, 2.0], [1.0, 2.0], lr=0.1)
        with pytest.raises(TypeError, match="param"):
            kernels.sgd_update(np.ones(3), np.ones(3), lr=0.1)  # float64: not converted
        with pytest.raises(ValueError, match="param"):
            kernels.sgd_update(np.ones((3, 8), np.float32)[:, ::2], self.g, lr=0.1)
        ro = np.ones((3, 4), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="param"):
            kernels.sgd_update(ro, self.g, lr=0.1)
        with pytest.raises(ValueError, match="param"):
            kernels.sgd_update(self.p, self.p, lr=0.1)  # grad is param

    def test_grad(self):
        with pytest.raises(ValueError, match="grad"):
            kernels.sgd_update(self.p, np.ones((4, 3), np.float32), lr=0.1)
        with pytest.raises(ValueError, match="grad"):
            kernels.sgd_update(self.p, np.ones(12, np.float32), lr=0.1)
        with pytest.raises(TypeError, match="grad"):
            kernels.sgd_update(self.p, "g", lr=0.1)
        self.untouched()

    def test_momentum_buffer(self):
        with pytest.raises(ValueError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, lr=0.1, momentum=0.9)
        with pytest.raises(TypeError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, np.zeros((3, 4)), lr=0.1, momentum=0.9)
        with pytest.raises(ValueError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, np.zeros((4, 3), np.float32), lr=0.1, momentum=0.9)
        with pytest.raises(ValueError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, np.zeros((3, 8), np.float32)[:, ::2], lr=0.1, momentum=0.9)
        ro = np.zeros((3, 4), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, ro, lr=0.1, momentum=0.9)
        with pytest.raises(ValueError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, self.p, lr=0.1, momentum=0.9)
        with pytest.raises(ValueError, match="momentum_buffer"):
            kernels.sgd_update(self.p, self.g, self.g, lr=0.1, momentum=0.9)
        self.untouched()

    @pytest.mark.parametrize("kw", [dict(momentum=0.0), dict(momentum=-0.5), dict(momentum=0.9, dampening=0.1)])
    def test_nesterov(self, kw):
        with pytest.raises(ValueError, match="nesterov|momentum"):
            kernels.sgd_update(self.p, self.g, self.b, lr=0.1, nesterov=True, **kw)
        if kw.get("momentum", 0) >= 0:
            with pytest.raises(ValueError, match="nesterov"):
                kernels.sgd_update(self.p, self.g, self.b, lr=0.1, nesterov=True, **kw)
        self.untouched()

    @pytest.mark.parametrize("name,value", [("lr", -0.1), ("lr", float("nan")), ("momentum", -0.1),
                                            ("weight_decay", -1e-4), ("dampening", float("nan"))])
    def test_hyperparameters(self, name, value):
        kw = dict(lr=0.1, momentum=0.9)
        kw[name] = value
        with pytest.raises(ValueError, match=name):
            kernels.sgd_update(self.p, self.g, self.b, **kw)
        self.untouched()

    def test_lr_is_required_keyword(self):
        with pytest.raises(TypeError, match="lr"):
            kernels.sgd_update(self.p, self.g)
        with pytest.raises(TypeError):
            kernels.sgd_update(self.p, self.g, None, 0.1)
        self.untouched()
