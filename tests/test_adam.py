"""adam_update (torch.optim.Adam's step) against its float64 twin on every ISA path and at
1 and 2 threads; optim.Adam: PyTorch's API, state and state dicts, a 200-step trajectory
against a float64 loop, and train_epoch with Adam bitwise equal to the Python loop.

Tolerance of one kernel pass: tests/helpers.py's ``adam_step_bounds`` derives an
elementwise bound from the float32 roundings of each quantity (6u for exp_avg relative to
the magnitudes it is formed from, 10u relative for exp_avg_sq and the denominator, their
sum for the update), and the tests allow twice it. Observed worst error / allowed over
every config, steps 1, 3 and 1000, 20000 elements: 0.36 (param), 0.15 (exp_avg), 0.36
(exp_avg_sq): the derived bound is within 1.4x of the worst case seen.
"""
import inspect
import itertools

import numpy as np
import pytest

from fastmlp import kernels, reference
from helpers import U, adam_random_state, assert_isa_paths_bitwise_equal, check_adam_step, with_specials

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


# ------------------------------------------------------------ optim.Adam --

import copy  # noqa: E402

from fastmlp import nn, optim  # noqa: E402
from helpers import run_steps, step_with_torch  # noqa: E402
from optim_suite import check_closure, params  # noqa: E402

OPT_CASES = {
    "adam": (optim.Adam, dict(lr=1e-3)),
    "adam-wd-amsgrad": (optim.Adam, dict(lr=2e-3, weight_decay=0.1, amsgrad=True)),
    "adam-maximize-betas": (optim.Adam, dict(lr=1e-3, betas=(0.3, 0.9), maximize=True)),
    "adamw": (optim.AdamW, dict(lr=1e-3)),
    "adamw-amsgrad": (optim.AdamW, dict(lr=2e-3, weight_decay=0.5, amsgrad=True)),
}


def test_defaults_and_param_groups_are_torch_s(rng):
    ps = params(rng)
    g = optim.Adam(ps).param_groups[0]
    assert {k: g[k] for k in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
                              "decoupled_weight_decay")} == dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
        decoupled_weight_decay=False)
    assert set(g) == {"params", "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
                      "foreach", "capturable", "differentiable", "fused",
                      "decoupled_weight_decay"}
    w = optim.AdamW(ps).param_groups[0]
    assert w["weight_decay"] == 1e-2 and w["decoupled_weight_decay"] is True
    assert set(w) == set(g)
    two = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5, "amsgrad": True}])
    assert [(x["lr"], x["amsgrad"]) for x in two.param_groups] == [(1e-3, False), (0.5, True)]


