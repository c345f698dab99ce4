"""The fused epoch with the losses of issue 10: L1Loss, HuberLoss, SmoothL1Loss,
BCEWithLogitsLoss (float targets (N, C), as MSELoss) and NLLLoss after a final LogSoftmax.

The fused C++ epoch calls the kernels the Python loop calls (the loss kernel; for a model
ending with LogSoftmax, log_softmax then the loss, and backward the loss's gradient then
log_softmax_backward), on the same shapes with the same inputs, so the weights, optimizer
state and losses must be bitwise equal: for every loss x reduction, at 1 and 2 threads, on
every ISA path, with a short last batch (203 = 6 * 32 + 11). Bad targets raise before any
weight changes.
"""
import copy
import logging
import math

import numpy as np
import pytest

from fastmlp import _core, nn, optim
from fastmlp.train import python_epoch, train_epoch
from helpers import seed_net

LOG = "fastmlp"
W5 = np.array([0.5, 1.0, 2.0, 1.5, 0.7], np.float32)
PW5 = np.array([3.0, 1.0, 0.5, 2.0, 1.2], np.float32)

#: name -> (criterion factory, target kind, model ends with LogSoftmax(dim) or not)
CRITERIA = {
    "l1": (lambda r: nn.L1Loss(reduction=r), "float", None),
    "huber": (lambda r: nn.HuberLoss(reduction=r, delta=0.5), "float", None),
    "huber_big_delta": (lambda r: nn.HuberLoss(reduction=r, delta=3.0), "float", None),
    "smooth_l1": (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.7), "float", None),
    "smooth_l1_beta0": (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0), "float", None),
    "bce": (lambda r: nn.BCEWithLogitsLoss(reduction=r), "prob", None),
    "bce_weight": (lambda r: nn.BCEWithLogitsLoss(weight=W5, reduction=r), "prob", None),
    "bce_pos_weight": (lambda r: nn.BCEWithLogitsLoss(reduction=r, pos_weight=PW5), "binary", None),
    "bce_both_scalar": (lambda r: nn.BCEWithLogitsLoss(weight=np.float32(0.7), reduction=r,
                                                       pos_weight=np.float32(2.0)), "prob", None),
    "nll": (lambda r: nn.NLLLoss(reduction=r), "class", 1),
    "nll_dim_last": (lambda r: nn.NLLLoss(reduction=r), "class", -1),
    "nll_weight": (lambda r: nn.NLLLoss(weight=W5, reduction=r), "class", 1),
    "nll_ignore": (lambda r: nn.NLLLoss(weight=W5, ignore_index=2, reduction=r), "class", 1),
    # a LogSoftmax last with another loss: the same log_softmax head
    "ce_after_log_softmax": (lambda r: nn.CrossEntropyLoss(reduction=r), "class", 1),
}
OPTIMS = {
    "sgd_momentum": dict(lr=0.05, momentum=0.9),
    "sgd_plain": dict(lr=0.05),
    "adam": dict(optimizer="Adam", lr=0.01),
}


def make_targets(rng, kind, n, ignore_index=None):
    if kind == "float":
        return rng.standard_normal((n, 5)).astype(np.float32)
    if kind == "prob":
        return rng.random((n, 5)).astype(np.float32)
    if kind == "binary":
        return (rng.random((n, 5)) < 0.4).astype(np.float32)
    y = rng.integers(0, 5, n)
    if ignore_index is not None:
        y[rng.random(n) < 0.15] = ignore_index
    return y


def make_model(rng, log_softmax_dim, wide=False):
    """12-16-9-5 (the middle Linear without bias) with fresh weights, or with ``wide``
    300-16-5 (a first layer much wider than the rest: the fused epoch then runs the head
    beside the next batch's gather), then LogSoftmax(dim) when ``log_softmax_dim`` is not
    None."""
    if wide:
        m = seed_net(sizes=(300, 16, 5), init=(rng, 0.4))
    else:
        m = seed_net(sizes=(12, 16, 9, 5), bias=(True, False, True), init=(rng, 0.4))
    if log_softmax_dim is None:
        return m
    return nn.Sequential(*m.children(), nn.LogSoftmax(dim=log_softmax_dim))


def make_opt(model, opts):
    opts = dict(opts)
    return getattr(optim, opts.pop("optimizer", "SGD"))(model.parameters(), **opts)


