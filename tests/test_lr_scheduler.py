"""The schedulers added for issue 10: CosineAnnealingLR, LinearLR, OneCycleLR,
ReduceLROnPlateau, SequentialLR (StepLR and friends are in test_optim.py).

What is checked, and how:

- hard-computed small cases (values worked out by hand from PyTorch's formulas);
- the recursive ``get_lr`` against the class's closed form. Tolerance: a recursive
  step of CosineAnnealingLR or LinearLR is at most 6 float64 roundings (two ``1 +
  cos`` or the factor's sum and product, a division, the product with the lr, the
  subtraction and the addition of ``eta_min``), each at most ``u = 2**-53`` times the
  largest lr involved, and in the decreasing half of the cosine (and the whole of
  LinearLR, whose factors have lrs no larger than ``base``) a step does not amplify the
  error already made: the ``cos`` values are the same floats in the recursion and in the
  closed form (``math.pi * t / T`` is computed identically), so their own errors
  telescope away. The closed form adds at most 4 roundings. So after ``t`` steps
  ``|recursive - closed| <= (6 t + 4) u max|lr|``; we assert ``(10 t + 10) u max|lr|``;
- state_dict round trips mid-schedule: a fresh optimizer and scheduler that load both
  state dicts continue bit for bit like the original;
- every bad argument raises ValueError/TypeError naming it (PyTorch's message where
  PyTorch has one);
- against torch.optim.lr_scheduler bit for bit when torch is installed (skipped
  otherwise).

Randomized parts (T_max, factors, metric sequences) draw from the ``rng`` fixture; before
committing they were run over 50 session seeds:
``for s in $(seq 0 49); do FASTMLP_TEST_SEED=$s pytest tests/test_lr_scheduler.py; done``.
"""
import copy
import math

import numpy as np
import pytest

from fastmlp import nn, optim
from fastmlp.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR, OneCycleLR,
                                        ReduceLROnPlateau, SequentialLR)

U = 2.0 ** -53


def sgd(lr=1.0, groups=1, **kw):
    ps = [nn.Parameter(np.zeros(3, np.float32)) for _ in range(groups)]
    if groups == 1:
        return optim.SGD(ps, lr=lr, **kw)
    return optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)], lr=lr, **kw)


def run(sched, steps, opt=None):
    """The lrs after construction and after each of ``steps`` steps (first group)."""
    out = [sched.get_last_lr()[0]]
    for _ in range(steps):
        if opt is not None:
            opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def closed_forms(sched, steps):
    """The closed form at 0..steps on a scheduler built alike (last_epoch set by hand)."""
    out = []
    for t in range(steps + 1):
        sched.last_epoch = t
        out.append(sched._get_closed_form_lr()[0])
    return out


# ------------------------------------------------------------- CosineAnnealingLR --


def test_cosine_hard_computed_through_the_trough():
    # T_max=2, base 1, eta_min 0: 1, 1/2, 0, then the trough case (1 - cos(pi/2))/2 = 1/2,
    # then back to 1: PyTorch's schedule has period 2 T_max.
    lrs = run(CosineAnnealingLR(sgd(1.0), T_max=2), 6)
    assert lrs == pytest.approx([1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0], abs=1e-15)
    # eta_min: 0.1 + 0.9 * (1 + cos(pi t / 4)) / 2
    lrs = run(CosineAnnealingLR(sgd(1.0), T_max=4, eta_min=0.1), 4)
    expect = [0.1 + 0.9 * (1 + c) / 2 for c in (1.0, math.sqrt(0.5), 0.0, -math.sqrt(0.5), -1.0)]
    assert lrs == pytest.approx(expect, abs=1e-15)


def test_cosine_recursive_matches_closed_form(rng):
    T = int(rng.integers(1, 200))
    base = float(rng.uniform(0.01, 2.0))
    eta_min = float(rng.uniform(0, base))
    rec = run(CosineAnnealingLR(sgd(base), T_max=T, eta_min=eta_min), T)
    closed = closed_forms(CosineAnnealingLR(sgd(base), T_max=T, eta_min=eta_min), T)
    for t, (r, c) in enumerate(zip(rec, closed)):
        assert abs(r - c) <= (10 * t + 10) * U * base, (T, t, r, c)
    assert rec[0] == base and abs(rec[T] - eta_min) <= (10 * T + 10) * U * base