@pytest.mark.parametrize("kw, msg", [
    (dict(lr=-0.1), "Invalid learning rate"),
    (dict(eps=-1e-8), "Invalid epsilon value"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0"),
    (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    (dict(betas=(0.9,)), "Invalid betas"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value"),
    (dict(differentiable=True), "differentiable"),
    (dict(capturable=True), "capturable"),
])
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_pytorch_validation_errors(rng, cls, kw, msg):
    with pytest.raises(ValueError, match=msg):
        cls(params(rng), **kw)
    if "able" not in msg:  # a group's hyperparameters are checked when it is added
        opt = cls(params(rng))
        with pytest.raises(ValueError, match=msg):
            opt.add_param_group(dict(params=params(rng)[:1], **kw))
        assert len(opt.param_groups) == 1


def test_state_created_on_first_step_and_params_without_grad_skipped(rng):
    ps = params(rng)
    opt = optim.Adam(ps, amsgrad=True)
    before = [p.data.copy() for p in ps]
    ps[0].grad = rng.standard_normal(ps[0].shape).astype(np.float32)
    v0 = ps[0]._version
    opt.step()
    assert list(opt.state) == [ps[0]]
    st = opt.state[ps[0]]
    assert list(st) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert st["step"] == 1.0 and type(st["step"]) is float
    assert all(st[k].dtype == np.float32 and st[k].shape == (4, 3) for k in list(st)[1:])
    assert ps[0]._version > v0 and not np.array_equal(ps[0].data, before[0])
    np.testing.assert_array_equal(ps[1].data, before[1])
    opt.step()
    assert opt.state[ps[0]]["step"] == 2.0


def test_failed_step_changes_nothing(rng):
    ps = params(rng)
    opt = optim.Adam(ps)
    run_steps(opt, ps, [None])
    snap = copy.deepcopy((opt.state_dict(), [p.data.copy() for p in ps]))
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    ps[2].grad = np.ones((3, 3), np.float32)  # the last one is bad
    with pytest.raises(ValueError, match="shape"):
        opt.step()
    opt.state[ps[2]]["exp_avg"] = np.zeros((2, 4))  # float64 state
    ps[2].grad = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.step()
    for p, d in zip(ps, snap[1]):
        np.testing.assert_array_equal(p.data, d)
    sd = opt.state_dict()
    assert [v["step"] for v in sd["state"].values()] == [1.0, 1.0, 1.0]
    for k in range(2):
        np.testing.assert_array_equal(sd["state"][k]["exp_avg"], snap[0]["state"][k]["exp_avg"])


def test_closure(rng):
    check_closure(rng, optim.Adam, 3.5)


def test_amsgrad_turned_on_later_gets_a_zero_max(rng):
    ps = params(rng)
    opt = optim.Adam(ps)
    run_steps(opt, ps, [None])
    opt.param_groups[0]["amsgrad"] = True
    run_steps(opt, ps, [None])
    for p in ps:
        np.testing.assert_array_equal(opt.state[p]["max_exp_avg_sq"], opt.state[p]["exp_avg_sq"])


def _linear_problem(rng, n=32, d_in=5, d_out=3):
    X = rng.standard_normal((n, d_in)).astype(np.float32)
    Y = rng.standard_normal((n, d_out)).astype(np.float32)
    model = nn.Linear(d_in, d_out)
    return model, X, Y


@pytest.mark.parametrize("case", list(OPT_CASES))
def test_200_steps_vs_float64_loop(rng, case):
    """200 steps of optim.Adam/AdamW on Linear(5, 3) + MSELoss against the same training
    written in float64 with reference.adam_update/adamw_update and hand-derived gradients
    (dpred = 2 (pred - Y) / (N * 3), dW = dpred^T X, db = column sums).

    Tolerance: lr <= 2e-3 keeps the parameters O(1) and the gradients away from the
    optimum (where Adam's g / sqrt(v) would amplify any rounding); each float32 step
    rounds |p| ~ 1 a few times (adam_step_bounds: <= 8u |p| plus u-relative terms of the
    O(lr) update), so 200 steps stay below 200 * 8u * (1 + |p|) = 1e-4 (1 + |p|) in the
    worst case; the float32 gradients' own ~1e-6 relative error moves an update by
    <= lr * 1e-6 per step. Observed: below 1e-6.
    """
    cls, kw = OPT_CASES[case]
    model, X, Y = _linear_problem(rng)
    ps = list(model.parameters())
    opt = cls(ps, **kw)
    crit = nn.MSELoss()
    W, b = (p.data.astype(np.float64) for p in ps)
    st = [[np.zeros_like(a) for _ in range(3)] for a in (W, b)]
    defaults = dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0 if cls is optim.Adam else 1e-2,
                    amsgrad=False, maximize=False)
    h = dict(defaults, **kw)
    beta1, beta2 = h.pop("betas")
    ref = reference.adamw_update if cls is optim.AdamW else reference.adam_update
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    for step in range(1, 201):
        opt.zero_grad()
        crit(model(X), Y).backward()
        opt.step()
        dpred = 2 * (X64 @ W.T + b - Y64) / Y64.size
        for a, g, (m, v, mx) in ((W, dpred.T @ X64, st[0]), (b, dpred.sum(0), st[1])):
            ref(a, g, m, v, mx, step=step, beta1=beta1, beta2=beta2, **h)
    for p, r in zip(ps, (W, b)):
        np.testing.assert_allclose(p.data, r, rtol=1e-4, atol=1e-4)
    assert opt.state[ps[0]]["step"] == 200.0


@pytest.mark.parametrize("case", list(OPT_CASES))
def test_matches_torch(rng, case):
    torch = pytest.importorskip("torch")
    cls, kw = OPT_CASES[case]
    ps = params(rng)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    opt = cls(ps, **kw)
    topt = getattr(torch.optim, cls.__name__)(tps, foreach=False, **kw)
    step_with_torch(rng, ps, opt, tps, topt, 30)
    # The same float32 formula in the same order; torch's vectorized kernels use an FMA
    # (lerp_, add with alpha) where ours round twice: an ulp per operation per step, 30
    # steps of O(lr) updates. Observed (torch 2.13.0+cpu, foreach=False): these small
    # tensors bitwise equal except with Adam's weight_decay (2 of 24 elements by 1 ulp);
    # on 78k elements, 10 steps, 1-2% of the parameters differ, by 1 ulp of |p| ~ 1.
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-5)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["param_groups"][0].keys() == theirs["param_groups"][0].keys()
    for k in theirs["state"]:
        assert ours["state"][k].keys() == theirs["state"][k].keys()
        assert ours["state"][k]["step"] == float(theirs["state"][k]["step"])
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(ours["state"][k][name], theirs["state"][k][name].numpy(),
                                       rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("case", ["adam-wd-amsgrad", "adamw"])
def test_torch_state_dict_loads_and_continues(rng, case):
    torch = pytest.importorskip("torch")
    cls, kw = OPT_CASES[case]
    ps = params(rng)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    topt = getattr(torch.optim, cls.__name__)(tps, foreach=False, **kw)
    for _ in range(3):
        for tp in tps:
            tp.grad = torch.from_numpy(rng.standard_normal(tp.shape).astype(np.float32))
        topt.step()
    for p, tp in zip(ps, tps):
        p.data[...] = tp.detach().numpy()
    opt = cls(ps, lr=1.0)
    opt.load_state_dict(topt.state_dict())
    assert opt.param_groups[0]["lr"] == kw["lr"] and opt.param_groups[0]["params"] == ps
    step_with_torch(rng, ps, opt, tps, topt, 5)
    assert all(s["step"] == 8.0 for s in opt.state.values())
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", list(OPT_CASES))
def test_state_dict_round_trip_continues_bitwise(rng, case):
    cls, kw = OPT_CASES[case]
    ps = params(rng)
    opt = cls(ps, **kw)
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in ps] for _ in range(6)]

    run_steps(opt, ps, grads[:3])
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1, 2} and sd["state"][0]["step"] == 3.0
    ps2 = [nn.Parameter(p.data.copy()) for p in ps]
    opt2 = cls(ps2, lr=0.5)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    snap = {k: v["exp_avg"].copy() for k, v in sd["state"].items()}
    run_steps(opt, ps, grads[3:])
    run_steps(opt2, ps2, grads[3:])
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.data, p2.data)
    for p, p2 in zip(ps, ps2):
        for name, a in opt.state[p].items():
            np.testing.assert_array_equal(a, opt2.state[p2][name])
    for k, v in snap.items():  # the saved dict is a snapshot
        np.testing.assert_array_equal(sd["state"][k]["exp_avg"], v)
    # a 0-d step (as a torch state dict holds) loads and continues the same
    sd0 = copy.deepcopy(sd)
    for v in sd0["state"].values():
        v["step"] = np.array(v["step"], np.float32)
    opt3 = cls([nn.Parameter(p.data.copy()) for p in ps], **kw)
    opt3.load_state_dict(sd0)
    run_steps(opt3, opt3.param_groups[0]["params"], [None])
    assert all(s["step"] == 4.0 for s in opt3.state.values())


