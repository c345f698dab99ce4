"""Hostile inputs (issue 15): no crash, no hang, no silent wrong result, and every error names
the argument and what was expected.

``BAD_INPUTS`` is the growing bad-input suite: one row per (callable, bad input) with the
exception type and a substring of its message; each new public function adds its bad inputs
there. Inputs whose old behaviour was a crash run in a child process bounded in time and
memory (``RLIMIT_AS``; skipped under ASan, which reserves terabytes of address space).
"""
import json
import math
import os
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import fastmlp
from fastmlp import data, kernels, nn, optim, reference
from fastmlp.optim import lr_scheduler as sched
from fastmlp.tools import cli
from fastmlp.data import write_idx

SANITIZED = bool(fastmlp._core.build_info.get("sanitized"))
needs_rlimit = pytest.mark.skipif(SANITIZED or not hasattr(os, "fork"),
                                  reason="RLIMIT_AS cannot bound an ASan build (or no POSIX)")
PYPATH = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))


def run_limited(code, *, mem=2 << 30, timeout=120, env=None):
    """Run ``code`` in a fresh Python with its address space limited to ``mem`` bytes."""
    prelude = ("import resource\n"
               f"resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))\n")
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = PYPATH + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=timeout, env=e)


def last_line(r):
    lines = r.stderr.strip().splitlines()
    return lines[-1] if lines else ""


X32 = np.ones((4, 3), np.float32)
T64 = np.zeros(4, np.int64)


def _params():
    return nn.Linear(3, 2).parameters()


def _sgd():
    return optim.SGD(_params(), lr=0.1)


def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _train(**kw):
    m = _net()
    args = dict(criterion=nn.CrossEntropyLoss(), optimizer=optim.SGD(m.parameters(), lr=0.1),
                y=T64 % 2)
    args.update(kw)
    return fastmlp.train_epoch(m, X32, args.pop("y"), args.pop("criterion"),
                               args.pop("optimizer"), **args)


def _set(obj, **attrs):
    """``obj`` with attributes changed after construction (as a user may)."""
    for k, v in attrs.items():
        setattr(obj, k, v)
    return obj


def _edited(make, key, value):
    """An optimizer whose param_groups[0][key] is set to value after construction, stepped
    in the Python loop (a model the planner does not fuse: no Sequential)."""
    o = make()
    o.param_groups[0][key] = value
    return o