def assert_same(m1, o1, m2, o2):
    for (n1, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert np.array_equal(p1.data, p2.data), f"{n1}: max diff {np.abs(p1.data - p2.data).max()}"
        s1, s2 = o1.state.get(p1, {}), o2.state.get(p2, {})
        assert list(s1) == list(s2)
        for k in s1:
            assert np.array_equal(np.asarray(s1[k]), np.asarray(s2[k])), (n1, k)


def run_both(rng, crit_name, reduction, opts, n=203, batch_size=32, epochs=2, wide=False):
    factory, kind, lsm = CRITERIA[crit_name]
    crit = factory(reduction)
    X = rng.standard_normal((n, 15, 20) if wide else (n, 3, 4)).astype(np.float32)
    if wide:  # 300 inputs: keep the pre-activations in range
        X *= np.float32(0.2)
    y = make_targets(rng, kind, n, getattr(crit, "ignore_index", None) if "ignore" in crit_name
                     else None)
    m1 = make_model(rng, lsm, wide)
    m2 = make_model(rng, lsm, wide)
    m2.load_state_dict(m1.state_dict())
    o1, o2 = make_opt(m1, opts), make_opt(m2, opts)
    for e in range(epochs):
        l1 = train_epoch(m1, X, y, crit, o1, batch_size=batch_size, seed=11 + e)
        perm = np.random.default_rng(11 + e).permutation(n)
        l2 = python_epoch(m2, X, y, crit, o2, perm, batch_size)
        assert l1 == l2 and math.isfinite(l1), (l1, l2)
    assert_same(m1, o1, m2, o2)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("crit_name", list(CRITERIA))
def test_fused_bitwise_equals_python_loop(rng, isa, threads, crit_name, reduction, caplog):
    """Every loss x reduction, every ISA path, 1 and 2 threads, a short last batch."""
    opts = dict(OPTIMS["sgd_momentum"])
    if reduction == "sum":
        opts["lr"] /= 32
    with caplog.at_level(logging.DEBUG, logger=LOG):
        run_both(rng, crit_name, reduction, opts)
    assert "Python loop" not in caplog.text  # the fused path ran


@pytest.mark.parametrize("crit_name", ["l1", "bce_pos_weight", "nll_weight", "smooth_l1"])
def test_fused_head_overlap_bitwise(rng, isa, thread_count, crit_name):
    """At 2 threads with a wide first layer the head (the loss included) runs on one thread
    beside the next batch's gather: still the Python loop's bits."""
    thread_count(2)
    run_both(rng, crit_name, "mean", OPTIMS["sgd_momentum"], wide=True)


@pytest.mark.parametrize("opt_name", ["sgd_plain", "adam"])
@pytest.mark.parametrize("crit_name", ["l1", "huber", "smooth_l1", "bce_pos_weight", "nll_ignore"])
def test_fused_bitwise_other_optimizers(rng, crit_name, opt_name, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOG):
        run_both(rng, crit_name, "mean", OPTIMS[opt_name])
    assert "Python loop" not in caplog.text


@pytest.mark.parametrize("batch_size", [1, 203, 500])
def test_fused_bitwise_batch_sizes(rng, batch_size):
    """One row per step; the whole set in one step; a batch larger than the set."""
    for crit_name in ("huber", "bce_weight", "nll_weight"):
        run_both(rng, crit_name, "mean", OPTIMS["sgd_momentum"], batch_size=batch_size, epochs=1)


def test_nll_every_row_ignored_gives_nan_like_the_loop(rng):
    """All targets ignore_index: the mean is 0/0 = nan in both paths (as PyTorch), and the
    gradient of every (ignored) row is 0, so no weight moves."""
    crit = nn.NLLLoss()
    X = rng.standard_normal((40, 12)).astype(np.float32)
    y = np.full(40, -100)
    m1 = make_model(rng, 1)
    w0 = [p.data.copy() for p in m1.parameters()]
    o1 = optim.SGD(m1.parameters(), lr=0.1)
    assert math.isnan(train_epoch(m1, X, y, crit, o1, batch_size=16, seed=0))
    for p, q in zip(m1.parameters(), w0):
        assert np.array_equal(p.data, q)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")  # the Python loop's, per step
def test_fused_log_softmax_implicit_dim(rng, caplog):
    """LogSoftmax(dim=None) on the (B, C) batches is over dim 1 (PyTorch's implicit choice):
    fused, and bitwise the loop."""
    crit = nn.NLLLoss()
    X = rng.standard_normal((90, 12)).astype(np.float32)
    y = make_targets(rng, "class", 90)
    m1 = nn.Sequential(*make_model(rng, None).children(), nn.LogSoftmax())
    m2 = copy.deepcopy(m1)
    o1, o2 = make_opt(m1, OPTIMS["sgd_momentum"]), make_opt(m2, OPTIMS["sgd_momentum"])
    with caplog.at_level(logging.DEBUG, logger=LOG):
        l1 = train_epoch(m1, X, y, crit, o1, batch_size=16, seed=3)
    assert "Python loop" not in caplog.text
    l2 = python_epoch(m2, X, y, crit, o2, np.random.default_rng(3).permutation(90), 16)
    assert l1 == l2
    assert_same(m1, o1, m2, o2)


def test_bce_weight_of_more_dimensions_is_not_fused():
    role = nn.BCEWithLogitsLoss(weight=np.ones((4, 5), np.float32)).fused_role()
    assert role.kind == "unsupported" and "(4, 5)" in role.why
    assert nn.BCEWithLogitsLoss(pos_weight=np.ones(5, np.float32)).fused_role().kind == "loss"


# ------------------------------------------------------------- fallbacks --


@pytest.mark.parametrize("kind,reason", [
    ("log_softmax_dim0", "LogSoftmax(dim=0)"),
    ("log_softmax_not_last", "after the LogSoftmax"),
    ("softmax_last", "no Softmax head"),
    ("huber_subclass", "criterion MyHuber"),
])
def test_fallback_same_result_and_logged(rng, kind, reason, caplog):
    crit = nn.NLLLoss()
    base = seed_net(sizes=(12, 16, 5), init=(rng, 0.3))
    y = make_targets(rng, "class", 100)
    if kind == "log_softmax_dim0":
        model = nn.Sequential(*base.children(), nn.LogSoftmax(dim=0))
    elif kind == "log_softmax_not_last":
        model = nn.Sequential(*base.children(), nn.LogSoftmax(dim=1), nn.Linear(5, 5))
    elif kind == "softmax_last":
        model, crit = nn.Sequential(*base.children(), nn.Softmax(dim=1)), nn.MSELoss()
        y = make_targets(rng, "prob", 100)
    else:
        class MyHuber(nn.HuberLoss):
            pass

        model, crit = base, MyHuber()
        y = make_targets(rng, "float", 100)
    X = rng.standard_normal((100, 12)).astype(np.float32)
    m2 = copy.deepcopy(model)
    o1, o2 = optim.SGD(model.parameters(), lr=0.05), optim.SGD(m2.parameters(), lr=0.05)
    with caplog.at_level(logging.DEBUG, logger=LOG):
        l1 = train_epoch(model, X, y, crit, o1, batch_size=16, seed=4)
    assert "running the Python loop" in caplog.text and reason in caplog.text
    l2 = python_epoch(m2, X, y, crit, o2, np.random.default_rng(4).permutation(100), 16)
    assert l1 == l2 or (math.isnan(l1) and math.isnan(l2))
    assert_same(model, o1, m2, o2)


# ------------------------------------------------------------ bad targets --


@pytest.mark.parametrize("crit_name,bad,exc,match", [
    ("l1", "shape", ValueError, r"y: expected L1Loss targets of shape \(100, 5\)"),
    ("huber", "shape_1d", ValueError, r"y: expected HuberLoss targets of shape \(100, 5\)"),
    ("bce", "dtype", TypeError, "y: expected real-valued"),
    ("smooth_l1", "shape", ValueError, "SmoothL1Loss targets of shape"),
    ("nll", "label_high", ValueError, "y: label 5 at index 7"),
    ("nll_ignore", "label_neg", ValueError, "y: label -100 at index 3"),
    ("nll", "float_labels", TypeError, "y: expected integer class indices"),
    ("nll", "labels_2d", ValueError, r"y: expected class indices of shape \(N,\)"),
])
def test_bad_targets_raise_before_training(rng, crit_name, bad, exc, match):
    factory, kind, lsm = CRITERIA[crit_name]
    crit = factory("mean")
    model = make_model(rng, lsm)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    X = rng.standard_normal((100, 12)).astype(np.float32)
    y = make_targets(rng, kind, 100, 2 if "ignore" in crit_name else None)
    if bad == "shape":
        y = y[:, :4]
    elif bad == "shape_1d":
        y = y[:, 0]
    elif bad == "dtype":
        y = y.astype(np.complex64)
    elif bad == "label_high":
        y[7] = 5
    elif bad == "label_neg":
        y[3] = -100  # not this loss's ignore_index (2)
    elif bad == "float_labels":
        y = y.astype(np.float32)
    elif bad == "labels_2d":
        y = y[:, None]
    w0 = [p.data.copy() for p in model.parameters()]
    with pytest.raises(exc, match=match):
        train_epoch(model, X, y, crit, opt, batch_size=16)
    for p, q in zip(model.parameters(), w0):
        assert np.array_equal(p.data, q)
    assert not opt.state


def _core_args(rng, C=5):
    W = [rng.standard_normal((C, 6)).astype(np.float32)]
    X = rng.standard_normal((20, 6)).astype(np.float32)
    opt = {"kind": "sgd", "params": [dict(lr=0.1), dict(lr=0.1)]}
    return W, [np.zeros(C, np.float32)], [None], X, np.arange(20), opt


@pytest.mark.parametrize("kw,exc,match", [
    (dict(loss="hinge"), ValueError, "loss: expected one of 'cross_entropy', 'mse', 'l1'"),
    (dict(loss="huber", delta=0.0), ValueError, "delta: huber_loss needs delta > 0"),
    (dict(loss="huber", delta=float("nan")), ValueError, "delta"),
    (dict(loss="smooth_l1", beta=-1.0), ValueError, "beta: smooth_l1_loss needs beta >= 0"),
    (dict(loss="l1", class_weight=np.ones(5, np.float32)), ValueError, "class_weight: only for"),
    (dict(loss="bce_with_logits", class_weight=np.ones(4, np.float32)), ValueError,
     r"class_weight: expected shape \(\) or \(5,\)"),
    (dict(loss="bce_with_logits", pos_weight=np.ones((2, 5), np.float32)), ValueError,
     r"pos_weight: expected shape \(\) or \(5,\)"),
    (dict(loss="mse", pos_weight=np.ones(5, np.float32)), ValueError, "pos_weight: only for"),
    (dict(loss="nll", label_smoothing=0.1), ValueError, "label_smoothing: only for"),
    (dict(loss="nll", class_weight=np.ones(4, np.float32)), ValueError, "class_weight"),
    (dict(loss="nll", y="float"), TypeError, "y: expected integer class indices"),
    (dict(loss="nll", y="out_of_range"), ValueError, "y: label 5 at index 0"),
    (dict(loss="bce_with_logits", y="class"), ValueError,
     r"y: expected bce_with_logits targets of shape \(20, 5\)"),
])
def test_core_bad_loss_arguments_raise_before_any_change(rng, kw, exc, match):
    W, b, acts, X, perm, opt = _core_args(rng)
    W0 = W[0].copy()
    kw = dict(kw)
    y = kw.pop("y", None)
    if kw["loss"] == "nll":
        y = {"float": np.zeros(20, np.float32), "out_of_range": np.full(20, 5)}.get(y, np.zeros(20, np.int64))
    else:
        y = np.zeros(20, np.int64) if y == "class" else np.zeros((20, 5), np.float32)
    with pytest.raises(exc, match=match):
        _core.train_epoch(W, b, acts, X, y, perm, 4, False, opt, **kw)
    assert np.array_equal(W[0], W0)


def test_core_log_softmax_head_is_the_python_composition(rng):
    """_core.train_epoch(log_softmax=True, loss='nll') on one step of one layer equals the
    kernels composed by hand (log_softmax, nll_loss, log_softmax_backward, dW, SGD)."""
    from fastmlp import kernels
    W, b, acts, X, perm, opt = _core_args(rng)
    y = rng.integers(0, 5, 20)
    W1, b1 = W[0].copy(), b[0].copy()
    loss_sum, steps = _core.train_epoch(W, b, acts, X, y, perm, 20, False, opt, loss="nll",
                                        log_softmax=True)
    assert steps == 1
    z = kernels.sgemm(X, W1, trans_b=True, bias=b1)
    lp = kernels.log_softmax(z)
    loss, d = kernels.nll_loss(lp, y)
    dz = kernels.log_softmax_backward(d, lp)
    dW = kernels.sgemm(dz, X, trans_a=True)
    kernels.sgd_update(W1, dW, lr=0.1)
    kernels.sgd_update(b1, kernels.bias_grad(dz), lr=0.1)
    assert loss_sum == np.float32(loss)
    assert np.array_equal(W[0], W1) and np.array_equal(b[0], b1)