# ------------------------------------------------------- the fused epoch --

from fastmlp.train import train_epoch  # noqa: E402
from helpers import check_fused_equals_loop, seed_net  # noqa: E402
from optim_suite import check_core_bad_option, core_epoch_args  # noqa: E402


@pytest.mark.parametrize("case", list(OPT_CASES))
def test_train_epoch_bitwise_equals_python_loop(rng, threads, case, caplog):
    """The fused epoch calls the same kernel on the same inputs: the same bits, and the
    same state (step counts, moments) as optim.Adam's Python loop; a Python step after a
    fused epoch continues identically."""
    cls, kw = OPT_CASES[case]
    check_fused_equals_loop(rng, lambda ps: cls(ps, **kw), caplog)


def test_adam_with_decoupled_weight_decay_runs_the_loop_and_says_why(rng, caplog):
    import logging
    m = seed_net(sizes=(6, 3), flatten=False)
    o = optim.Adam(m.parameters(), decoupled_weight_decay=True, weight_decay=0.1)
    assert "decoupled_weight_decay" in o.fused_unavailable()
    X, y = rng.standard_normal((20, 6)).astype(np.float32), rng.integers(0, 3, 20)
    m2 = copy.deepcopy(m)
    o2 = optim.AdamW(m2.parameters(), weight_decay=0.1)  # the same rule, fused
    with caplog.at_level(logging.DEBUG, logger="fastmlp"):
        l1 = train_epoch(m, X, y, nn.CrossEntropyLoss(), o, batch_size=8, seed=0)
    assert "decoupled_weight_decay" in caplog.text
    assert l1 == train_epoch(m2, X, y, nn.CrossEntropyLoss(), o2, batch_size=8, seed=0)
    for p1, p2 in zip(m.parameters(), m2.parameters()):
        assert np.array_equal(p1.data, p2.data)


