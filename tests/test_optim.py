"""optim.SGD (PyTorch structure and semantics, vs the float64 reference and vs torch) and
the learning-rate schedulers (vs torch's values)."""
import copy

import numpy as np
import pytest

from fastmlp import nn, optim, reference
from fastmlp.optim.lr_scheduler import ExponentialLR, LambdaLR, MultiStepLR, StepLR
from helpers import run_steps
from optim_suite import params

OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.02, momentum=0.5, weight_decay=0.01),
    dict(lr=0.02, weight_decay=0.1, maximize=True),
    dict(lr=0.03, momentum=0.7, nesterov=True, weight_decay=1e-3, maximize=True),
]
IDS = ["-".join(f"{k}={v}" for k, v in o.items()) for o in OPTIONS]


# ------------------------------------------------------- structure --


def test_param_groups_and_defaults(rng):
    ps = params(rng)
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    assert len(opt.param_groups) == 1
    g = opt.param_groups[0]
    assert g["params"] == ps
    assert {k: g[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov",
                              "maximize")} == dict(lr=0.1, momentum=0.9, dampening=0,
                                                   weight_decay=0, nesterov=False, maximize=False)
    opt2 = optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt2.param_groups] == [0.1, 0.5]
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(ps[0], lr=0.1)
    net = nn.Sequential(nn.Linear(3, 2))
    assert len(optim.SGD(net.parameters(), lr=0.1).param_groups[0]["params"]) == 2  # a generator


@pytest.mark.parametrize("kw, msg", [
    (dict(lr=-0.1), "Invalid learning rate"),
    (dict(lr=0.1, momentum=-1), "Invalid momentum value"),
    (dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value"),
    (dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
])
def test_pytorch_validation_errors(rng, kw, msg):
    with pytest.raises(ValueError, match=msg):
        optim.SGD(params(rng), **kw)


def test_momentum_buffer_created_on_first_step_and_params_without_grad_skipped(rng):
    ps = params(rng)
    opt = optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)
    ps[0].grad = rng.standard_normal(ps[0].shape).astype(np.float32)
    p0 = ps[0].data.copy()
    untouched = [p.data.copy() for p in ps[1:]]
    data_ids = [id(p.data) for p in ps]
    opt.step()
    assert list(opt.state) == [ps[0]]
    buf = opt.state[ps[0]]["momentum_buffer"]
    assert isinstance(buf, np.ndarray) and buf.dtype == np.float32
    # PyTorch's rule: the first buffer is the (decayed) gradient itself, no dampening
    np.testing.assert_allclose(buf, ps[0].grad + 0.01 * p0, rtol=1e-6)
    for p, before in zip(ps[1:], untouched):
        np.testing.assert_array_equal(p.data, before)
    assert [id(p.data) for p in ps] == data_ids  # updated in place, never rebound


def test_zero_grad(rng):
    ps = params(rng)
    opt = optim.SGD(ps, lr=0.1)
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_failed_step_changes_nothing(rng):
    ps = params(rng)
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    ps[-1].grad = np.ones((3, 3), np.float32)  # wrong shape, last in the list
    before = [p.data.copy() for p in ps]
    with pytest.raises(ValueError, match="shape"):
        opt.step()
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.data, b)
    assert len(opt.state) == 0


def test_closure(rng):
    p = nn.Parameter(np.array([1.0, -2.0], np.float32))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.data, [0.8, -1.6], rtol=1e-6)


# ------------------------------------------------------------ numerics --


@pytest.mark.parametrize("opts", OPTIONS, ids=IDS)
def test_sgd_matches_float64_reference(rng, opts):
    ps = params(rng)
    ref = [p.data.astype(np.float64) for p in ps]
    ref_bufs = [np.zeros_like(r) for r in ref]
    opt = optim.SGD(ps, **opts)
    for step in range(25):
        grads = [rng.standard_normal(p.shape) for p in ps]
        for p, g in zip(ps, grads):
            p.grad = g.astype(np.float32)
        opt.step()
        for r, g, b in zip(ref, grads, ref_bufs):
            reference.sgd_update(r, g.astype(np.float32), b, first_step=step == 0,
                                 **{k: v for k, v in opts.items()})
    # float32 updates of O(1) values: each step rounds to 2^-24 relative; 25 steps with
    # momentum amplification (1/(1-0.9) = 10) stay below ~25 * 10 * 6e-8 = 1.5e-5.
    # Observed (20 seeds x all options): max |p - p_ref| = 1.6e-6.
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(p.data, r, rtol=0, atol=1.5e-5)


