"""rmsprop_update (torch.optim.RMSprop's step) against its float64 twin on every ISA path
and at 1 and 2 threads; optim.RMSprop: PyTorch's API, state and state dicts, a 300-step
trajectory against a float64 loop, and train_epoch with RMSprop bitwise equal to the
Python loop.

Tolerance of one kernel pass: :func:`rmsprop_step_bounds` derives an elementwise bound
from the float32 roundings of each quantity (see its docstring) and the tests allow twice
it.
"""
import copy
import inspect
import itertools

import numpy as np
import pytest

from fastmlp import kernels, nn, optim, reference
from helpers import U, assert_isa_paths_bitwise_equal, check_fused_equals_loop, run_steps, with_specials
from optim_suite import check_closure, check_core_bad_option, core_epoch_args, params

SHAPES = [(0,), (1,), (7, 13), (3, 5, 2), (257,), (31, 33)]
LARGE = (70001,)  # above the parallel threshold, not a multiple of 16

CONFIGS = [
    dict(centered=c, momentum=mo, weight_decay=wd, maximize=mx, alpha=a)
    for c, mo, wd, mx, a in itertools.product([False, True], [0.0, 0.9], [0.0, 0.1],
                                              [False, True], [0.99, 0.3])
]  # alpha = 0.3: lerp's weight 0.7 takes at::lerp's other branch


def cfg_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items() if v and not (k == "alpha" and v == 0.99)) \
        or "plain"


