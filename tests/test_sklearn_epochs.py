"""fastmlp.sklearn's many-epochs-per-call loop (``_Fused.epochs``, the C++ loop of
csrc/train/sk_fit.cpp reached through ``_core.train_epoch(sk_fit=...)``) against the
per-epoch Python loop (``_mlp._PER_EPOCH = True``): the same bits in every fitted
attribute, for every stochastic-solver rule it reproduces (adam; sgd constant,
invscaling, adaptive, with and without Nesterov momentum; the three losses; a short
last batch; warm_start; partial_fit; chunks of epochs that end mid-chunk), the random
state left where the per-epoch loop leaves it, Ctrl-C, and the binding's checks.

Bitwise equality is the contract (not a tolerance): both paths run the same kernels on
the same inputs and the loop evaluates scikit-learn's double arithmetic in the Python
path's order, numpy's pairwise sum included.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is the optional 'sklearn' extra")
from sklearn.utils import shuffle as sk_shuffle  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import _core  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from fastmlp.sklearn import _mlp  # noqa: E402

ATTRS = ("loss_", "best_loss_", "loss_curve_", "t_", "n_iter_", "_no_improvement_count")


def _data(seed, n=157, f=9, kind="multiclass"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f)).astype(np.float32)
    w = rng.standard_normal((f, 3))
    if kind == "multiclass":
        y = np.argmax(X @ w + rng.standard_normal((n, 3)), axis=1)
    elif kind == "binary":
        y = np.where(X @ w[:, 0] > 0, "yes", "no")
    elif kind == "multilabel":
        y = (X @ w + 0.5 * rng.standard_normal((n, 3)) > 0).astype(int)
    else:
        y = X @ w[:, :2] + 0.1 * rng.standard_normal((n, 2))
    return X, y


def _fitted(est):
    out = {k: getattr(est, k) for k in ATTRS}
    out["coefs"] = [a.tobytes() for a in est.coefs_ + est.intercepts_]
    opt = est._optimizer
    out["lr"] = opt.learning_rate
    out["state"] = [{k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
                    for st in opt.optimizer.state.values()]
    out["groups"] = [{k: v for k, v in g.items() if k != "params"} for g in opt.optimizer.param_groups]
    return out


def _run(monkeypatch, per_epoch, make, steps):
    monkeypatch.setattr(_mlp, "_PER_EPOCH", per_epoch)
    est = make()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for step in steps:
            step(est)
    return est, [str(x.message) for x in w]


CASES = {
    "adam": dict(solver="adam", max_iter=25),
    "adam_tol_stops": dict(solver="adam", max_iter=300, tol=1e-2, n_iter_no_change=3,
                           learning_rate_init=0.05),
    "sgd_constant_nesterov": dict(solver="sgd", max_iter=15, momentum=0.9, alpha=1e-2),
    "sgd_plain_momentum": dict(solver="sgd", max_iter=15, momentum=0.7,
                               nesterovs_momentum=False),
    "sgd_no_momentum": dict(solver="sgd", max_iter=15, momentum=0.0),
    "sgd_invscaling": dict(solver="sgd", learning_rate="invscaling", power_t=0.3, max_iter=15,
                           learning_rate_init=0.1),
    "sgd_adaptive": dict(solver="sgd", learning_rate="adaptive", tol=1e-2, n_iter_no_change=2,
                         max_iter=80, learning_rate_init=0.2),
    "no_shuffle": dict(solver="adam", shuffle=False, max_iter=12),
}


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_many_epoch_loop_gives_the_per_epoch_bits(monkeypatch, threads, case, kind):
    """fit then a warm_start refit, and fit then two partial_fit calls: every attribute
    and the optimizer's state bitwise equal, and the same warnings."""
    X, y = _data(3, kind=kind)
    cls = MLPRegressor if kind == "regression" else MLPClassifier
    kw = dict(CASES[case], hidden_layer_sizes=(11, 6), batch_size=40, random_state=1)

    def refit(est):
        est.set_params(warm_start=True, max_iter=4)
        est.fit(X, y)

    def partial(est):
        est.partial_fit(X, y)
        est.partial_fit(X[::-1], y[::-1])

    steps = [lambda e: e.fit(X, y), refit]
    a, wa = _run(monkeypatch, True, lambda: cls(**kw), steps)
    b, wb = _run(monkeypatch, False, lambda: cls(**kw), steps)
    assert _fitted(a) == _fitted(b)
    assert wa == wb
    kw["max_iter"] = 3
    a, _ = _run(monkeypatch, True, lambda: cls(**kw), [lambda e: e.fit(X, y), partial])
    b, _ = _run(monkeypatch, False, lambda: cls(**kw), [lambda e: e.fit(X, y), partial])
    assert _fitted(a) == _fitted(b)