@pytest.mark.parametrize("opts", OPTIONS, ids=IDS)
def test_sgd_matches_torch(rng, opts):
    torch = pytest.importorskip("torch")
    ps = params(rng)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    opt = optim.SGD(ps, **opts)
    topt = torch.optim.SGD(tps, **opts)
    for step in range(30):
        for p, tp in zip(ps, tps):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    # Both float32, the same formula; torch's multi-tensor path rounds (e.g. lr*g, or FMA
    # use) differently by an ulp per step. Observed over 5 seeds x all options, 30 steps of
    # O(1) gradients on O(1) params: max |p - p_torch| = 9.5e-7; bound ~10x.
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-5)
    # identical state-dict layout
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["param_groups"][0].keys() == theirs["param_groups"][0].keys()
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    assert ours["state"].keys() == theirs["state"].keys()
    for k in theirs["state"]:
        assert ours["state"][k].keys() == theirs["state"][k].keys()
        np.testing.assert_allclose(ours["state"][k]["momentum_buffer"],
                                   theirs["state"][k]["momentum_buffer"].numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_torch_optimizer_state_dict_loads(rng):
    torch = pytest.importorskip("torch")
    opts = dict(lr=0.05, momentum=0.9, nesterov=True)
    ps = params(rng)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    topt = torch.optim.SGD(tps, **opts)
    for tp in tps:
        tp.grad = torch.ones_like(tp)
    topt.step()
    for p, tp in zip(ps, tps):
        p.data[...] = tp.detach().numpy()
    opt = optim.SGD(ps, lr=1.0)
    opt.load_state_dict(topt.state_dict())
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["nesterov"]
    assert opt.param_groups[0]["params"] == ps
    for step in range(5):
        for p, tp in zip(ps, tps):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, tp.grad = g, torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_continues_bitwise(rng):
    ps = params(rng)
    opt = optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2)
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in ps] for _ in range(6)]

    run_steps(opt, ps, grads[:3])
    sd = opt.state_dict()
    ps2 = [nn.Parameter(p.data.copy()) for p in ps]
    opt2 = optim.SGD(ps2, lr=0.5)
    opt2.load_state_dict(copy.deepcopy(sd))
    # the saved dict is a snapshot: later steps don't change it
    snap = {k: v["momentum_buffer"].copy() for k, v in sd["state"].items()}
    run_steps(opt, ps, grads[3:])
    run_steps(opt2, ps2, grads[3:])
    for p, p2 in zip(ps, ps2):
        np.testing.assert_array_equal(p.data, p2.data)
    for k, v in snap.items():
        np.testing.assert_array_equal(sd["state"][k]["momentum_buffer"], v)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt2.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD(ps[:1], lr=0.1).load_state_dict(sd)


# ---------------------------------------------------------- schedulers --


def _lrs(sched_cls, opt, kwargs, epochs):
    sched = sched_cls(opt, **kwargs)
    out = [list(sched.get_last_lr())]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(list(sched.get_last_lr()))
    return out, sched


def test_step_lr_schedule(rng):
    opt = optim.SGD(params(rng), lr=0.1)
    lrs, sched = _lrs(StepLR, opt, dict(step_size=3, gamma=0.5), 9)
    expect = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125]
    assert [x[0] for x in lrs] == pytest.approx(expect, rel=1e-12)
    assert opt.param_groups[0]["lr"] == lrs[-1][0] and sched.last_epoch == 9
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 9 and sd["step_size"] == 3


SCHEDULERS = [
    ("StepLR", dict(step_size=2, gamma=0.3)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 7], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_schedulers_match_torch_exactly(rng, name, kwargs):
    torch = pytest.importorskip("torch")
    ps = params(rng)
    opt = optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.3}], lr=0.1)
    topt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]},
                            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.3}], lr=0.1)
    ours, _ = _lrs(getattr(optim.lr_scheduler, name), opt, kwargs, 12)
    theirs, _ = _lrs(getattr(torch.optim.lr_scheduler, name), topt, kwargs, 12)
    assert ours == theirs  # the same recursive formulas: bit for bit


def test_lambda_lr_and_scheduler_state_round_trip(rng):
    opt = optim.SGD(params(rng), lr=1.0)
    sched = LambdaLR(opt, lambda e: 1.0 / (e + 1))
    for _ in range(3):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [0.25]
    opt2 = optim.SGD(params(rng), lr=1.0)
    s2 = MultiStepLR(opt2, milestones=[1, 3])
    s2.step()
    s3 = MultiStepLR(optim.SGD(params(rng), lr=1.0), milestones=[9])
    s3.load_state_dict(s2.state_dict())
    assert s3.last_epoch == 1 and s3.milestones == s2.milestones
    with pytest.raises(TypeError):
        ExponentialLR(object(), gamma=0.5)
