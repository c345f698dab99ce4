"""The ``sklearn`` suite of ``fastmlp bench``: ``fastmlp.sklearn`` beside scikit-learn.

``fastmlp.sklearn.MLPClassifier`` / ``MLPRegressor`` (the drop-in estimators) and
scikit-learn's own ``sklearn.neural_network`` estimators, on the same data with the
same parameters, timed interleaved by the harness (:func:`.harness.measure`):

``fashion-mnist``
    ``MLPClassifier(hidden_layer_sizes=(128,), max_iter=10)`` (default ``adam``) on
    Fashion-MNIST's 60,000 training images as ``x / 255`` float32 (scikit-learn keeps
    float32 input in float32), accuracy on the 10,000 test images; random
    MNIST-shaped data when it is not installed (reported, accuracy meaningless).
``fashion-mnist-float64``
    the same fit and prediction on the same images as float64 (what ``X / 255.0``
    gives a user): scikit-learn then runs in float64 (dgemm); fastmlp converts X to
    float32 once per fit and in row blocks per prediction.
``digits``
    ``MLPClassifier()`` (every default) on ``sklearn.datasets.load_digits`` as
    loaded (float64), a 75/25 ``train_test_split(random_state=0)``; test accuracy.
``diabetes``
    ``MLPRegressor()`` (every default) on ``load_diabetes`` likewise; test R².

Each dataset has a ``fit`` case (a fresh estimator per call, ``random_state`` the
call's seed: 0 for the warm-up, then 1, 2, ... for the timed repetitions, the same
seeds on both sides) and a prediction case (``predict_proba``, for the regressor
``predict``, on the test rows, with the seed-0 model). The fit records carry each
side's score per seed (``scores``: {side: {seed: score}}), their mean over the seeds
both sides ran (``score``) and ``n_iter`` (mean ``n_iter_``): scikit-learn's
stopping rules can end the sides' fits at different iterations. ConvergenceWarning
is silenced (max_iter=10 and the defaults on diabetes stop before convergence).

When ``fastmlp.sklearn`` is not importable the fastmlp side of every case is
skipped with the import error as its reason, and the run says so.
Fashion-MNIST's prediction case also runs on the test rows as float64
(``predict_proba fashion-mnist float64``: scikit-learn then runs dgemm, fastmlp converts
row blocks as its first layer reads them).
``--cases`` selects by case name (``fit digits``, ``predict_proba fashion-mnist``,
``diabetes`` ...). ``bench/bench_sklearn.py`` is the pytest-benchmark twin.
"""
from __future__ import annotations

import warnings

import numpy as np

from .harness import _log, _run_case, case_wanted

# (dataset, estimator kind, constructor parameters beyond the defaults, score name)
SKLEARN_CASES = (
    ("fashion-mnist", "classifier", {"hidden_layer_sizes": (128,), "max_iter": 10}, "accuracy"),
    ("fashion-mnist-float64", "classifier", {"hidden_layer_sizes": (128,), "max_iter": 10},
     "accuracy"),
    ("digits", "classifier", {}, "accuracy"),
    ("diabetes", "regressor", {}, "R2"),
)
# --quick: fewer Fashion-MNIST rows and iterations, capped iterations elsewhere
_QUICK_ROWS = (2048, 1000)
_QUICK_PARAMS = {"fashion-mnist": {"max_iter": 2}, "fashion-mnist-float64": {"max_iter": 2},
                 "digits": {"max_iter": 5},
                 "diabetes": {"max_iter": 5}}
PREDICT_TARGET_S = 0.02  # seconds per timing of the (fast) prediction calls


def fastmlp_estimators():
    """``((MLPClassifier, MLPRegressor), None)`` from ``fastmlp.sklearn``, or
    ``(None, reason)`` when it is not importable."""
    try:
        from fastmlp.sklearn import MLPClassifier, MLPRegressor
    except Exception as e:  # not in this build, or scikit-learn missing
        return None, f"fastmlp.sklearn is not importable ({type(e).__name__}: {e})"
    return (MLPClassifier, MLPRegressor), None