def test_cosine_epoch_argument_uses_closed_form():
    s = CosineAnnealingLR(sgd(1.0), T_max=10)
    with pytest.warns(UserWarning, match="deprecated"):
        s.step(5)
    assert s.get_last_lr() == [0.5 + 0.5 * math.cos(math.pi * 5 / 10)]


# --------------------------------------------------------------------- LinearLR --


def test_linear_hard_computed():
    # start 0.5, end 1, 4 iterations, base 0.8: 0.4, 0.5, 0.6, 0.7, 0.8, then constant
    lrs = run(LinearLR(sgd(0.8), start_factor=0.5, total_iters=4), 6)
    assert lrs == pytest.approx([0.4, 0.5, 0.6, 0.7, 0.8, 0.8, 0.8], rel=1e-15)
    # defaults: start 1/3, end 1, 5 iterations
    lrs = run(LinearLR(sgd(3.0)), 5)
    assert lrs == pytest.approx([1.0 + 0.4 * t for t in range(6)], rel=1e-15)
    # decreasing to 0
    lrs = run(LinearLR(sgd(1.0), start_factor=1.0, end_factor=0.0, total_iters=2), 3)
    assert lrs == pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-16)


def test_linear_recursive_matches_closed_form(rng):
    total = int(rng.integers(1, 100))
    start, end = float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.0, 1.0))
    base = float(rng.uniform(0.01, 2.0))
    kw = dict(start_factor=start, end_factor=end, total_iters=total)
    rec = run(LinearLR(sgd(base), **kw), total + 3)
    closed = closed_forms(LinearLR(sgd(base), **kw), total + 3)
    for t, (r, c) in enumerate(zip(rec, closed)):
        assert abs(r - c) <= (10 * t + 10) * U * base, (t, r, c)


# ------------------------------------------------------------------- OneCycleLR --


def test_one_cycle_hard_computed_cos_two_phases():
    # total 10, pct 0.3: phase ends at 0.3*10-1 = 2 and 9; initial 1/25, min 1/25/1e4
    opt = sgd(0.5, momentum=0.9)
    s = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert opt.param_groups[0]["initial_lr"] == 0.04 and opt.param_groups[0]["min_lr"] == 4e-6
    lrs, moms = [s.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(10):
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
    assert lrs[:3] == pytest.approx([0.04, 0.52, 1.0], rel=1e-14)
    assert moms[:3] == pytest.approx([0.95, 0.90, 0.85], rel=1e-14)
    assert lrs[9] == pytest.approx(4e-6, rel=1e-12) and moms[9] == pytest.approx(0.95)
    for t in range(2, 10):  # the cosine down from max_lr to min_lr, momentum up
        pct = (t - 2) / 7
        assert lrs[t] == pytest.approx(4e-6 + (1 - 4e-6) / 2 * (1 + math.cos(math.pi * pct)),
                                       rel=1e-13)
        assert moms[t] == pytest.approx(0.95 + (0.85 - 0.95) / 2 * (1 + math.cos(math.pi * pct)),
                                        rel=1e-13)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        s.step()


def test_one_cycle_linear_three_phase_and_epochs():
    # epochs*steps_per_epoch = 10; three phases end at 2, 4 (2*0.3*10-2) and 9
    opt = sgd(0.5, momentum=0.9)
    s = OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, anneal_strategy="linear",
                   three_phase=True)
    assert s.total_steps == 10
    lrs = run(s, 9)
    expect = [0.04, 0.52, 1.0, 0.52, 0.04] + [0.04 + (4e-6 - 0.04) * (t - 4) / 5
                                              for t in range(5, 10)]
    assert lrs == pytest.approx(expect, rel=1e-13)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_one_cycle_per_group_values_and_betas():
    opt = sgd(0.1, groups=2, momentum=0.9)
    s = OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=5, base_momentum=[0.8, 0.7],
                   max_momentum=0.9)
    assert s.get_last_lr() == pytest.approx([0.04, 0.08])
    assert [g["base_momentum"] for g in opt.param_groups] == [0.8, 0.7]

    class BetaOpt(optim.SGD):  # an Adam-shaped group: betas instead of momentum
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)
            self.defaults["betas"] = (0.9, 0.999)
            del self.defaults["momentum"]
            for g in self.param_groups:
                g["betas"] = (0.9, 0.999)

    bopt = BetaOpt([nn.Parameter(np.zeros(2, np.float32))], lr=0.1)
    s = OneCycleLR(bopt, max_lr=1.0, total_steps=4)
    assert bopt.param_groups[0]["betas"] == (0.95, 0.999)
    s.step()
    assert bopt.param_groups[0]["betas"][1] == 0.999 and bopt.param_groups[0]["betas"][0] < 0.95