def rmsprop_step_bounds(p, g, v, buf, ga, out_ref, *, lr, alpha, eps, weight_decay, momentum,
                        centered, maximize):
    """Elementwise bounds of one float32 ``rmsprop_update`` pass from float32 inputs
    ``p, g, v, buf, ga`` against the float64 twin's results ``out_ref = (p, v, buf, ga)``
    on the same inputs (u = U; every float32 operation and every cast of a double scalar
    rounds once, by <= u relative):

    - g' = sign*g (+ wd*p): the cast of wd, the product, the sum, of terms bounded by
      S_g = |g| + wd|p|: dg <= 3u S_g (0 without weight decay).
    - v = v*alpha + (c*g')*g': terms >= 0, two casts and four roundings: 6u v_ref, plus
      g''s error 2c|g'|dg.
    - centered: ga = lerp(ga, g', c): three roundings and c's cast of terms bounded by
      S = |ga| + S_g, plus dg: dga <= 6u S + dg; q = v - ga*ga: the product and the sum
      round (u ga^2 + u |q|), plus dv + 2|ga| dga. Uncentered q = v, dq = dv.
    - sqrt(q): u sqrt(q) + min(dq / (2 sqrt(q)), sqrt(dq)); avg = sqrt + eps: eps's cast
      and the sum, 2u avg.
    - no momentum: t = ((-lr)*g')/avg: the cast, product and quotient 3u|t|, plus
      |t| davg/avg + lr dg/avg; p + t rounds u (|p| + |t|).
    - momentum: r = g'/avg: u|r| + |r| davg/avg + dg/avg; buf = buf*mom + r: mom's cast,
      the product, the sum: 3u mom|buf| + u|r| + dr; p + (-lr)*buf: lr's cast and the
      product (2u lr|buf'|), the sum u(|p| + lr|buf'|), plus lr dbuf.

    Returns (tol_p, tol_v, tol_buf, tol_ga), each twice the bound (second-order terms and
    the twin's own float64 rounding are far below that margin).
    """
    u = U
    p, g, v = (np.asarray(a, np.float64) for a in (p, g, v))
    p_ref, v_ref, buf_ref, ga_ref = out_ref
    wd = weight_decay
    S_g = np.abs(g) + wd * np.abs(p)
    dg = 3 * u * S_g if wd else np.zeros_like(S_g)
    gp = np.abs((-g if maximize else g) + wd * p)
    c = 1 - alpha
    dv = 6 * u * np.abs(v_ref) + 2 * c * gp * dg
    dga = np.zeros_like(dv)
    if centered:
        ga = np.asarray(ga, np.float64)
        dga = 6 * u * (np.abs(ga) + S_g) + dg
        q = v_ref - ga_ref ** 2
        dq = dv + 2 * np.abs(ga_ref) * dga + u * ga_ref ** 2 + u * np.abs(q)
    else:
        q, dq = v_ref, dv
    rs = np.sqrt(np.maximum(q, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        dsqrt = u * rs + np.minimum(np.where(rs > 0, dq / (2 * rs), np.inf), np.sqrt(dq))
    avg = rs + eps
    davg = dsqrt + 2 * u * avg
    dbuf = np.zeros_like(dv)
    if momentum > 0:
        r = gp / avg
        dr = u * r + r * davg / avg + dg / avg
        dbuf = 3 * u * momentum * np.abs(np.asarray(buf, np.float64)) + u * r + dr
        nb = np.abs(buf_ref)
        tol_p = u * np.abs(p) + 3 * u * lr * nb + lr * dbuf
    else:
        t = lr * gp / avg
        dt = t * (3 * u + davg / avg) + lr * dg / avg
        tol_p = u * (np.abs(p) + t) + dt
    return 2 * tol_p, 2 * dv, 2 * dbuf, 2 * dga


def random_state(rng, shape, cfg):
    """A mid-run state in float32: p, g ~ N(0,1); grad_avg ~ N(0, 0.1) (centered);
    square_avg = grad_avg^2 + 0.01 N^2 + 1e-4 (>= grad_avg^2 with room, as a running
    mean of squares is); momentum_buffer ~ N(0, 1) (momentum > 0)."""
    f = np.float32
    p = rng.standard_normal(shape).astype(f)
    g = rng.standard_normal(shape).astype(f)
    ga = (0.1 * rng.standard_normal(shape)).astype(f) if cfg["centered"] else None
    v = (0.01 * rng.standard_normal(shape) ** 2 + 1e-4).astype(f)
    if ga is not None:
        v = (v + ga.astype(np.float64) ** 2).astype(f)
    buf = rng.standard_normal(shape).astype(f) if cfg["momentum"] > 0 else None
    return p, g, v, buf, ga


def check_step(rng, shape, cfg, lr=0.01):
    hyper = dict(lr=lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False)
    hyper.update(cfg)
    p, g, v, buf, ga = random_state(rng, shape, hyper)
    before = [None if a is None else a.copy() for a in (p, g, v, buf, ga)]
    r = [None if a is None else a.astype(np.float64) for a in (p, v, buf, ga)]
    kernels.rmsprop_update(p, g, v, buf, ga, **hyper)
    reference.rmsprop_update(r[0], g, r[1], r[2], r[3], **hyper)
    np.testing.assert_array_equal(g, before[1])
    tols = rmsprop_step_bounds(*before, tuple(r), **hyper)
    for label, got, ref, tol in zip(("param", "square_avg", "momentum_buffer", "grad_avg"),
                                    (p, v, buf, ga), r, tols):
        if got is None:
            continue
        err = np.abs(got.astype(np.float64) - ref)
        bad = ~(err <= tol)
        assert not bad.any(), (f"rmsprop_update {label}: {bad.sum()} elements beyond the "
                               f"bound, worst err/tol {np.max(err / np.maximum(tol, 1e-300)):.3g}")


def test_signature_matches_reference():
    assert inspect.signature(kernels.rmsprop_update) == inspect.signature(reference.rmsprop_update)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("shape", SHAPES)
def test_one_step_vs_twin(rng, isa, threads, shape, cfg):
    check_step(rng, shape, cfg)


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[-1], CONFIGS[-3]], ids=cfg_id)
def test_one_step_vs_twin_large(rng, isa, threads, cfg):
    check_step(rng, LARGE, cfg)


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[-1]], ids=cfg_id)
def test_bitwise_1_vs_2_threads(rng, thread_count, cfg):
    state0 = random_state(rng, (1 << 17) | 5, cfg)
    grads = [rng.standard_normal(state0[0].size).astype(np.float32) for _ in range(3)]
    res = {}
    for t in (1, 2):
        thread_count(t)
        p, _, v, buf, ga = (None if a is None else a.copy() for a in state0)
        for g in grads:
            kernels.rmsprop_update(p, g, v, buf, ga, **cfg)
        res[t] = [a for a in (p, v, buf, ga) if a is not None]
    assert all(np.array_equal(a, b) for a, b in zip(res[1], res[2]))