#: (id, callable, exception type, substring of the message)
BAD_INPUTS = [
    # 11: pybind's generic errors and bare float() errors
    ("ce-ignore_index-2**63", lambda: kernels.cross_entropy(X32, T64, ignore_index=2**63),
     ValueError, "ignore_index: expected an integer in"),
    ("ce-ignore_index-float", lambda: kernels.cross_entropy(X32, T64, ignore_index=1.5),
     TypeError, "ignore_index: expected an integer"),
    ("nll-ignore_index-2**63", lambda: kernels.nll_loss(X32, T64, ignore_index=2**63),
     ValueError, "ignore_index"),
    ("sgd_update-lr-str", lambda: kernels.sgd_update(X32.copy(), X32, None, lr="0.1"),
     TypeError, "lr: expected a real number, got str"),
    ("sgemm-alpha-None", lambda: kernels.sgemm(X32, X32.T, alpha=None),
     TypeError, "alpha: expected a real number"),
    ("sgemm-beta-str", lambda: kernels.sgemm(X32, X32.T, beta="1"), TypeError, "beta"),
    ("ce-label_smoothing-str", lambda: kernels.cross_entropy(X32, T64, label_smoothing="a"),
     TypeError, "label_smoothing: expected a real number"),
    ("huber-delta-None", lambda: kernels.huber_loss(X32, X32, delta=None), TypeError, "delta"),
    ("smooth_l1-beta-str", lambda: kernels.smooth_l1_loss(X32, X32, beta="a"), TypeError,
     "beta"),
    ("sgemm-trans_a-str", lambda: kernels.sgemm(X32, X32, trans_a="False"), TypeError,
     "trans_a: expected a bool, got str"),
    ("sgd_update-nesterov-str", lambda: kernels.sgd_update(X32.copy(), X32, None, lr=0.1,
                                                           nesterov="no"), TypeError, "nesterov"),
    ("mse-reduction-int", lambda: kernels.mse_loss(X32, X32, reduction=5), TypeError,
     "reduction: expected a str"),
    ("bce-reduction-None", lambda: kernels.bce_with_logits(X32, X32, reduction=None),
     TypeError, "reduction"),
    ("adam-step-str", lambda: kernels.adam_update(X32.copy(), X32, X32.copy(), X32.copy(),
                                                  step="a"), TypeError, "step"),
    ("adam-beta1-str", lambda: kernels.adam_update(X32.copy(), X32, X32.copy(), X32.copy(),
                                                   step=1, beta1="a"), TypeError, "beta1"),
    ("rmsprop-alpha-str", lambda: kernels.rmsprop_update(X32.copy(), X32, X32.copy(),
                                                         alpha="a"), TypeError, "alpha"),
    ("adagrad-lr_decay-str", lambda: kernels.adagrad_update(X32.copy(), X32, X32.copy(), step=1,
                                                            lr_decay="a"), TypeError,
     "lr_decay"),
    ("normalize-std-str", lambda: data.normalize(np.zeros((2, 3), np.uint8), std="a"),
     TypeError, "normalize: std must be a real number"),
    ("SGD-lr-str-step", lambda: optim.SGD(_params(), lr="0.1"), TypeError,
     "lr: expected a real number"),
    ("train_epoch-criterion-lambda", lambda: _train(criterion=lambda a, b: a), TypeError,
     "criterion: <lambda> returned a Tensor of shape"),
    ("train_epoch-criterion-int", lambda: _train(criterion=3), TypeError, "criterion: expected"),
    ("train_epoch-optimizer-None", lambda: _train(optimizer=None), TypeError,
     "optimizer: expected a fastmlp.optim.Optimizer, got NoneType"),
    ("train_epoch-edited-ignore_index", lambda: _train(criterion=_set(
        nn.CrossEntropyLoss(), ignore_index=2**63)), ValueError, "ignore_index: expected"),
    ("train_epoch-edited-label_smoothing", lambda: _train(criterion=_set(
        nn.CrossEntropyLoss(), label_smoothing="a")), TypeError, "label_smoothing"),
    ("train_epoch-edited-huber-delta", lambda: _train(criterion=_set(nn.HuberLoss(), delta="a"),
                                                      y=np.zeros((4, 2), np.float32)),
     TypeError, "delta"),
    ("train_epoch-perm-uint64-max", lambda: _train(perm=np.array([2**64 - 1], np.uint64)),
     ValueError, "perm: index 18446744073709551615 out of range"),
    ("train_epoch-seed-str", lambda: _train(seed="a"), TypeError, "seed: expected"),
    ("train_epoch-seed-negative", lambda: _train(seed=-1), ValueError, "seed: expected"),
    # 4: optimizer hyperparameters, wherever a group is used
    ("SGD-lr-nan", lambda: optim.SGD(_params(), lr=float("nan")), ValueError,
     "Invalid learning rate: nan"),
    ("SGD-dampening-nan", lambda: optim.SGD(_params(), lr=0.1, dampening=float("nan")),
     ValueError, "dampening"),
    ("SGD-edited-momentum", lambda: _edited(_sgd, "momentum", -0.5).step(), ValueError,
     "Invalid momentum value: -0.5"),
    ("SGD-edited-wd-nan", lambda: _edited(_sgd, "weight_decay", float("nan")).step(),
     ValueError, "Invalid weight_decay value: nan"),
    ("SGD-edited-lr-str", lambda: _edited(_sgd, "lr", "0.1").step(), TypeError, "lr:"),
    ("Adam-betas-str", lambda: optim.Adam(_params(), betas=("a", 0.9)), TypeError, "betas[0]"),
    ("Adam-eps-nan", lambda: optim.Adam(_params(), eps=float("nan")), ValueError,
     "Invalid epsilon value: nan"),
    ("Adam-edited-betas", lambda: _edited(lambda: optim.Adam(_params()), "betas",
                                          (0.9, 1.0)).step(), ValueError, "index 1"),
    ("SGD-edited-maximize-str", lambda: _train(optimizer=_edited(lambda: optim.SGD(
        _net().parameters(), lr=0.1), "maximize", "no")), TypeError, "maximize: expected a bool"),
    ("Adam-amsgrad-str", lambda: optim.Adam(_params(), amsgrad="no"), TypeError, "amsgrad"),
    ("RMSprop-centered-str", lambda: optim.RMSprop(_params(), centered="yes"), TypeError,
     "centered"),
    ("RMSprop-alpha-str", lambda: optim.RMSprop(_params(), alpha="a"), TypeError, "alpha"),
    ("Adagrad-lr_decay-str", lambda: optim.Adagrad(_params(), lr_decay="a"), TypeError,
     "lr_decay"),
    # lr schedulers
    ("StepLR-step_size-0", lambda: sched.StepLR(_sgd(), step_size=0), ValueError, "step_size"),
    ("StepLR-step_size-str", lambda: sched.StepLR(_sgd(), step_size="a"), ValueError,
     "step_size"),
    ("StepLR-gamma-nan", lambda: sched.StepLR(_sgd(), 1, gamma=float("nan")), ValueError,
     "gamma must be finite"),
    ("StepLR-gamma-str", lambda: sched.StepLR(_sgd(), 1, gamma="a"), TypeError, "gamma"),
    ("ExponentialLR-gamma-str", lambda: sched.ExponentialLR(_sgd(), gamma="a"), TypeError,
     "gamma"),
    ("MultiStepLR-milestones-str", lambda: sched.MultiStepLR(_sgd(), milestones="ab"),
     TypeError, "milestones"),
    ("MultiStepLR-milestones-float", lambda: sched.MultiStepLR(_sgd(), milestones=[1.5]),
     ValueError, "milestones"),
    ("Cosine-eta_min-nan", lambda: sched.CosineAnnealingLR(_sgd(), 3, eta_min=float("nan")),
     ValueError, "eta_min"),
    # losses, layers, seeds
    ("CrossEntropyLoss-ignore_index-float", lambda: nn.CrossEntropyLoss(ignore_index=1.5),
     TypeError, "ignore_index"),
    ("CrossEntropyLoss-label_smoothing-str", lambda: nn.CrossEntropyLoss(label_smoothing="a"),
     TypeError, "label_smoothing"),
    ("CrossEntropyLoss-weight-str", lambda: nn.CrossEntropyLoss(weight="abc"), TypeError,
     "weight: expected real numbers"),
    ("NLLLoss-ignore_index-2**63", lambda: nn.NLLLoss(ignore_index=2**63), ValueError,
     "ignore_index"),
    ("HuberLoss-delta-str", lambda: nn.HuberLoss(delta="a"), TypeError, "delta"),
    ("SmoothL1Loss-beta-str", lambda: nn.SmoothL1Loss(beta="a"), TypeError, "beta"),
    ("BCEWithLogitsLoss-pos_weight-str", lambda: nn.BCEWithLogitsLoss(pos_weight="a"),
     TypeError, "pos_weight: expected real numbers"),
    ("Flatten-start_dim-str", lambda: nn.Flatten("a"), TypeError, "start_dim"),
    ("manual_seed-str", lambda: fastmlp.manual_seed("a"), TypeError, "seed"),
    # 5: a std that is 0 or subnormal in float32
    ("normalize-std-1e-50", lambda: data.normalize(np.zeros((2, 3), np.uint8), 0.5, 1e-50),
     ValueError, "normalize: std must be > 0, got 1e-50"),
    ("normalize-std-subnormal", lambda: data.normalize(np.zeros((2, 3), np.uint8), 0.5, 1e-40),
     ValueError, "subnormal"),
    ("normalize-mean-overflow", lambda: data.normalize(np.zeros((2, 3), np.uint8), 1e39, 1.0),
     ValueError, "finite in float32"),
    ("train_epoch-normalize-1e-50",
     lambda: _train(normalize=(0.5, 1e-50)), ValueError, "normalize: std must be > 0"),
    # 7: only numeric arrays in a model file
    ("save-str-array", lambda: fastmlp.save({"a": np.array(["x"])}, os.devnull), TypeError,
     "'a' is not a numeric array"),
    ("save-bytes-array", lambda: fastmlp.save({"a": np.array([b"x"])}, os.devnull), TypeError,
     "not a numeric array"),
    ("save-datetime-array", lambda: fastmlp.save({"a": np.array(["2020-01-01"], "M8[D]")},
                                                 os.devnull), TypeError, "not a numeric array"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input(case):
    _, fn, exc, needle = case
    with pytest.raises(exc) as info:
        fn()
    assert needle in str(info.value), str(info.value)
    for generic in ("incompatible function arguments", "Unable to cast", "not supported between",
                    "could not convert", "float() argument"):
        assert generic not in str(info.value)


# ------------------------------------------------------ 1: huge batch_size --

_EPOCH = """
import numpy as np, fastmlp
from fastmlp import nn, optim
X = np.random.default_rng(0).random((100, 784), dtype=np.float32); y = np.arange(100) % 10
def run(bs, drop_last=False):
    fastmlp.manual_seed(0)
    m = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    loss = fastmlp.train_epoch(m, X, y, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                               batch_size=bs, seed=1, drop_last=drop_last)
    return loss, [p.data.copy() for p in m.parameters()]
ref_loss, ref = run(100)
for bs in (101, 10**7, 10**9, 2**62, 2**63, 2**70):
    loss, w = run(bs)
    assert loss == ref_loss and all(np.array_equal(a, b) for a, b in zip(w, ref)), bs
loss, w = run(2**62, drop_last=True)
assert np.isnan(loss)
print("ok")
"""


@needs_rlimit
def test_huge_batch_size_is_one_batch():
    """batch_size beyond len(X) is one batch of every sample (fused: it segfaulted or raised
    MemoryError/TypeError): bitwise the batch_size == len(X) epoch; with drop_last no step."""
    r = run_limited(_EPOCH)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_huge_batch_size_fused_matches_loop():
    """The fused path with batch_size 2**62 is bitwise the Python loop with the same one."""
    rng = np.random.default_rng(5)
    X = rng.random((37, 6), dtype=np.float32)
    y = rng.integers(0, 3, 37)
    out = []
    for loop in (False, True):
        fastmlp.manual_seed(3)
        m = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
        o = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        crit = nn.CrossEntropyLoss()
        if loop:
            from fastmlp.train.epoch import python_epoch
            loss = python_epoch(m, X, y, crit, o, np.random.default_rng(2).permutation(37), 2**62)
        else:
            loss = fastmlp.train_epoch(m, X, y, crit, o, batch_size=2**62, seed=2)
        out.append((loss, [p.data.copy() for p in m.parameters()]))
    assert out[0][0] == out[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(out[0][1], out[1][1]))


@needs_rlimit
def test_core_batch_size_workspace_memory_error():
    """The core itself: workspaces that cannot be allocated (65536 rows of 2**20 features)
    are a MemoryError naming batch_size, raised before any weight changes."""
    r = run_limited("""
import numpy as np, fastmlp
W = np.ones((2, 1 << 20), np.float32); before = W.copy()
X = np.zeros((1, 1 << 20), np.float32)
try:
    fastmlp._core.train_epoch([W], [None], [None], X, np.zeros(1, np.int64),
                              np.zeros(1 << 16, np.int64), 2**62, False,
                              {"kind": "sgd", "params": [{"lr": 0.1}]}, loss="cross_entropy")
except MemoryError as e:
    print(np.array_equal(W, before), e)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("True batch_size: cannot allocate the workspaces of a batch of "
                               "65536 rows"), r.stdout


# ---------------------------------------------- 2: failed float32 conversions --

_BIG = "np.broadcast_to(np.float64(1), (1 << 20, 1 << 20))"
_BIG32 = "np.broadcast_to(np.float32(1), (1 << 20, 1 << 20))"
CONVERSIONS = [
    ("sgemm", f"kernels.sgemm({_BIG32}, np.ones((1 << 20, 1), np.float32))", "a:"),
    ("sgemm-b", f"kernels.sgemm(np.ones((1, 1 << 20), np.float32), {_BIG32}.T)", "b:"),
    ("sgemm-result", "kernels.sgemm(np.ones((1 << 20, 1), np.float32), "
                     "np.ones((1, 1 << 20), np.float32))", "cannot allocate a float32 result"),
    ("relu-result", "kernels.relu_forward(np.broadcast_to(np.float32(1), (1 << 20, 1 << 20)))",
     "x:"),
    ("bias_grad", f"kernels.bias_grad({_BIG})", "dout:"),
    ("cross_entropy", f"kernels.cross_entropy({_BIG}, np.zeros(1 << 20, np.int64))", "logits:"),
    ("relu_forward", f"kernels.relu_forward({_BIG})", "x:"),
    ("mse_loss", f"kernels.mse_loss({_BIG}, {_BIG})", "pred:"),
    ("sgd_update", f"kernels.sgd_update(np.zeros((1 << 20, 1 << 20), np.float32)[:1], "
                   f"{_BIG}[:1].T.copy().T, None, lr=0.1)", None),
    ("train_epoch-perm", "fastmlp._core.train_epoch([np.ones((2, 3), np.float32)], [None], "
                         "[None], np.zeros((1, 3), np.float32), np.zeros(1, np.int64), "
                         "np.broadcast_to(np.int32(0), (1 << 40,)), 1, False, "
                         "{'kind': 'sgd', 'params': [{'lr': 0.1}]}, loss='cross_entropy')",
     "perm:"),
]


@needs_rlimit
@pytest.mark.parametrize("name,call,arg", CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
def test_failed_conversion_is_memory_error(name, call, arg):
    """A float32 copy the bindings cannot allocate is a MemoryError naming the argument and
    the size (it segfaulted, or raised "cannot create a pybind11::array_t from a nullptr")."""
    r = run_limited("import numpy as np, fastmlp\nfrom fastmlp import kernels\n"
                    f"try:\n    {call}\nexcept (MemoryError, ValueError) as e:\n"
                    "    print(type(e).__name__, e)\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    assert "nullptr" not in out
    if name == "sgd_update":
        assert out.startswith(("MemoryError", "ValueError")), out
        return
    assert out.startswith("MemoryError " + arg), out
    assert "bytes" in out


# ------------------------------------------------ 4: fused == loop on bad options --

@pytest.mark.parametrize("make,key,value,exc", [
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", float("nan"), ValueError),
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", -1.0, ValueError),
    (lambda ps: optim.SGD(ps, lr=0.1), "lr", "0.1", TypeError),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "momentum", -0.5, ValueError),
    (lambda ps: optim.SGD(ps, lr=0.1), "weight_decay", float("nan"), ValueError),
    (lambda ps: optim.SGD(ps, lr=0.1), "dampening", float("nan"), ValueError),
    (lambda ps: optim.Adam(ps), "eps", float("nan"), ValueError),
    (lambda ps: optim.Adam(ps), "betas", (0.9, float("nan")), ValueError),
    (lambda ps: optim.RMSprop(ps), "alpha", float("nan"), ValueError),
    (lambda ps: optim.Adagrad(ps), "lr_decay", "x", TypeError),
])
def test_edited_hyperparameter_raises_on_both_paths(make, key, value, exc):
    """A param_groups entry edited after construction raises the same error in the fused
    epoch and in the Python loop (the fused path turned every weight NaN), and no weight
    changes."""
    rng = np.random.default_rng(0)
    X = rng.random((20, 3), dtype=np.float32)
    y = rng.integers(0, 2, 20)
    msgs = []
    for criterion in (nn.CrossEntropyLoss(), lambda a, b: nn.CrossEntropyLoss()(a, b)):
        m = _net()
        o = make(m.parameters())
        o.param_groups[0][key] = value
        before = [p.data.copy() for p in m.parameters()]
        with pytest.raises(exc) as info:
            fastmlp.train_epoch(m, X, y, criterion, o, batch_size=8)
        assert all(np.array_equal(a, p.data) for a, p in zip(before, m.parameters()))
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


# -------------------------------------------------------------- 5: std in float32 --

def test_normalize_std_float32_limits():
    """std is used as float32: 0 or subnormal there is rejected on every path (inputs became
    inf and the loss NaN); the smallest normal float32 is accepted and gives finite inputs."""
    images = np.full((3, 4), 255, np.uint8)
    tiny = float(np.finfo(np.float32).tiny)
    out = data.normalize(images, 0.0, tiny * 2)
    assert np.isfinite(out).all()
    m = _net()
    Xu = np.random.default_rng(0).integers(0, 256, (10, 3)).astype(np.uint8)
    y = np.arange(10) % 2
    before = [p.data.copy() for p in m.parameters()]
    for std in (1e-50, 1e-40, 0.0):
        with pytest.raises(ValueError, match="normalize: std must be > 0"):
            fastmlp.train_epoch(m, Xu, y, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), 0.1),
                                normalize=(0.5, std))
        with pytest.raises(ValueError, match="normalize: std must be > 0"):
            fastmlp._core.train_epoch([m[0].weight.data, m[2].weight.data],
                                      [m[0].bias.data, m[2].bias.data], ["relu", None], Xu, y,
                                      np.arange(10), 4, False,
                                      {"kind": "sgd", "params": [{"lr": 0.1}] * 4},
                                      loss="cross_entropy", normalize=(0.5, std))
    assert all(np.array_equal(a, p.data) for a, p in zip(before, m.parameters()))


# ------------------------------------------------------------ 6: the oracle's edges --

@pytest.mark.parametrize("eps", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_reference_cross_entropy_with_minus_inf_logits(eps, weighted):
    """A -inf logit (a masked class): reference and kernel agree, finite where PyTorch is
    (the reference returned NaN for label_smoothing=0: 0 * inf). Tolerance: float32 rounding
    of a log-sum-exp over 4 classes and a few products, relative 1e-6 (2^-24 * 16 margin)."""
    logits = np.array([[0.0, -np.inf, 1.0, 2.0], [3.0, 0.5, -np.inf, -1.0]], np.float32)
    t = np.array([0, 3])
    w = np.array([1.0, 0.5, 2.0, 1.5], np.float32) if weighted else None
    for red in ("none", "sum", "mean"):
        k = kernels.cross_entropy(logits, t, weight=w, label_smoothing=eps, reduction=red)
        r = reference.cross_entropy(logits, t, weight=w, label_smoothing=eps, reduction=red)
        np.testing.assert_allclose(k[0], r[0], rtol=1e-6)
        np.testing.assert_allclose(k[1], r[1], rtol=1e-6, atol=1e-7)
        if eps == 0.0:
            assert np.all(np.isfinite(r[0]))


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_reference_sgemm_alpha_zero_ignores_a_and_b(bad):
    """alpha == 0: beta * C + bias whatever A and B hold (BLAS's and the kernel's result)."""
    A = np.array([[bad, 1.0], [2.0, 3.0]], np.float32)
    B = np.array([[1.0, bad], [4.0, 5.0]], np.float32)
    C = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    bias = np.array([0.5, -0.5], np.float32)
    r = reference.sgemm(A, B, C, alpha=0.0, beta=2.0, bias=bias)
    k = kernels.sgemm(A, B, C.copy(), alpha=0.0, beta=2.0, bias=bias)
    np.testing.assert_array_equal(r, 2.0 * C + bias)
    np.testing.assert_array_equal(k, r)


# --------------------------------------------------------------- 7, 13: files --

def test_load_rejects_non_numeric_member(tmp_path):
    p = tmp_path / "m.npz"
    fastmlp.save({"a": np.ones(3, np.float32)}, p)
    z = dict(np.load(p))
    z["a"] = np.array(["x", "y", "z"])
    np.savez(p, **z)
    with pytest.raises(ValueError, match="'a' is not a numeric array"):
        fastmlp.load(p)


def test_save_numeric_dtypes_round_trip(tmp_path):
    sd = {"b": np.array([True, False]), "i": np.arange(3, dtype=np.int16),
          "u": np.arange(3, dtype=np.uint64), "f": np.ones(2, np.float64),
          "c": np.array([1 + 2j], np.complex64)}
    fastmlp.save(sd, tmp_path / "s.npz")
    back = fastmlp.load(tmp_path / "s.npz")
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)


def _tampered(tmp_path, out_features):
    fastmlp.manual_seed(0)
    m = nn.Sequential(nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 10))
    p = tmp_path / "m.npz"
    fastmlp.save(m, p)
    z = dict(np.load(p))
    meta = json.loads(str(z["__fastmlp__"][()]))
    meta["arch"]["layers"][0]["out_features"] = out_features
    z["__fastmlp__"] = np.array(json.dumps(meta))
    t = tmp_path / "t.npz"
    np.savez(t, **z)
    return t


def test_load_checks_shapes_before_building(tmp_path):
    """A file whose architecture claims Linear(784, 300000) fails with ValueError having
    allocated nothing of that size (it built 0.9 GB first; 10**9 was a MemoryError)."""
    for n in (300000, 10**9, 10**18):
        t = _tampered(tmp_path, n)
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match=r"0.weight: the architecture needs shape"):
                fastmlp.load(t)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20, peak
    bad = _tampered(tmp_path, "10")
    with pytest.raises(ValueError, match="out_features must be a non-negative integer"):
        fastmlp.load(bad)


def test_saved_shapes_declared_by_every_module_with_state():
    """Every example module with parameters (sized by integers in its config: a tampered
    file could claim any size) declares their shapes for load's check
    (Module._saved_shapes), and they are the module's state. Buffers given by value in the
    config (a loss's weight list) cannot claim more than the file holds."""
    from test_completeness import EXAMPLES

    for name, make in EXAMPLES.items():
        m = make()
        config = m._save_config()
        if config is None or not any("." not in k for k, _ in m.named_parameters()):
            continue
        own = {k: v.shape for k, v in m.state_dict().items() if "." not in k}
        shapes = type(m)._saved_shapes(config)
        assert shapes is not None, f"nn.{name} declares no _saved_shapes"
        assert {k: tuple(v) for k, v in shapes.items()} == own, name


# ------------------------------------------------------------- 15: stale temps --

def _hold_temp(target):
    """A child that starts fastmlp.save-style atomic write to ``target`` and waits."""
    code = ("import sys, time\nfrom fastmlp._fileio import atomic_write\n"
            f"with atomic_write({str(target)!r}) as f:\n"
            "    f.write(b'partial'); f.flush(); print('ready', flush=True); time.sleep(120)\n")
    e = dict(os.environ)
    e["PYTHONPATH"] = PYPATH + os.pathsep + e.get("PYTHONPATH", "")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env=e)
    assert child.stdout.readline().strip() == "ready"
    return child


def _temps(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".tmp"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_stale_temps_cleaned_on_next_save(tmp_path):
    """kill -9 mid-save leaves a temp file; the next save to the same path removes it (once
    it is older than the in-flight window), and never a live writer's, a recent one or a
    file of another name."""
    target = tmp_path / "model.npz"
    child = _hold_temp(target)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    (stale,) = _temps(tmp_path)
    live = _hold_temp(target)  # a live writer's temp: locked
    try:
        other = tmp_path / ".other.npz.0123456789ab.tmp"
        other.write_bytes(b"x")
        lookalike = tmp_path / ".model.npz.notours.tmp"
        lookalike.write_bytes(b"x")
        old = time.time() - 3600
        for n in _temps(tmp_path):
            os.utime(tmp_path / n, (old, old))
        recent = tmp_path / ".model.npz.abcdefabcdef.tmp"
        recent.write_bytes(b"x")
        fastmlp.save({"w": np.ones(3, np.float32)}, target)
        left = _temps(tmp_path)
        assert stale not in left
        assert other.name in left and lookalike.name in left and recent.name in left
        assert len(left) == 4  # + the live writer's
        assert np.array_equal(fastmlp.load(target)["w"], np.ones(3, np.float32))
    finally:
        live.kill()
        live.wait()


# ------------------------------------------------------------------- 8, 12: CLI --

@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(7)
    for stem, n in (("train", 60), ("t10k", 20)):
        write_idx(d / f"{stem}-images-idx3-ubyte",
                  rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(d / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, size=n).astype(np.uint8))
    return d


def _cli(args, *, env_extra=None, mem=None):
    """Run the command line as the console script does, in a child (memory-bounded when
    ``mem``)."""
    e = dict(os.environ)
    e.pop("FASTMLP_DATA", None)
    e.update(env_extra or {})
    code = ("import sys\nsys.argv = ['fastmlp'] + " + repr(list(args)) + "\n"
            "from fastmlp.tools.cli import main\nsys.exit(main())\n")
    if mem:
        return run_limited(code, mem=mem, env=e)
    e["PYTHONPATH"] = PYPATH + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=e)


def _one_error_line(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastmlp: error: "), r.stderr


@needs_rlimit
def test_cli_huge_batch_size_trains(small_data):
    """--batch-size 2**62 is one batch per epoch (exit -11 before)."""
    r = _cli(["train", "--data", str(small_data), "--no-download", "--epochs", "1",
              "--no-progress", "--batch-size", str(2**62), "--json"], mem=3 << 30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["fused"] is True


@pytest.mark.parametrize("args,code,needle", [
    (["train", "--threads", "100000"], 2, "--threads"),
    (["train", "--batch-size", "9223372036854775808"], 2, "--batch-size"),
    (["bench", "--threads", "100000"], 2, "--threads"),
    (["bench", "--reps", "0"], 2, "--reps"),
    (["bench", "--reps", "-3"], 2, "--reps"),
    (["bench", "--threshold", "nan"], 2, "--threshold"),
])
def test_cli_parser_bounds(args, code, needle):
    r = _cli(args)
    _one_error_line(r, code)
    assert needle in r.stderr


@needs_rlimit
def test_cli_impossible_hidden_is_one_line(small_data):
    r = _cli(["train", "--data", str(small_data), "--no-download", "--epochs", "1",
              "--no-progress", "--hidden", "1000000000"], mem=3 << 30)
    _one_error_line(r, 1)
    assert "out of memory" in r.stderr


def test_cli_bad_cpu_capability_env():
    for argv in (None, ["-m", "fastmlp", "info"]):
        e = dict(os.environ, FASTMLP_CPU_CAPABILITY="avx9")
        if argv is None:
            r = _cli(["info"], env_extra={"FASTMLP_CPU_CAPABILITY": "avx9"})
        else:
            e["PYTHONPATH"] = PYPATH + os.pathsep + e.get("PYTHONPATH", "")
            r = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                               timeout=60, env=e)
        _one_error_line(r, 2)
        assert "FASTMLP_CPU_CAPABILITY='avx9'" in r.stderr
    # the library import still raises (no exit from an import in a program)
    e = dict(os.environ, FASTMLP_CPU_CAPABILITY="avx9")
    e["PYTHONPATH"] = PYPATH + os.pathsep + e.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", "import fastmlp"], capture_output=True, text=True,
                       timeout=60, env=e)
    assert r.returncode == 1 and "ValueError: FASTMLP_CPU_CAPABILITY" in r.stderr


def test_bench_reps_checked_in_the_api():
    from fastmlp.tools.bench import harness

    for reps in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="reps: expected None or an integer >= 1"):
            harness._defaults("gemm", True, reps, None)
    assert harness._defaults("gemm", True, 2, None)[0] == 2


def test_cli_tampered_model_is_one_line(small_data, tmp_path):
    r = _cli(["evaluate", "--model", str(_tampered(tmp_path, 10**9)), "--data", str(small_data),
              "--no-download"])
    _one_error_line(r, 1)
    assert "architecture does not match" in r.stderr