def test_one_cycle_without_momentum_cycling():
    class Plain(optim.SGD):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)
            del self.defaults["momentum"]

    opt = Plain([nn.Parameter(np.zeros(2, np.float32))], lr=0.1)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        OneCycleLR(opt, max_lr=1.0, total_steps=4)
    s = OneCycleLR(opt, max_lr=1.0, total_steps=4, cycle_momentum=False)
    s.step()
    assert opt.param_groups[0]["momentum"] == 0


# ----------------------------------------------------------- ReduceLROnPlateau --


def test_plateau_hard_computed_patience_and_cooldown():
    opt = sgd(1.0)
    s = ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1)
    lrs = []
    for m in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5]:
        s.step(m)
        lrs.append(s.get_last_lr()[0])
    # bad epochs 0, 1, 2, 3 > patience: reduce at the 4th step; the cooldown swallows the
    # 5th's bad epoch; the 6th and 7th count 1, 2; the 8th improves (0.5 < 1 * (1 - 1e-4));
    # the 9th counts 1
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert s.best == 0.5 and s.num_bad_epochs == 1 and s.last_epoch == 9


def test_plateau_modes_thresholds_min_lr_and_eps():
    s = ReduceLROnPlateau(sgd(1.0), mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    s.step(1.0)
    s.step(1.05)  # not better than 1.0 + 0.1: reduce (patience 0)
    assert s.get_last_lr() == [0.1]
    s.step(1.2)  # better
    assert s.get_last_lr() == [0.1] and s.best == 1.2
    s = ReduceLROnPlateau(sgd(1.0), mode="min", patience=0, threshold=0.5)  # rel
    s.step(1.0)
    s.step(0.6)  # not < 1.0 * 0.5
    assert s.get_last_lr() == pytest.approx([0.1])
    opt = sgd(1.0, groups=2)
    s = ReduceLROnPlateau(opt, patience=0, min_lr=[0.5, 0.05])
    for m in (1.0, 2.0, 2.0):
        s.step(m)
    assert s.get_last_lr() == pytest.approx([0.5, 0.05])
    s = ReduceLROnPlateau(sgd(1e-8), patience=0)  # the change 9e-9 is not more than eps
    s.step(1.0)
    s.step(1.0)
    assert s.get_last_lr() == [1e-8]


def test_plateau_takes_a_tensor_metric():
    from fastmlp.autograd.tensor import Tensor
    s = ReduceLROnPlateau(sgd(1.0), patience=0)
    s.step(Tensor(np.float32(2.0)))
    assert s.best == 2.0


# ------------------------------------------------------------------ SequentialLR --


def test_sequential_warmup_then_cosine():
    opt = sgd(1.0)
    warm = LinearLR(opt, start_factor=0.1, total_iters=4)
    cos = CosineAnnealingLR(opt, T_max=6)
    s = SequentialLR(opt, [warm, cos], milestones=[4])
    lrs = run(s, 12, opt)
    expect = [0.1 + 0.9 * t / 4 for t in range(4)] + [(1 + math.cos(math.pi * k / 6)) / 2
                                                      for k in range(9)]
    assert lrs == pytest.approx(expect, abs=(10 * 12 + 10) * U)
    assert opt.param_groups[0]["lr"] == lrs[-1]
    assert warm.last_epoch == 3 and cos.last_epoch == 8 and s.last_epoch == 12


def test_sequential_three_schedulers():
    opt = sgd(1.0)
    scheds = [LinearLR(opt, start_factor=0.5, total_iters=2), ExponentialLR(opt, gamma=0.5),
              CosineAnnealingLR(opt, T_max=2)]
    lrs = run(SequentialLR(opt, scheds, milestones=[2, 4]), 6)
    assert lrs == pytest.approx([0.5, 0.75, 1.0, 0.5, 1.0, 0.5, 0.0], abs=1e-15)


# ------------------------------------------------------------ state_dict round trip --


def _build(name, opt):
    if name == "CosineAnnealingLR":
        return CosineAnnealingLR(opt, T_max=7, eta_min=0.01)
    if name == "LinearLR":
        return LinearLR(opt, start_factor=0.2, end_factor=0.9, total_iters=6)
    if name == "OneCycleLR":
        return OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=14, three_phase=True)
    if name == "ReduceLROnPlateau":
        return ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=[0.0, 0.1])
    warm = LinearLR(opt, start_factor=0.25, total_iters=3)
    return SequentialLR(opt, [warm, CosineAnnealingLR(opt, T_max=9)], milestones=[3])


