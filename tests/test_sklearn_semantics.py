"""fastmlp.sklearn's estimators against scikit-learn's own (issue 11): the same
trajectories (loss_curve_, weights), stopping iteration and partial_fit sequences.

Tolerance (every comparison here): fastmlp computes in float32, scikit-learn (on
float64 input) in float64. How far float32 rounding moves a trajectory depends on the
problem's conditioning, so the tolerance is measured on the problem itself by
scikit-learn's own float32 mode (float32 input: every operation of its code in
float32, the same algorithm): with ``E = |sk32 - sk64|`` (per entry, then its max),

    |fastmlp - sk64| <= 4 * E + 16 * 2**-24 * max|sk64|.

Both float32 runs round every operation to 2**-24 relative but in different orders
(fastmlp's GEMM blocking, fused epilogues), so their deviations from float64 are of
the same size and independent: x 4 covers the ratio of two such deviations; the second
term is a floor for entries where sk32 happens to round like float64 (16 ulps of the
largest value, for parameters the largest parameter: the float32 storage of the inputs, weights and a few elementwise
operations). A semantic difference (a wrong scale, learning rate, L2 term, eps or
batch boundary) moves results far beyond float32 noise. Every test here passed for 50
seeds (``FASTMLP_SK_SEEDS=50``).
"""
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is the optional 'sklearn' extra")
pytest.importorskip("scipy", reason="scipy is the optional 'sklearn' extra")

from sklearn import neural_network as sknn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

SEEDS = range(int(os.environ.get("FASTMLP_SK_SEEDS", "3")))
U = 2.0 ** -24


def _close(ours, sk64, sk32, what, scale=None):
    ours, sk64, sk32 = (np.asarray(a, dtype=np.float64) for a in (ours, sk64, sk32))
    e = np.max(np.abs(sk32 - sk64)) if sk64.size else 0.0
    if scale is None:
        scale = np.max(np.abs(sk64)) if sk64.size else 0.0
    tol = 4 * e + 16 * U * scale
    err = np.max(np.abs(ours - sk64)) if sk64.size else 0.0
    assert err <= tol, f"{what}: max |fastmlp - sklearn| = {err:.3g} > tol {tol:.3g} " \
                       f"(sklearn float32 vs float64: {e:.3g})"


def _compare(ours, sk64, sk32):
    assert ours.n_iter_ == sk64.n_iter_ == sk32.n_iter_
    assert ours.t_ == sk64.t_
    if hasattr(sk64, "loss_curve_"):
        _close(ours.loss_curve_, sk64.loss_curve_, sk32.loss_curve_, "loss_curve_")
    _close([ours.loss_], [sk64.loss_], [sk32.loss_], "loss_")
    # the parameters at the scale of the largest (an intercept's rounding comes from
    # sums of the same magnitude as the weights')
    scale = max(np.max(np.abs(p)) for p in list(sk64.coefs_) + list(sk64.intercepts_))
    for i, (a, b, c) in enumerate(zip(ours.coefs_, sk64.coefs_, sk32.coefs_)):
        assert a.shape == b.shape
        _close(a, b, c, f"coefs_[{i}]", scale)
    for i, (a, b, c) in enumerate(zip(ours.intercepts_, sk64.intercepts_, sk32.intercepts_)):
        _close(a, b, c, f"intercepts_[{i}]", scale)