@pytest.mark.parametrize("chunk_epochs,snap_every", [(1, 16), (2, 16), (5, 16), (5, 2), (200, 1),
                                                     (200, 3), (200, 16)])
def test_chunks_leave_the_random_state_where_the_per_epoch_loop_does(monkeypatch, chunk_epochs,
                                                                    snap_every):
    """Chunks of a few epochs (the stopping rule ends one mid-chunk): the same bits, and a
    RandomState passed as random_state ends in the per-epoch loop's state, whichever
    snapshot (_SNAP_EVERY) the rewind starts from."""
    X, y = _data(5)
    monkeypatch.setattr(_mlp, "_PERM_CHUNK", chunk_epochs * len(X))
    monkeypatch.setattr(_mlp, "_SNAP_EVERY", snap_every)
    kw = dict(hidden_layer_sizes=(8,), batch_size=50, max_iter=200, tol=1e-2,
              n_iter_no_change=2, learning_rate_init=0.05)
    rs_a, rs_b = np.random.RandomState(7), np.random.RandomState(7)
    a, _ = _run(monkeypatch, True, lambda: MLPClassifier(random_state=rs_a, **kw),
                [lambda e: e.fit(X, y)])
    b, _ = _run(monkeypatch, False, lambda: MLPClassifier(random_state=rs_b, **kw),
                [lambda e: e.fit(X, y)])
    assert 2 < a.n_iter_ < 200  # stopped by the rule, not by max_iter
    assert _fitted(a) == _fitted(b)
    sa, sb = rs_a.get_state(), rs_b.get_state()
    assert sa[0] == sb[0] and np.array_equal(sa[1], sb[1]) and sa[2:] == sb[2:]


@pytest.mark.parametrize("n", [1, 2, 7, 200, 1797])
def test_shuffled_is_sklearns_shuffle(n):
    """_shuffled draws and indexes as sklearn.utils.shuffle (same result, same state after)."""
    idx = np.random.default_rng(n).permutation(n)
    ra, rb = np.random.RandomState(n), np.random.RandomState(n)
    for _ in range(3):
        a, b = _mlp._shuffled(idx, ra), sk_shuffle(idx, random_state=rb)
        assert np.array_equal(a, b)
        idx = a
    assert ra.randint(1 << 30) == rb.randint(1 << 30)


def test_ctrl_c_stops_the_many_epoch_fit():
    """SIGINT during a long fit: scikit-learn's "Training interrupted by user." warning
    soon after, with n_iter_ complete epochs in loss_curve_ (none when the signal comes
    inside the first, on a loaded machine) and usable weights."""
    from test_threads import run_py
    r = run_py("""
        import os, signal, threading, time, warnings, numpy as np
        from fastmlp.sklearn import MLPClassifier
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4000, 64)).astype(np.float32); y = rng.integers(0, 10, 4000)
        # 100000 epochs: minutes uninterrupted; the signal comes 0.5 s in
        est = MLPClassifier(hidden_layer_sizes=(64,), max_iter=100000, tol=0.0,
                            n_iter_no_change=10**6, random_state=0)
        fired = []
        def fire():
            time.sleep(0.5); fired.append(time.monotonic()); os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire).start()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est.fit(X, y)
        lag = time.monotonic() - fired[0]
        msgs = [str(x.message) for x in w]
        print(int("Training interrupted by user." in msgs), int(lag < 5.0),
              int(0 <= est.n_iter_ < 100000), int(len(est.loss_curve_) == est.n_iter_),
              int(est.t_ == est.n_iter_ * 4000), int(est.predict(X).shape == (4000,)), round(lag, 3))
        """, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:6] == ["1"] * 6, r.stdout