def sklearn_estimators():
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    return MLPClassifier, MLPRegressor


def load_sklearn_data(name, *, quick=False, data_root=None):
    """``(X_train, y_train, X_test, y_test, source)`` for one dataset of SKLEARN_CASES."""
    if name == "fashion-mnist-float64":
        Xtr, ytr, Xte, yte, source = load_sklearn_data("fashion-mnist", quick=quick,
                                                       data_root=data_root)
        return (Xtr.astype(np.float64), ytr, Xte.astype(np.float64), yte,
                source + " as float64")
    if name == "fashion-mnist":
        from fastmlp import data as fdata
        try:
            tr = fdata.load_mnist(data_root, kind="fashion-mnist", train=True, download=False)
            te = fdata.load_mnist(data_root, kind="fashion-mnist", train=False, download=False)
            source = "fashion-mnist"
        except FileNotFoundError:
            rng = np.random.default_rng(0)
            tr = (rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000))
            te = (rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000))
            source = "random MNIST-shaped data (Fashion-MNIST not found)"
        if quick:
            tr = (tr[0][:_QUICK_ROWS[0]], tr[1][:_QUICK_ROWS[0]])
            te = (te[0][:_QUICK_ROWS[1]], te[1][:_QUICK_ROWS[1]])
        return (fdata.normalize(tr[0]), np.asarray(tr[1]), fdata.normalize(te[0]),
                np.asarray(te[1]), source)
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    X, y = (datasets.load_digits if name == "digits" else datasets.load_diabetes)(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    return Xtr, ytr, Xte, yte, f"sklearn.datasets.load_{name}"


def _score(est, X, y, kind):
    from sklearn.metrics import accuracy_score, r2_score
    pred = est.predict(X)
    return float(accuracy_score(y, pred) if kind == "classifier" else r2_score(y, pred))


def sklearn_sides(est_classes, kind, params, data, log):
    """(fit fns, predict fns, models) for one dataset: ``est_classes`` {side: (classifier,
    regressor)}; each fit fn builds ``cls(random_state=seed, **params)`` for the next seed
    (0, 1, ...), fits it on the training rows, scores it on the test rows into
    ``log[side][seed] = (score, n_iter_)`` and keeps the seed-0 model in ``models[side]``;
    each predict fn runs predict_proba (classifier) or predict (regressor) on the test
    rows with ``models[side]`` (fitting it first when no fit ran)."""
    from sklearn.exceptions import ConvergenceWarning

    Xtr, ytr, Xte, yte = data[:4]
    models = {}
    fit_fns, pred_fns = {}, {}
    for side, classes in est_classes.items():
        cls = classes[0] if kind == "classifier" else classes[1]
        log.setdefault(side, {})
        seeds = iter(range(1 << 30))

        def fit(side=side, cls=cls, seeds=seeds, seed=None):
            s = next(seeds) if seed is None else seed
            est = cls(random_state=s, **params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(Xtr, ytr)
            log[side][s] = (_score(est, Xte, yte, kind), int(getattr(est, "n_iter_", 0)))
            if s == 0:
                models[side] = est
            return est

        def predict(side=side, fit=fit, X=None):
            if side not in models:
                fit(seed=0)
            m = models[side]
            X = Xte if X is None else X
            return m.predict_proba(X) if kind == "classifier" else m.predict(X)

        fit_fns[side], pred_fns[side] = fit, predict
    return fit_fns, pred_fns, models


def _float64_fns(pred_fns, Xte):
    """lean (issue 11/12): the prediction fns on the test rows as float64 (what most
    scikit-learn users pass, e.g. ``X / 255.0``; scikit-learn then runs dgemm), made
    once outside the timing."""
    X64 = np.ascontiguousarray(Xte, dtype=np.float64)
    return {side: (lambda f=f: f(X=X64)) for side, f in pred_fns.items()}


def _summary(log, sides):
    """The seeds every side fitted, each side's mean score and mean n_iter_ over them."""
    common = sorted(set.intersection(*(set(log[s]) for s in sides))) if sides else []
    score = {s: float(np.mean([log[s][k][0] for k in common])) for s in sides if common}
    n_iter = {s: float(np.mean([log[s][k][1] for k in common])) for s in sides if common}
    return common, score, n_iter


def suite_sklearn(*, threads=None, quick=False, reps=None, peers=None, data_root=None,
                  ours=None, cases=SKLEARN_CASES) -> list:
    """The suite's records (see the module docstring). ``ours``: (MLPClassifier,
    MLPRegressor) for the fastmlp side instead of ``fastmlp.sklearn``'s (the tests pass
    scikit-learn's own, so the plumbing runs without our estimators)."""
    from .harness import _all_cores, _defaults, detect_peers, thread_settings

    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    if not peers.get("sklearn", {}).get("available"):
        _log(f"  sklearn: suite skipped: scikit-learn "
             f"{peers.get('sklearn', {}).get('reason', 'not available')}")
        return []
    reps, _, warmup = _defaults("sklearn", quick, reps, None)
    skipped = {}
    if ours is None:
        ours, why = fastmlp_estimators()
        if ours is None:
            _log(f"  sklearn: WARNING: {why}: the fastmlp side is skipped, scikit-learn runs alone")
            skipped["fastmlp"] = why
    est_classes = {"sklearn": sklearn_estimators()}
    if ours is not None:
        est_classes = {"fastmlp": ours, **est_classes}
    results = []
    with thread_settings(threads, peers):
        for name, kind, params, score_name in cases:
            pred_case = "predict_proba" if kind == "classifier" else "predict"
            fit_wanted = case_wanted(f"fit {name}")
            pred_wanted = case_wanted(f"{pred_case} {name}")
            if not (fit_wanted or pred_wanted):
                continue
            p = dict(params, **(_QUICK_PARAMS.get(name, {}) if quick else {}))
            data = load_sklearn_data(name, quick=quick, data_root=data_root)
            Xtr, Xte = data[0], data[2]
            shape = f"{len(Xtr)}x{Xtr.shape[1]}"
            _log(f"  sklearn data {name}: {data[4]}, {len(Xtr)} train / {len(Xte)} test rows")
            log = {}
            fit_fns, pred_fns, _ = sklearn_sides(est_classes, kind, p, data, log)
            extra = {"dataset": name, "data": data[4], "params": {k: list(v) if isinstance(v, tuple)
                                                                 else v for k, v in p.items()},
                     "score_name": score_name, "samples": len(Xtr), "test_samples": len(Xte)}
            rec = _run_case(results, suite="sklearn", case=f"fit {name}", shape=shape,
                            unit="fit/s", scale=1.0, work=1.0, fns=fit_fns, reps=reps, target=0.0,
                            warmup=warmup, skipped=skipped, extra=extra)
            if rec is not None:
                seeds, score, n_iter = _summary(log, list(fit_fns))
                rec.update(seeds=seeds, score=score, n_iter=n_iter,
                           scores={s: {str(k): v[0] for k, v in log[s].items()} for s in log})
                _log("  sklearn " + ", ".join(f"{s} {score_name} {v:.4f} (n_iter {n_iter[s]:.1f})"
                                              for s, v in score.items()))
            _run_case(results, suite="sklearn", case=f"{pred_case} {name}",
                      shape=f"{len(Xte)}x{Xte.shape[1]}", unit="ksample/s", scale=1e3,
                      work=float(len(Xte)), fns=pred_fns, reps=reps, target=PREDICT_TARGET_S,
                      warmup=warmup, skipped=skipped, extra=extra)
            if Xte.dtype == np.float32 and case_wanted(f"{pred_case} {name} float64"):
                # lean (issue 11/12): the same prediction on float64 test rows
                _run_case(results, suite="sklearn", case=f"{pred_case} {name} float64",
                          shape=f"{len(Xte)}x{Xte.shape[1]}", unit="ksample/s", scale=1e3,
                          work=float(len(Xte)), fns=_float64_fns(pred_fns, Xte), reps=reps,
                          target=PREDICT_TARGET_S, warmup=warmup, skipped=skipped,
                          extra=dict(extra, input_dtype="float64"))
    return results