def _data(seed, kind, n=103, f=7):
    """n (prime: a short last batch) samples; y for ``kind``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    w = rng.normal(size=(f, 3))
    z = X @ w
    if kind == "multiclass":
        y = np.array(["a", "b", "c"])[np.argmax(z, 1)]  # string labels
    elif kind == "binary":
        y = np.where(z[:, 0] > 0, 7, -3)  # non-contiguous integers
    elif kind == "multilabel":
        y = (z > 0).astype(int)
    elif kind == "regression":
        y = z[:, 0]
    else:  # multi-output regression
        y = z[:, :2]
    return X, y


def _three(kind, **params):
    """(fastmlp, sklearn for float64, sklearn for float32) with the same parameters."""
    ours = (MLPRegressor if kind.endswith("regression") else MLPClassifier)(**params)
    sk = sknn.MLPRegressor if kind.endswith("regression") else sknn.MLPClassifier
    return ours, sk(**params), sk(**params)


def _stable(kind, params):
    """params with SGD's learning rate scaled down for regression (squared error's
    gradients are larger; the classification rates diverge there in scikit-learn too)."""
    params = dict(params)
    if kind.endswith("regression") and params.get("solver") == "sgd":
        params["learning_rate_init"] = params.get("learning_rate_init", 0.001) * 0.1
    return params


def _fit3(kind, X, y, **params):
    params = _stable(kind, params)
    ests = _three(kind, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est, Xi in zip(ests, (X, X, X.astype(np.float32))):
            est.fit(Xi, y)
    return ests


CONFIGS = [
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.9, nesterovs_momentum=False,
         alpha=0.05),
    dict(solver="sgd", learning_rate_init=0.2, momentum=0.0),
    dict(solver="sgd", learning_rate_init=0.5, learning_rate="invscaling", power_t=0.3),
    # adaptive: tol this large makes every epoch "no improvement", so lr /= 5 happens
    dict(solver="sgd", learning_rate_init=0.2, learning_rate="adaptive", tol=10.0,
         n_iter_no_change=1),
    dict(solver="adam", learning_rate_init=0.01),
    dict(solver="adam", learning_rate_init=0.01, alpha=0.1, beta_1=0.5, beta_2=0.9,
         epsilon=1e-4, activation="tanh"),
    dict(solver="sgd", learning_rate_init=0.1, activation="logistic", hidden_layer_sizes=(5, 4)),
    dict(solver="adam", activation="identity", learning_rate_init=0.01),
]
KINDS = ["multiclass", "binary", "multilabel", "regression", "multioutput regression"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
@pytest.mark.parametrize("kind", KINDS)
def test_same_trajectory_random_state(kind, cfg, seed):
    """Same random_state, shuffle=True: the same initial weights (scikit-learn's
    _init_coef draws), the same shuffles, so the same trajectory."""
    X, y = _data(seed, kind)
    params = dict(dict(hidden_layer_sizes=(6,), batch_size=25, max_iter=4,
                       random_state=seed), **CONFIGS[cfg])
    _compare(*_fit3(kind, X, y, **params))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cfg", [0, 1, 3, 5])
@pytest.mark.parametrize("kind", ["multiclass", "multioutput regression"])
def test_same_trajectory_warm_start(kind, cfg, seed):
    """From the same given coefs_/intercepts_ (warm_start, shuffle=False), batch_size
    'auto' (min(200, n)) and a batch size leaving a short last batch."""
    X, y = _data(seed, kind, n=251)
    rng = np.random.default_rng(seed + 1000)
    ests = _three(kind, **_stable(kind, dict(dict(hidden_layer_sizes=(5,), max_iter=1,
                                                  shuffle=False, random_state=0),
                                             **CONFIGS[cfg])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for bs in ("auto", 40):
            for est, Xi in zip(ests, (X, X, X.astype(np.float32))):
                est.set_params(warm_start=False, max_iter=1)
                est.fit(Xi, y)  # defines classes_, n_layers_, ...
            coefs = [rng.uniform(-0.5, 0.5, c.shape) for c in ests[1].coefs_]
            inter = [rng.uniform(-0.5, 0.5, b.shape) for b in ests[1].intercepts_]
            for est, dt, Xi in zip(ests, (np.float64, np.float64, np.float32),
                                   (X, X, X.astype(np.float32))):
                est.coefs_ = [c.astype(dt) for c in coefs]
                est.intercepts_ = [b.astype(dt) for b in inter]
                est.set_params(warm_start=True, max_iter=3, batch_size=bs)
                est.fit(Xi, y)
            _compare(*ests)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_early_stopping_same_iteration(kind, seed):
    """early_stopping: the same validation split (train_test_split on random_state),
    the same validation_scores_ and the same stopping iteration."""
    X, y = _data(seed, kind, n=307)
    params = dict(hidden_layer_sizes=(8,), solver="adam", learning_rate_init=0.02,
                  early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                  tol=1e-3, max_iter=60, random_state=seed)
    ours, sk64, sk32 = _fit3(kind, X, y, **params)
    assert ours.n_iter_ == sk64.n_iter_
    _close(ours.validation_scores_, sk64.validation_scores_, sk32.validation_scores_,
           "validation_scores_")
    assert ours.best_validation_score_ == pytest.approx(sk64.best_validation_score_, abs=1e-5)
    for a, b, c in zip(ours.coefs_, sk64.coefs_, sk32.coefs_):  # the best weights restored
        _close(a, b, c, "coefs_")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_partial_fit_sequence(kind, solver, seed):
    """partial_fit over three chunks (classes= on the first call): the optimizer state
    (momentum buffers, Adam moments and t) carries over between calls as in scikit-learn."""
    X, y = _data(seed, kind, n=211)
    ests = _three(kind, hidden_layer_sizes=(6,), solver=solver, learning_rate_init=0.05,
                  batch_size=30, random_state=seed)
    chunks = [slice(0, 70), slice(70, 150), slice(150, 211)]
    for est, Xi in zip(ests, (X, X, X.astype(np.float32))):
        for ch in chunks:
            kw = {"classes": np.unique(y)} if kind == "multiclass" else {}
            est.partial_fit(Xi[ch], y[ch], **kw)
    _compare(*ests)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_lbfgs(kind, seed):
    """solver='lbfgs': scipy's L-BFGS-B on fastmlp's loss and gradient. Its line searches
    branch on the values, so only the first iterations follow scikit-learn's bit for
    float32 noise: max_iter=3."""
    X, y = _data(seed, kind, n=97)
    ours, sk64, sk32 = _fit3(kind, X, y, hidden_layer_sizes=(5,), solver="lbfgs",
                             max_iter=3, random_state=seed)
    assert ours.n_iter_ == sk64.n_iter_
    _close([ours.loss_], [sk64.loss_], [sk32.loss_], "loss_")
    for a, b, c in zip(ours.coefs_, sk64.coefs_, sk32.coefs_):
        _close(a, b, c, "coefs_")


@pytest.mark.parametrize("seed", SEEDS)
def test_predictions_match(seed):
    """predict / predict_proba / predict_log_proba / score from the same weights."""
    X, y = _data(seed, "multiclass")
    ours, sk64, sk32 = _fit3("multiclass", X, y, hidden_layer_sizes=(6,), max_iter=5,
                             random_state=seed, learning_rate_init=0.05)
    _close(ours.predict_proba(X), sk64.predict_proba(X), sk32.predict_proba(X),
           "predict_proba")
    _close(ours.predict_log_proba(X), sk64.predict_log_proba(X), sk32.predict_log_proba(X),
           "predict_log_proba")
    assert ours.predict(X).dtype == sk64.predict(X).dtype
    p = sk64.predict_proba(X)
    top2 = np.sort(p, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4  # rows whose argmax float32 cannot flip
    assert np.array_equal(ours.predict(X)[clear], sk64.predict(X)[clear])


def test_verbose_format(capsys):
    """verbose prints scikit-learn's per-epoch line."""
    X, y = _data(0, "multiclass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True,
                             random_state=0).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Iteration {i + 1}, loss = {v:.8f}" for i, v in enumerate(ours.loss_curve_)]


def test_convergence_warning_and_stopping():
    """ConvergenceWarning at max_iter; tol/n_iter_no_change stop as scikit-learn's."""
    X, y = _data(0, "multiclass")
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    ours, sk64, _ = _fit3("multiclass", X, y, hidden_layer_sizes=(4,), tol=10.0,
                          n_iter_no_change=2, max_iter=50, random_state=0)
    assert ours.n_iter_ == sk64.n_iter_ == 4  # no improvement at epochs 2, 3, 4: 3 > 2