def test_first_step_from_zeros():
    """From zero state: square_avg = 0.01 g^2 (c = float32(0.01)), the step is about
    -lr g / (0.1 |g|) = -10 lr sign(g); a zero gradient leaves the parameter (0 / eps)."""
    f = np.float32
    p = np.zeros(4, f)
    g = np.array([1.0, -2.0, 0.5, 0.0], f)
    v = np.zeros(4, f)
    kernels.rmsprop_update(p, g, v, lr=0.01)
    np.testing.assert_allclose(v, 0.01 * g.astype(np.float64) ** 2, rtol=1e-6)
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1, 0.0], rtol=1e-5)
    assert p[3] == 0.0


def test_centered_first_step_divides_by_the_deviation():
    """Centered from zeros: grad_avg = 0.01 g, square_avg - grad_avg^2 = 0.0099 g^2, the
    step is -lr g / (sqrt(0.0099) |g|)."""
    f = np.float32
    p, g = np.zeros(3, f), np.array([1.0, -3.0, 0.25], f)
    v, ga = np.zeros(3, f), np.zeros(3, f)
    kernels.rmsprop_update(p, g, v, None, ga, lr=0.01, centered=True)
    np.testing.assert_allclose(p, -0.01 * np.sign(g) / np.sqrt(0.0099), rtol=1e-5)


class TestBadInput:
    def setup_method(self):
        f = np.float32
        self.p, self.g = np.ones((3, 4), f), np.ones((3, 4), f)
        self.v, self.b, self.ga = (np.zeros((3, 4), f) for _ in range(3))

    def untouched(self):
        assert np.all(self.p == 1) and not self.v.any() and not self.b.any() and not self.ga.any()

    @pytest.mark.parametrize("name,value", [("lr", -0.1), ("lr", float("nan")), ("eps", -1e-8),
                                            ("alpha", -0.5), ("alpha", float("nan")),
                                            ("weight_decay", -1e-2), ("momentum", -0.9)])
    def test_hyperparameters(self, name, value):
        with pytest.raises(ValueError, match=rf"^{name}: invalid"):
            kernels.rmsprop_update(self.p, self.g, self.v, self.b, self.ga,
                                   **{"momentum": 0.5, "centered": True, name: value})
        self.untouched()

    def test_arrays(self):
        f = np.float32
        p, g, v, b, ga = self.p, self.g, self.v, self.b, self.ga
        cases = [
            ((np.ones((3, 4)), g, v), {}, TypeError, "param"),
            ((p, np.ones((4, 3), f), v), {}, ValueError, "grad"),
            ((p, p, v), {}, ValueError, "grad"),
            ((p, g, np.zeros((3, 4))), {}, TypeError, "square_avg"),
            ((p, g, np.zeros(12, f)), {}, ValueError, "square_avg"),
            ((p, g, p), {}, ValueError, "square_avg"),
            ((p, g, v, None), dict(momentum=0.9), ValueError, "momentum_buffer"),
            ((p, g, v, v), dict(momentum=0.9), ValueError, "momentum_buffer"),
            ((p, g, v, b, None), dict(centered=True), ValueError, "grad_avg"),
            ((p, g, v, b, b), dict(centered=True, momentum=0.9), ValueError, "grad_avg"),
            ((p, g, v, None, np.zeros((3, 8), f)[:, ::2]), dict(centered=True), ValueError,
             "grad_avg"),
        ]
        for args, kw, exc, match in cases:
            with pytest.raises(exc, match=match):
                kernels.rmsprop_update(*args, **kw)
        self.untouched()

    def test_unused_buffers_are_not_read(self):
        kernels.rmsprop_update(self.p, self.g, self.v, "ignored", "ignored", lr=0.0)
        assert np.all(self.p == 1)


# --------------------------------------------------------- optim.RMSprop --

OPT_CASES = {
    "plain": dict(lr=1e-2),
    "momentum": dict(lr=1e-3, momentum=0.9),
    "centered-wd": dict(lr=1e-3, centered=True, weight_decay=0.1, alpha=0.9),
    "all": dict(lr=1e-3, momentum=0.5, centered=True, weight_decay=0.01, maximize=True),
}


