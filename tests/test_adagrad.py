"""adagrad_update (torch.optim.Adagrad's step) against its float64 twin on every ISA path
and at 1 and 2 threads; optim.Adagrad: PyTorch's API, eager state and state dicts, a
300-step trajectory against a float64 loop, and train_epoch with Adagrad bitwise equal to
the Python loop.

Tolerance of one kernel pass: :func:`adagrad_step_bounds` derives an elementwise bound
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
from optim_suite import check_core_bad_option, core_epoch_args, params

SHAPES = [(0,), (1,), (7, 13), (3, 5, 2), (257,), (31, 33)]
LARGE = (70001,)

CONFIGS = [dict(lr_decay=d, weight_decay=wd, maximize=mx)
           for d, wd, mx in itertools.product([0.0, 0.05], [0.0, 0.1], [False, True])]


def cfg_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items() if v) or "plain"


def adagrad_step_bounds(p, g, s, out_ref, *, step, lr, lr_decay, weight_decay, eps, maximize):
    """Elementwise bounds of one float32 ``adagrad_update`` pass from float32 inputs
    ``p, g, s`` against the float64 twin's results ``out_ref = (p, s)`` on the same
    inputs (u = U; every float32 operation and every cast of a double scalar rounds once,
    by <= u relative; clr is the same double in both):

    - g' = sign*g (+ wd*p): wd's cast, the product and the sum of terms bounded by
      S_g = |g| + wd|p|: dg <= 3u S_g (0 without weight decay).
    - s = s + g'*g': terms >= 0, two roundings: 2u s_ref, plus 2|g'| dg.
    - sqrt(s): u sqrt(s) + min(ds / (2 sqrt(s)), sqrt(ds)); std = sqrt + eps: eps's cast
      and the sum, 2u std.
    - t = ((-clr)*g')/std: the cast, the product, the quotient 3u|t|, plus |t| dstd/std +
      clr dg/std; p + t rounds u (|p| + |t|).

    Returns (tol_p, tol_s), each twice the bound.
    """
    u = U
    p, g, s = (np.asarray(a, np.float64) for a in (p, g, s))
    p_ref, s_ref = out_ref
    wd = weight_decay
    S_g = np.abs(g) + wd * np.abs(p)
    dg = 3 * u * S_g if wd else np.zeros_like(S_g)
    gp = np.abs((-g if maximize else g) + wd * p)
    ds = 2 * u * s_ref + 2 * gp * dg
    rs = np.sqrt(s_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        dsqrt = u * rs + np.minimum(np.where(rs > 0, ds / (2 * rs), np.inf), np.sqrt(ds))
    std = rs + eps
    dstd = dsqrt + 2 * u * std
    clr = lr / (1 + (step - 1) * lr_decay)
    t = clr * gp / std
    dt = t * (3 * u + dstd / std) + clr * dg / std
    return 2 * (u * (np.abs(p) + t) + dt), 2 * ds


def check_step(rng, shape, cfg, step):
    """One pass from a mid-run state: p, g ~ N(0, 1), sum ~ step * 0.5 N^2 + 0.01."""
    f = np.float32
    hyper = dict(lr=0.01, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False)
    hyper.update(cfg)
    p = rng.standard_normal(shape).astype(f)
    g = rng.standard_normal(shape).astype(f)
    s = (step * 0.5 * rng.standard_normal(shape) ** 2 + 0.01).astype(f)
    before = [a.copy() for a in (p, g, s)]
    r = [a.astype(np.float64) for a in (p, s)]
    kernels.adagrad_update(p, g, s, step=step, **hyper)
    reference.adagrad_update(r[0], g, r[1], step=step, **hyper)
    np.testing.assert_array_equal(g, before[1])
    tols = adagrad_step_bounds(*before, tuple(r), step=step, **hyper)
    for label, got, ref, tol in zip(("param", "state_sum"), (p, s), r, tols):
        err = np.abs(got.astype(np.float64) - ref)
        bad = ~(err <= tol)
        assert not bad.any(), (f"adagrad_update {label}: {bad.sum()} elements beyond the "
                               f"bound, worst err/tol {np.max(err / np.maximum(tol, 1e-300)):.3g}")


def test_signature_matches_reference():
    assert inspect.signature(kernels.adagrad_update) == inspect.signature(reference.adagrad_update)


@pytest.mark.parametrize("step", [1, 4, 1000])
@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("shape", SHAPES)
def test_one_step_vs_twin(rng, isa, threads, shape, cfg, step):
    check_step(rng, shape, cfg, step)


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[-1]], ids=cfg_id)
def test_one_step_vs_twin_large(rng, isa, threads, cfg):
    check_step(rng, LARGE, cfg, 7)


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[-1]], ids=cfg_id)
def test_bitwise_1_vs_2_threads(rng, thread_count, cfg):
    n = (1 << 17) | 5
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    res = {}
    for t in (1, 2):
        thread_count(t)
        p, s = p0.copy(), np.zeros(n, np.float32)
        for k, g in enumerate(grads):
            kernels.adagrad_update(p, g, s, step=k + 1, **cfg)
        res[t] = (p, s)
    assert all(np.array_equal(a, b) for a, b in zip(res[1], res[2]))


def test_first_step_and_lr_decay():
    """From a zero sum the first step is -lr * g / |g| = -lr sign(g) (exactly when the
    quotient rounds to 1); at step 3 with lr_decay 0.5 the rate is lr / 2."""
    f = np.float32
    p, g, s = np.zeros(3, f), np.array([2.0, -0.5, 0.0], f), np.zeros(3, f)
    kernels.adagrad_update(p, g, s, step=1, lr=0.1)
    np.testing.assert_array_equal(s, g * g)
    np.testing.assert_allclose(p, [-0.1, 0.1, 0.0], rtol=1e-6)
    q, s2 = np.zeros(3, f), np.zeros(3, f)
    kernels.adagrad_update(q, g, s2, step=3, lr=0.1, lr_decay=0.5)
    np.testing.assert_allclose(q, [-0.05, 0.05, 0.0], rtol=1e-6)


class TestBadInput:
    def setup_method(self):
        f = np.float32
        self.p, self.g, self.s = np.ones((3, 4), f), np.ones((3, 4), f), np.zeros((3, 4), f)

    def untouched(self):
        assert np.all(self.p == 1) and not self.s.any()

    @pytest.mark.parametrize("name,value", [("lr", -0.1), ("lr", float("nan")), ("eps", -1e-8),
                                            ("lr_decay", -0.5), ("weight_decay", -1e-2),
                                            ("step", 0), ("step", float("nan"))])
    def test_hyperparameters(self, name, value):
        kw = {"step": 1, name: value}
        with pytest.raises(ValueError, match=rf"^{name}: "):
            kernels.adagrad_update(self.p, self.g, self.s, **kw)
        self.untouched()

    def test_arrays(self):
        f = np.float32
        p, g, s = self.p, self.g, self.s
        cases = [
            ((np.ones((3, 4)), g, s), TypeError, "param"),
            ((p, np.ones((4, 3), f), s), ValueError, "grad"),
            ((p, p, s), ValueError, "grad"),
            ((p, g, np.zeros((3, 4))), TypeError, "state_sum"),
            ((p, g, np.zeros(12, f)), ValueError, "state_sum"),
            ((p, g, p), ValueError, "state_sum"),
            ((p, g, None), TypeError, "state_sum"),
        ]
        for args, exc, match in cases:
            with pytest.raises(exc, match=match):
                kernels.adagrad_update(*args, step=1)
        self.untouched()

    def test_step_is_required_keyword(self):
        with pytest.raises(TypeError, match="step"):
            kernels.adagrad_update(self.p, self.g, self.s)


# --------------------------------------------------------- optim.Adagrad --


def test_defaults_and_eager_state_are_torch_s(rng):
    ps = params(rng)
    opt = optim.Adagrad(ps, initial_accumulator_value=0.25)
    g = opt.param_groups[0]
    assert {k: g[k] for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                              "eps", "maximize")} == dict(
        lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0.25, eps=1e-10,
        maximize=False)
    assert set(g) == {"params", "lr", "lr_decay", "eps", "weight_decay",
                      "initial_accumulator_value", "foreach", "maximize", "differentiable",
                      "fused"}
    # PyTorch creates every parameter's state in the constructor: step 0 and a filled sum
    assert list(opt.state) == ps
    for p in ps:
        assert list(opt.state[p]) == ["step", "sum"] and opt.state[p]["step"] == 0.0
        s = opt.state[p]["sum"]
        assert s.dtype == np.float32 and s.shape == p.shape and np.all(s == np.float32(0.25))
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1, 2}


@pytest.mark.parametrize("kw, msg", [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(lr_decay=-0.5), "Invalid lr_decay value: -0.5"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value: -1.0"),
    (dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
    (dict(differentiable=True), "differentiable"),
])
def test_pytorch_validation_errors(rng, kw, msg):
    with pytest.raises(ValueError, match=msg):
        optim.Adagrad(params(rng), **kw)
    if "able" not in msg:
        opt = optim.Adagrad(params(rng))
        with pytest.raises(ValueError, match=msg):
            opt.add_param_group(dict(params=params(rng)[:1], **kw))
        assert len(opt.param_groups) == 1


def test_step_counts_skips_and_late_groups(rng):
    ps = params(rng)
    opt = optim.Adagrad(ps[:2])
    before = [p.data.copy() for p in ps]
    ps[0].grad = rng.standard_normal(ps[0].shape).astype(np.float32)
    opt.step()
    assert opt.state[ps[0]]["step"] == 1.0 and opt.state[ps[1]]["step"] == 0.0
    assert type(opt.state[ps[0]]["step"]) is float
    np.testing.assert_array_equal(ps[1].data, before[1])
    opt.add_param_group(dict(params=[ps[2]], initial_accumulator_value=0.5))
    run_steps(opt, ps, [None])  # its state appears at its first step (torch: KeyError)
    assert opt.state[ps[2]]["step"] == 1.0
    np.testing.assert_array_equal(opt.state[ps[2]]["sum"], np.full((2, 4), 1.5, np.float32))


def test_failed_step_changes_nothing(rng):
    ps = params(rng)
    opt = optim.Adagrad(ps)
    run_steps(opt, ps, [None])
    snap = copy.deepcopy(([opt.state[p]["sum"] for p in ps], [p.data.copy() for p in ps]))
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    ps[2].grad = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        opt.step()
    ps[2].grad = np.ones((2, 4), np.float32)
    opt.state[ps[2]]["sum"] = np.zeros((2, 4))
    with pytest.raises(ValueError, match="sum"):
        opt.step()
    for p, s, d in zip(ps[:2], snap[0], snap[1]):
        np.testing.assert_array_equal(p.data, d)
        np.testing.assert_array_equal(opt.state[p]["sum"], s)
    assert all(opt.state[p]["step"] == 1.0 for p in ps)


@pytest.mark.parametrize("kw", [dict(), dict(lr_decay=0.1, weight_decay=0.01, maximize=True,
                                             initial_accumulator_value=0.1)],
                         ids=["plain", "all"])
def test_state_dict_round_trip_continues_bitwise(rng, kw):
    ps = params(rng)
    opt = optim.Adagrad(ps, **kw)
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in ps] for _ in range(6)]
    run_steps(opt, ps, grads[:3])
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 3.0
    ps2 = [nn.Parameter(p.data.copy()) for p in ps]
    opt2 = optim.Adagrad(ps2, lr=0.5)
    opt2.load_state_dict(copy.deepcopy(sd))
    run_steps(opt, ps, grads[3:])
    run_steps(opt2, ps2, grads[3:])
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.data, p2.data)
        np.testing.assert_array_equal(opt.state[p]["sum"], opt2.state[p2]["sum"])
    sd0 = copy.deepcopy(sd)
    for v in sd0["state"].values():
        v["step"] = np.array(v["step"], np.float32)
    opt3 = optim.Adagrad([nn.Parameter(p.data.copy()) for p in ps], **kw)
    opt3.load_state_dict(sd0)
    run_steps(opt3, opt3.param_groups[0]["params"], [None])
    assert all(s["step"] == 4.0 for s in opt3.state.values())


@pytest.mark.parametrize("kw", [dict(lr=1e-2), dict(lr=2e-2, lr_decay=0.01, weight_decay=0.1,
                                                    initial_accumulator_value=0.1)],
                         ids=["plain", "all"])
def test_300_steps_vs_float64_loop(rng, kw):
    """300 steps of optim.Adagrad on Linear(5, 3) + MSELoss over minibatches of 8 of 32
    rows against the same training in float64 with reference.adagrad_update and
    hand-derived gradients.

    Targets Y = X @ A^T with A ~ 3 N(0, 1) keep the optimum O(3) away; Adagrad's steps
    lr g_k / sqrt(sum_j g_j^2) sum to at most about 2 lr sqrt(300) = 0.7 here, so the
    gradients stay O(1). Tolerance: adagrad_step_bounds gives each float32 step about 4u
    |p| plus u-relative terms of the O(lr) update; 300 steps: 300 * 8u (1 + |p|) =
    1.5e-4 (1 + |p|).
    """
    model = nn.Linear(5, 3)
    X = rng.standard_normal((32, 5)).astype(np.float32)
    Y = (X @ (3 * rng.standard_normal((3, 5))).T).astype(np.float32)
    ps = list(model.parameters())
    opt = optim.Adagrad(ps, **kw)
    crit = nn.MSELoss()
    h = dict(dict(lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False), **kw)
    init = h.pop("initial_accumulator_value", 0.0)
    W, b = (p.data.astype(np.float64) for p in ps)
    sums = [np.full(W.shape, np.float64(np.float32(init))), np.full(b.shape, np.float64(np.float32(init)))]
    for k in range(300):
        rows = slice(8 * (k % 4), 8 * (k % 4) + 8)
        x, t = X[rows], Y[rows]
        opt.zero_grad()
        crit(model(x), t).backward()
        opt.step()
        x64, t64 = x.astype(np.float64), t.astype(np.float64)
        dpred = 2 * (x64 @ W.T + b - t64) / t64.size
        for a, g, s in ((W, dpred.T @ x64, sums[0]), (b, dpred.sum(0), sums[1])):
            reference.adagrad_update(a, g, s, step=k + 1, **h)
    for p, r in zip(ps, (W, b)):
        assert np.all(np.abs(p.data - r) <= 1.5e-4 * (1 + np.abs(r))), np.abs(p.data - r).max()
    assert opt.state[ps[0]]["step"] == 300.0


# ------------------------------------------------------- the fused epoch --

FUSED_CASES = {
    "plain": dict(lr=0.05),
    "lr_decay": dict(lr=0.05, lr_decay=0.05),
    "weight_decay_init": dict(lr=0.05, weight_decay=0.05, initial_accumulator_value=0.1),
    "maximize": dict(lr=1e-3, maximize=True, eps=1e-6),
}


@pytest.mark.parametrize("case", list(FUSED_CASES))
def test_train_epoch_bitwise_equals_python_loop(rng, isa, threads, case, caplog):
    """The fused epoch calls the same kernel on the same inputs: the same bits and the same
    state as optim.Adagrad's Python loop; a Python step after a fused epoch continues
    identically."""
    check_fused_equals_loop(rng, lambda ps: optim.Adagrad(ps, **FUSED_CASES[case]), caplog)


def test_train_epoch_two_param_groups_bitwise(rng, threads, caplog):
    def make(params):
        ps = list(params)
        return optim.Adagrad([dict(params=ps[:2], lr=0.02, lr_decay=0.1),
                             dict(params=ps[2:], initial_accumulator_value=0.3)], lr=0.05)

    check_fused_equals_loop(rng, make, caplog)


def _core_args(rng):
    return core_epoch_args(rng, "adagrad", lambda a: dict(lr=0.01, lr_decay=0.01, step=0,
                                                          sum=np.zeros_like(a)))


@pytest.mark.parametrize("key,value,exc,match", [
    ("lr", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['lr'\]: invalid learning rate"),
    ("lr_decay", -0.1, ValueError, r"optimizer\['params'\]\[2\]\['lr_decay'\]"),
    ("eps", float("nan"), ValueError, r"optimizer\['params'\]\[2\]\['eps'\]"),
    ("weight_decay", -1.0, ValueError, r"optimizer\['params'\]\[2\]\['weight_decay'\]"),
    ("step", -1, ValueError, r"optimizer\['params'\]\[2\]\['step'\]"),
    ("maximize", "yes", TypeError, r"optimizer\['params'\]\[2\]\['maximize'\]"),
    ("sum", None, ValueError, r"optimizer\['params'\]\[2\]\['sum'\]"),
    ("sum", np.zeros((5, 3), np.float32), ValueError, r"optimizer\['params'\]\[2\]\['sum'\]"),
    ("sum", "alias", ValueError, r"shares memory"),
])
def test_core_bad_adagrad_options_name_the_argument(rng, key, value, exc, match):
    # "alias": the parameter's own memory as its sum
    check_core_bad_option(lambda: _core_args(rng), key, value, exc, match, alias_of="param")


# ---- adamvec: the ISA paths against the generic path, bit for bit ----------------------

@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 31, 33, 257, 70001])
@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_isa_paths_bitwise_equal_generic(rng, threads, n, cfg):
    """Every ISA path this CPU runs gives the generic path's bits on param and state_sum
    (elementwise IEEE operations in one order, no contraction), over three steps from a
    state with ~1/4 special values (NaN, +-inf, +-0, denormals, near-overflow; state_sum
    too, so sqrt of a negative occurs), with and without weight decay, maximize, lr_decay,
    at tails of every length; exact, no tolerance."""
    f = np.float32
    state0 = with_specials(rng, [rng.standard_normal(n).astype(f),
                                 (rng.standard_normal(n) ** 2).astype(f)])
    grads = [with_specials(rng, [rng.standard_normal(n).astype(f)])[0] for _ in range(3)]

    def run():
        p, s = (a.copy() for a in state0)
        for k, g in enumerate(grads):
            kernels.adagrad_update(p, g, s, step=[1, 7, 1000][k], lr=0.01, **cfg)
        return [p, s]

    assert_isa_paths_bitwise_equal(run)