def _core_adam_args(rng, kind="adam"):
    return core_epoch_args(rng, kind, lambda a: dict(
        lr=0.01, amsgrad=True, step=0, exp_avg=np.zeros_like(a), exp_avg_sq=np.zeros_like(a),
        max_exp_avg_sq=np.zeros_like(a)))


@pytest.mark.parametrize("key,value,exc,match", [
    ("beta1", 1.0, ValueError, r"optimizer\['params'\]\[2\]\['beta1'\]"),
    ("beta2", -0.5, ValueError, r"optimizer\['params'\]\[2\]\['beta2'\]"),
    ("eps", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['eps'\]"),
    ("lr", float("nan"), ValueError, r"optimizer\['params'\]\[2\]\['lr'\]"),
    ("weight_decay", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['weight_decay'\]"),
    ("step", -1, ValueError, r"optimizer\['params'\]\[2\]\['step'\]"),
    ("step", 2.5, ValueError, r"optimizer\['params'\]\[2\]\['step'\]"),
    ("amsgrad", "yes", TypeError, r"optimizer\['params'\]\[2\]\['amsgrad'\]"),
    ("exp_avg", None, ValueError, r"optimizer\['params'\]\[2\]\['exp_avg'\]"),
    ("exp_avg_sq", np.zeros((5, 3), np.float32), ValueError,
     r"optimizer\['params'\]\[2\]\['exp_avg_sq'\]"),
    ("max_exp_avg_sq", np.zeros((3, 5)), TypeError, r"optimizer\['params'\]\[2\]\['max_exp_avg_sq'\]"),
    ("max_exp_avg_sq", "alias", ValueError, r"shares memory"),
])
@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_core_bad_adam_options_name_the_argument(rng, kind, key, value, exc, match):
    check_core_bad_option(lambda: _core_adam_args(rng, kind), key, value, exc, match, alias_of="exp_avg")


# ---- adamvec: the ISA paths against the generic path, bit for bit ----------------------

ISA_SIZES = [1, 7, 15, 16, 17, 31, 33, 257, 70001]  # tails of every length mod 8 and 16, parallel
ISA_CONFIGS = [dict(c, name=name) for name in ("adam_update", "adamw_update") for c in CONFIGS]


@pytest.mark.parametrize("n", ISA_SIZES)
@pytest.mark.parametrize("cfg", ISA_CONFIGS, ids=lambda c: c["name"] + "-" + cfg_id(
    {k: v for k, v in c.items() if k != "name"}))
def test_isa_paths_bitwise_equal_generic(rng, threads, n, cfg):
    """Every ISA path this CPU runs gives the generic path's bits on all four outputs
    (elementwise IEEE operations in one order, no contraction), over three steps from a
    state with ~1/4 special values (NaN, +-inf, +-0, denormals, near-overflow; exp_avg_sq
    too, so sqrt of a negative, inf/inf and 0/0 occur), with each variant (amsgrad,
    maximize, weight decay, Adam/AdamW, both lerp branches), at tails of every length;
    exact, no tolerance."""
    cfg = dict(cfg)
    fn = getattr(kernels, cfg.pop("name"))
    state0 = with_specials(rng, adam_random_state(rng, (n,), True))
    grads = [state0[1]] + [with_specials(rng, [rng.standard_normal(n).astype(np.float32)])[0]
                           for _ in range(2)]

    def run():
        p, _, m, v, mx = (a.copy() for a in state0)
        mx = mx if cfg["amsgrad"] else None
        for k, g in enumerate(grads):
            fn(p, g, m, v, mx, step=[1, 7, 1000][k], lr=0.01, **cfg)
        return [a for a in (p, m, v, mx) if a is not None]

    assert_isa_paths_bitwise_equal(run)