def test_defaults_and_param_groups_are_torch_s(rng):
    ps = params(rng)
    g = optim.RMSprop(ps).param_groups[0]
    assert {k: g[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum", "centered",
                              "maximize")} == dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0,
                                                   momentum=0, centered=False, maximize=False)
    assert set(g) == {"params", "lr", "momentum", "alpha", "eps", "centered", "weight_decay",
                      "capturable", "foreach", "maximize", "differentiable"}
    two = optim.RMSprop([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5, "centered": True}])
    assert [(x["lr"], x["centered"]) for x in two.param_groups] == [(1e-2, False), (0.5, True)]


@pytest.mark.parametrize("kw, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (dict(alpha=-0.1), "Invalid alpha value: -0.1"),
    (dict(differentiable=True), "differentiable"),
    (dict(capturable=True), "capturable"),
])
def test_pytorch_validation_errors(rng, kw, msg):
    with pytest.raises(ValueError, match=msg):
        optim.RMSprop(params(rng), **kw)
    if "able" not in msg:  # a group's hyperparameters are checked when it is added
        opt = optim.RMSprop(params(rng))
        with pytest.raises(ValueError, match=msg):
            opt.add_param_group(dict(params=params(rng)[:1], **kw))
        assert len(opt.param_groups) == 1


def test_state_names_order_and_skipped_params(rng):
    ps = params(rng)
    opt = optim.RMSprop(ps, momentum=0.9, centered=True)
    before = [p.data.copy() for p in ps]
    ps[0].grad = rng.standard_normal(ps[0].shape).astype(np.float32)
    opt.step()
    assert list(opt.state) == [ps[0]]
    st = opt.state[ps[0]]
    assert list(st) == ["step", "square_avg", "momentum_buffer", "grad_avg"]  # torch's order
    assert st["step"] == 1.0 and type(st["step"]) is float
    assert all(st[k].dtype == np.float32 and st[k].shape == (4, 3) for k in list(st)[1:])
    assert not np.array_equal(ps[0].data, before[0])
    np.testing.assert_array_equal(ps[1].data, before[1])
    plain = optim.RMSprop(ps[1:2])
    run_steps(plain, ps[1:2], [None])
    assert list(plain.state[ps[1]]) == ["step", "square_avg"]
    plain.param_groups[0]["momentum"] = 0.5  # turned on later: a zero buffer, not KeyError
    run_steps(plain, ps[1:2], [None])
    assert list(plain.state[ps[1]]) == ["step", "square_avg", "momentum_buffer"]


def test_failed_step_changes_nothing(rng):
    ps = params(rng)
    opt = optim.RMSprop(ps, momentum=0.9)
    run_steps(opt, ps, [None])
    snap = copy.deepcopy((opt.state_dict(), [p.data.copy() for p in ps]))
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    ps[2].grad = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        opt.step()
    ps[2].grad = np.ones((2, 4), np.float32)
    opt.state[ps[2]]["square_avg"] = np.zeros((2, 4))  # float64 state
    with pytest.raises(ValueError, match="square_avg"):
        opt.step()
    for p, d in zip(ps, snap[1]):
        np.testing.assert_array_equal(p.data, d)
    for k in range(2):
        np.testing.assert_array_equal(opt.state_dict()["state"][k]["momentum_buffer"],
                                      snap[0]["state"][k]["momentum_buffer"])


def test_closure(rng):
    check_closure(rng, optim.RMSprop, 2.5)