ROUND_TRIP = ["CosineAnnealingLR", "LinearLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip_mid_schedule_continues_identically(rng, name):
    metrics = rng.uniform(0, 1, size=14).round(1)  # ties and stalls for the plateau

    def advance(sched, opt, ts):
        out = []
        for t in ts:
            opt.step()
            sched.step(metrics[t]) if name == "ReduceLROnPlateau" else sched.step()
            out.append((list(sched.get_last_lr()), [g.get("momentum") for g in opt.param_groups]))
        return out

    opt = sgd(0.3, groups=2, momentum=0.9)
    sched = _build(name, opt)
    k = int(rng.integers(1, 8))
    advance(sched, opt, range(k))
    saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    assert "optimizer" not in saved_sched
    expect = advance(sched, opt, range(k, 14))

    opt2 = sgd(0.3, groups=2, momentum=0.9)
    sched2 = _build(name, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.get_last_lr() == saved_sched["_last_lr"]
    assert advance(sched2, opt2, range(k, 14)) == expect


# ---------------------------------------------------------------- bad arguments --


BAD = [
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: CosineAnnealingLR(o, T_max=-3), ValueError, "T_max"),
    (lambda o: CosineAnnealingLR(o, T_max=True), ValueError, "T_max"),
    (lambda o: CosineAnnealingLR(o, T_max=5, eta_min="0"), TypeError, "eta_min"),
    (lambda o: LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: LinearLR(o, start_factor=1.5), ValueError, "Starting multiplicative factor"),
    (lambda o: LinearLR(o, end_factor=-0.1), ValueError, "Ending multiplicative factor"),
    (lambda o: LinearLR(o, total_iters=0), ValueError, "total_iters"),
    (lambda o: LinearLR(o, total_iters=2.5), ValueError, "total_iters"),
    (lambda o: OneCycleLR(o, max_lr=1.0), ValueError, "total_steps OR"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "total_steps"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5.0), ValueError, "total_steps"),
    (lambda o: OneCycleLR(o, max_lr=1.0, epochs=0, steps_per_epoch=3), ValueError, "epochs"),
    (lambda o: OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=-1), ValueError,
     "steps_per_epoch"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=0), ValueError, "pct_start"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=4, pct_start=0.25), ValueError,
     "pct_start=0.25 with total_steps=4"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy"),
    (lambda o: OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=5), ValueError, "max_lr"),
    (lambda o: OneCycleLR(o, max_lr="1", total_steps=5), TypeError, "max_lr"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, div_factor=0), ValueError, "div_factor"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, final_div_factor=-1.0), ValueError,
     "final_div_factor"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, base_momentum=[0.8, 0.9]), ValueError,
     "base_momentum"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: ReduceLROnPlateau(o, factor=-0.5), ValueError, "Factor"),
    (lambda o: ReduceLROnPlateau(o, mode="low"), ValueError, "mode low is unknown"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "threshold mode pct is unknown"),
    (lambda o: ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: ReduceLROnPlateau(o, cooldown=1.5), ValueError, "cooldown"),
    (lambda o: ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, "expected 1 min_lrs"),
    (lambda o: ReduceLROnPlateau(o, min_lr="0"), TypeError, "min_lr"),
    (lambda o: ReduceLROnPlateau(o, eps=-1.0), ValueError, "eps"),
    (lambda o: ReduceLROnPlateau(o, threshold=None), TypeError, "threshold"),
    (lambda o: SequentialLR(o, [], milestones=[]), ValueError, "at least one scheduler"),
    (lambda o: SequentialLR(o, [ExponentialLR(o, 0.9)], milestones=[3]), ValueError,
     "number of milestones"),
    (lambda o: SequentialLR(o, [ExponentialLR(o, 0.9), ReduceLROnPlateau(o)], milestones=[3]),
     ValueError, "ReduceLROnPlateau"),
    (lambda o: SequentialLR(o, [ExponentialLR(o, 0.9), object()], milestones=[3]), TypeError,
     "at index 1 should have `optimizer`"),
    (lambda o: SequentialLR(o, [ExponentialLR(o, 0.9), ExponentialLR(sgd(), 0.9)],
                            milestones=[3]), ValueError, "same optimizer"),
    (lambda o: SequentialLR(o, [ExponentialLR(o, 0.9)] * 3, milestones=[4, 2]), ValueError,
     "milestones must be increasing"),
    (lambda o: SequentialLR(o, [ExponentialLR(o, 0.9)] * 2, milestones=[-1]), ValueError,
     "milestones"),
]