def _sk_call(sk_fit, **over):
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 4)).astype(np.float32), np.zeros(3, np.float32)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    opt = {"kind": "adam", "params": [
        {"lr": 1e-3, "exp_avg": np.zeros_like(W), "exp_avg_sq": np.zeros_like(W)},
        {"lr": 1e-3, "exp_avg": np.zeros_like(b), "exp_avg_sq": np.zeros_like(b)}]}
    args = dict(perm=np.tile(np.arange(10), 2), batch_size=4, optimizer=opt)
    args.update(over)
    return _core.train_epoch([W], [b], [None], X, y, args["perm"],
                             args["batch_size"], False, args["optimizer"], loss="cross_entropy",
                             sk_fit=sk_fit)


GOOD = dict(n=10, alpha=1e-4, c=1.0, v=1.0, schedule="constant", learning_rate_init=1e-3,
            learning_rate=1e-3, power_t=0.5, tol=1e-4, n_iter_no_change=10, best_loss=np.inf,
            no_improvement_count=0, t=0)


def test_sk_fit_runs_and_reports():
    d = dict(GOOD)
    loss_sum, steps = _sk_call(d)
    assert steps == 6 and d["epochs"] == 2 and d["t"] == 20 and len(d["losses"]) == 2
    assert d["best_loss"] == min(d["losses"]) and not d["converged"]


@pytest.mark.parametrize("key,value,exc", [
    ("n", 3, ValueError), ("n", 0, ValueError), ("n", 2.5, TypeError), ("alpha", -1.0, ValueError),
    ("alpha", np.nan, ValueError), ("c", 0.0, ValueError), ("v", "1", TypeError),
    ("schedule", "optimal", ValueError), ("schedule", 1, TypeError),
    ("n_iter_no_change", 0, ValueError), ("tol", np.inf, ValueError), ("t", -1, ValueError),
    ("best_loss", np.nan, ValueError), ("learning_rate", None, TypeError)])
def test_sk_fit_bad_entries_raise_naming_the_key(key, value, exc):
    d = dict(GOOD, **{key: value})
    with pytest.raises(exc, match=r"sk_fit\['%s'\]" % key):
        _sk_call(d)


def test_sk_fit_bad_combinations_raise():
    with pytest.raises(TypeError, match="sk_fit"):
        _sk_call([1])
    with pytest.raises(ValueError, match="sk_fit\\['n'\\]: required"):
        _sk_call({k: v for k, v in GOOD.items() if k != "n"})
    with pytest.raises(ValueError, match="batch_size"):
        _sk_call(dict(GOOD, n=5), perm=np.arange(10), batch_size=6)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        _core.train_epoch([W], [None], [None], np.zeros((10, 4), np.float32), np.zeros(10, np.int64),
                          np.arange(10), 5, False,
                          {"kind": "adagrad", "params": [{"lr": 0.1, "sum": np.zeros_like(W)}]},
                          loss="cross_entropy", sk_fit=dict(GOOD))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_step_thread_choice_keeps_the_bits(monkeypatch, seed, solver):
    """The C++ loop picks one thread or the caller's count step by step from the steps'
    measured times (train/thread_chooser.h): a new loop's first four steps run on one
    thread (the first a warm-up, not timed) and the next four at the caller's count,
    later ones as measured (the remembered choices are forgotten first). At 2 threads,
    on a shape whose GEMMs run parallel there (200 x 256 x 64 multiply-adds: above the
    parallel threshold), the fit's bits equal the per-epoch path's at 1 thread. Exact
    equality, not a tolerance: every kernel computes each element with the same
    operations at any thread count. (Run over 50 seeds when added.)"""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((637, 64)).astype(np.float32)
    y = np.argmax(X @ rng.standard_normal((64, 4)) + rng.standard_normal((637, 4)), axis=1)
    kw = dict(hidden_layer_sizes=(256,), solver=solver, batch_size=200, max_iter=12,
              random_state=seed, momentum=0.9, learning_rate_init=0.01)
    a, wa = _run(monkeypatch, True, lambda: MLPClassifier(n_threads=1, **kw), [lambda e: e.fit(X, y)])
    fastmlp._core._step_threads(0)
    b, wb = _run(monkeypatch, False, lambda: MLPClassifier(n_threads=2, **kw), [lambda e: e.fit(X, y)])
    assert _fitted(a) == _fitted(b)
    assert wa == wb