@pytest.mark.parametrize("case", list(OPT_CASES))
def test_state_dict_round_trip_continues_bitwise(rng, case):
    kw = OPT_CASES[case]
    ps = params(rng)
    opt = optim.RMSprop(ps, **kw)
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in ps] for _ in range(6)]
    run_steps(opt, ps, grads[:3])
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1, 2} and sd["state"][0]["step"] == 3.0
    ps2 = [nn.Parameter(p.data.copy()) for p in ps]
    opt2 = optim.RMSprop(ps2, lr=0.5)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    run_steps(opt, ps, grads[3:])
    run_steps(opt2, ps2, grads[3:])
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.data, p2.data)
        for name, a in opt.state[p].items():
            np.testing.assert_array_equal(a, opt2.state[p2][name])
    sd0 = copy.deepcopy(sd)  # a 0-d step (as a torch state dict holds) loads and continues
    for v in sd0["state"].values():
        v["step"] = np.array(v["step"], np.float32)
    opt3 = optim.RMSprop([nn.Parameter(p.data.copy()) for p in ps], **kw)
    opt3.load_state_dict(sd0)
    run_steps(opt3, opt3.param_groups[0]["params"], [None])
    assert all(s["step"] == 4.0 for s in opt3.state.values())


TRAJECTORY_CASES = {
    "plain": dict(lr=1e-3),
    "momentum": dict(lr=1e-4, momentum=0.9),
    "centered-wd": dict(lr=1e-3, centered=True, weight_decay=0.1, alpha=0.9),
    "all-maximize": dict(lr=1e-4, momentum=0.5, centered=True, weight_decay=0.01, maximize=True),
}


@pytest.mark.parametrize("case", list(TRAJECTORY_CASES))
def test_300_steps_vs_float64_loop(rng, case):
    """300 steps of optim.RMSprop on Linear(5, 3) + MSELoss over minibatches of 8 of 32
    rows against the same training in float64 with reference.rmsprop_update and
    hand-derived gradients (dpred = 2 (pred - Y) / (8 * 3), dW = dpred^T x, db = column
    sums).

    The targets are Y = X @ A^T with A ~ 3 N(0, 1), so the optimum is O(3) away, and the
    learning rates keep every parameter's total movement below about 1 (RMSprop moves
    each one by at most ~lr / sqrt(1 - alpha^k) at step k, times 1 / (1 - momentum)):
    the gradients stay O(1) and never near 0, where RMSprop's g / sqrt(v) would turn
    rounding into O(lr) jumps. The minibatches make the gradients vary, so the centered
    variance v - grad_avg^2 stays a sizeable part of v.

    Tolerance: rmsprop_step_bounds gives each float32 step about 4u |p| plus
    u-relative terms of the O(lr) update, and the float32 gradients' own ~1e-6 relative
    error moves an update by <= lr * 1e-6 (RMSprop's step is about lr g / |g|); 300
    steps: 300 * 8u (1 + |p|) = 1.5e-4 (1 + |p|), the momentum buffer's sum of up to
    1 / (1 - momentum) = 10 of them included by a factor 10 where momentum is on.
    """
    kw = TRAJECTORY_CASES[case]
    model = nn.Linear(5, 3)
    X = rng.standard_normal((32, 5)).astype(np.float32)
    Y = (X @ (3 * rng.standard_normal((3, 5))).T).astype(np.float32)
    ps = list(model.parameters())
    opt = optim.RMSprop(ps, **kw)
    crit = nn.MSELoss()
    W, b = (p.data.astype(np.float64) for p in ps)
    h = dict(dict(alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                  maximize=False), **kw)
    st = [[np.zeros_like(a) for _ in range(3)] for a in (W, b)]
    for k in range(300):
        rows = slice(8 * (k % 4), 8 * (k % 4) + 8)
        x, t = X[rows], Y[rows]
        opt.zero_grad()
        crit(model(x), t).backward()
        opt.step()
        x64, t64 = x.astype(np.float64), t.astype(np.float64)
        dpred = 2 * (x64 @ W.T + b - t64) / t64.size
        for a, g, (v, buf, ga) in ((W, dpred.T @ x64, st[0]), (b, dpred.sum(0), st[1])):
            reference.rmsprop_update(a, g, v, buf, ga, **h)
    tol = 1.5e-4 * (10 if h["momentum"] else 1)
    for p, r in zip(ps, (W, b)):
        assert np.all(np.abs(p.data - r) <= tol * (1 + np.abs(r))), np.abs(p.data - r).max()
    assert opt.state[ps[0]]["step"] == 300.0


# ------------------------------------------------------- the fused epoch --