@pytest.mark.parametrize("make, exc, msg", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_arguments_raise_naming_them(make, exc, msg):
    with pytest.raises(exc, match=msg):
        make(sgd(0.1, momentum=0.9))


@pytest.mark.parametrize("cls", [CosineAnnealingLR, LinearLR, OneCycleLR, ReduceLROnPlateau])
def test_not_an_optimizer(cls):
    kw = {CosineAnnealingLR: dict(T_max=3), OneCycleLR: dict(max_lr=1.0, total_steps=3)}
    with pytest.raises(TypeError, match="is not an Optimizer"):
        cls(object(), **kw.get(cls, {}))


# -------------------------------------------------------------------- vs torch --


def _torch_case(torch, name, opt):
    S = torch.optim.lr_scheduler
    if name == "CosineAnnealingLR":
        return S.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)
    if name == "LinearLR":
        return S.LinearLR(opt, start_factor=0.2, end_factor=0.9, total_iters=6)
    if name == "OneCycleLR":
        return S.OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=14, three_phase=True)
    if name == "ReduceLROnPlateau":
        return S.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=[0.0, 0.1])
    warm = S.LinearLR(opt, start_factor=0.25, total_iters=3)
    return S.SequentialLR(opt, [warm, S.CosineAnnealingLR(opt, T_max=9)], milestones=[3])


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_matches_torch_bit_for_bit(rng, name):
    torch = pytest.importorskip("torch")
    metrics = rng.uniform(0, 1, size=14).round(1)
    opt = sgd(0.3, groups=2, momentum=0.9)
    topt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.3},
                            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.6}],
                           lr=0.3, momentum=0.9)
    ours, theirs = _build(name, opt), _torch_case(torch, name, topt)
    for t in range(14):
        opt.step()
        topt.step()
        for s in (ours, theirs):
            s.step(metrics[t]) if name == "ReduceLROnPlateau" else s.step()
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert [g["momentum"] for g in opt.param_groups] == \
               [g["momentum"] for g in topt.param_groups]