FUSED_CASES = {
    "plain": dict(lr=1e-3),
    "momentum": dict(lr=1e-3, momentum=0.9),
    "centered": dict(lr=1e-3, centered=True, alpha=0.3),
    "weight_decay": dict(lr=1e-3, weight_decay=0.05, momentum=0.5, centered=True),
    "maximize": dict(lr=1e-4, maximize=True),
}


@pytest.mark.parametrize("case", list(FUSED_CASES))
def test_train_epoch_bitwise_equals_python_loop(rng, isa, threads, case, caplog):
    """The fused epoch calls the same kernel on the same inputs: the same bits and the same
    state as optim.RMSprop's Python loop; a Python step after a fused epoch continues
    identically."""
    check_fused_equals_loop(rng, lambda ps: optim.RMSprop(ps, **FUSED_CASES[case]), caplog)


def test_train_epoch_two_param_groups_bitwise(rng, threads, caplog):
    def make(params):
        ps = list(params)
        return optim.RMSprop([dict(params=ps[:2], lr=5e-4, momentum=0.8, centered=True),
                             dict(params=ps[2:], weight_decay=0.01)], lr=1e-3)

    check_fused_equals_loop(rng, make, caplog)


def _core_args(rng):
    return core_epoch_args(rng, "rmsprop", lambda a: dict(
        lr=0.01, momentum=0.9, centered=True, step=0, square_avg=np.zeros_like(a),
        momentum_buffer=np.zeros_like(a), grad_avg=np.zeros_like(a)))


@pytest.mark.parametrize("key,value,exc,match", [
    ("lr", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['lr'\]: invalid learning rate"),
    ("alpha", float("nan"), ValueError, r"optimizer\['params'\]\[2\]\['alpha'\]"),
    ("eps", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['eps'\]"),
    ("momentum", -0.1, ValueError, r"optimizer\['params'\]\[2\]\['momentum'\]"),
    ("weight_decay", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['weight_decay'\]"),
    ("step", 1.5, ValueError, r"optimizer\['params'\]\[2\]\['step'\]"),
    ("centered", "yes", TypeError, r"optimizer\['params'\]\[2\]\['centered'\]"),
    ("square_avg", None, ValueError, r"optimizer\['params'\]\[2\]\['square_avg'\]"),
    ("momentum_buffer", np.zeros((5, 3), np.float32), ValueError,
     r"optimizer\['params'\]\[2\]\['momentum_buffer'\]"),
    ("grad_avg", np.zeros((3, 5)), TypeError, r"optimizer\['params'\]\[2\]\['grad_avg'\]"),
    ("grad_avg", "alias", ValueError, r"shares memory"),
])
def test_core_bad_rmsprop_options_name_the_argument(rng, key, value, exc, match):
    check_core_bad_option(lambda: _core_args(rng), key, value, exc, match, alias_of="square_avg")


# ---- adamvec: the ISA paths against the generic path, bit for bit ----------------------

@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 31, 33, 257, 70001])
@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_isa_paths_bitwise_equal_generic(rng, threads, n, cfg):
    """Every ISA path this CPU runs gives the generic path's bits on every output
    (elementwise IEEE operations in one order, no contraction), over three steps from a
    state with ~1/4 special values (NaN, +-inf, +-0, denormals, near-overflow; the
    square average too, so sqrt of a negative and inf - inf occur), with each variant
    (centered, momentum, weight decay, maximize, both lerp branches), at tails of every
    length; exact, no tolerance."""
    f = np.float32
    state0 = with_specials(rng, [rng.standard_normal(n).astype(f), rng.standard_normal(n).astype(f),
                                 (rng.standard_normal(n) ** 2).astype(f),
                                 rng.standard_normal(n).astype(f),
                                 (0.1 * rng.standard_normal(n)).astype(f)])
    grads = [state0[1]] + [with_specials(rng, [rng.standard_normal(n).astype(f)])[0] for _ in range(2)]

    def run():
        p, _, v, buf, ga = (a.copy() for a in state0)
        buf = buf if cfg["momentum"] > 0 else None
        ga = ga if cfg["centered"] else None
        for g in grads:
            kernels.rmsprop_update(p, g, v, buf, ga, lr=0.01, **cfg)
        return [a for a in (p, v, buf, ga) if a is not None]

    assert_isa_paths_bitwise_equal(run)
