"""fastmlp.sklearn's estimators in scikit-learn's machinery (issue 11): Pipeline,
GridSearchCV (n_jobs 1 and 2, joblib's process backend), cross_val_score, pickle,
clone, n_threads, inputs (float32 kept, sparse, NaN) and scikit-learn's errors."""
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is the optional 'sklearn' extra")
pytest.importorskip("scipy", reason="scipy is the optional 'sklearn' extra")

import scipy.sparse as sp  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=120, f=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    y = np.array(["x", "y", "z"])[np.argmax(X[:, :3], 1)]
    return X, y


def test_parameters_are_sklearns():
    """The same constructor parameters and defaults as scikit-learn's, plus n_threads."""
    ours = MLPClassifier().get_params()
    theirs = SkMLPClassifier().get_params()
    assert ours.pop("n_threads") is None
    assert ours == theirs


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_pipeline_gridsearch(n_jobs):
    """Inside a Pipeline under GridSearchCV, with n_jobs=2 in joblib's default process
    backend (the workers' OpenMP runtime must not hang)."""
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, random_state=0))
    gs = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=2,
                      n_jobs=n_jobs).fit(X, y)
    assert gs.best_params_["mlpclassifier__hidden_layer_sizes"] in [(4,), (8,)]
    assert gs.predict(X).shape == (len(X),)


def test_gridsearch_same_scores_any_n_jobs():
    X, y = _data()
    grid = {"alpha": [1e-4, 1e-1]}
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=10, random_state=0)
    s1 = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X, y).cv_results_["mean_test_score"]
    s2 = GridSearchCV(est, grid, cv=2, n_jobs=2).fit(X, y).cv_results_["mean_test_score"]
    np.testing.assert_array_equal(s1, s2)


def test_cross_val_score_regressor():
    X, _ = _data()
    y = X @ np.arange(1.0, 7.0)
    scores = cross_val_score(MLPRegressor(max_iter=30, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_pickle_clone_round_trip(solver):
    """A pickled estimator predicts identically and continues partial_fit identically
    (the optimizer state travels with it); clone gives an unfitted copy."""
    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=5,
                        random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    if solver != "lbfgs":
        est.partial_fit(X, y)
        back.partial_fit(X, y)
        for a, b in zip(est.coefs_, back.coefs_):
            np.testing.assert_array_equal(a, b)
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "coefs_")


def test_float32_and_float64_inputs():
    """coefs_ and outputs are float32 for float32 X; float64 X gives the model of its
    float32 conversion (converted once, then the same fused path)."""
    X, y = _data()
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X32, y)
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert all(c.shape == (a, b) for c, (a, b) in
               zip(est.coefs_, [(6, 5), (5, 3)]))  # scikit-learn's (n_in, n_out)
    assert est.predict_proba(X32).dtype == np.float32
    # float64 input: the same model as from its float32 conversion
    est64 = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(
        X32.astype(np.float64), y)
    for a, b in zip(est.coefs_, est64.coefs_):
        np.testing.assert_array_equal(a, b)


def test_sparse_input_matches_dense():
    """CSR/CSC X: scikit-learn's own sparse code, in float32 (not the fused path)."""
    X, y = _data()
    X[np.abs(X) < 0.8] = 0
    dense = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    for fmt in (sp.csr_matrix, sp.csc_matrix):
        est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(fmt(X), y)
        np.testing.assert_allclose(est.predict_proba(fmt(X)), dense.predict_proba(X),
                                   atol=1e-5)  # float32 rounding of 3 epochs: ~1e-7 each


def test_sample_weight_semantics():
    """sample_weight runs scikit-learn's code (float32): integer weights equal repeated
    rows to float32 rounding, and weights of ones equal no weights."""
    X, y = _data()
    w = np.random.default_rng(0).integers(0, 3, len(X))
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, random_state=0)
    a = MLPClassifier(**params).fit(X, y, sample_weight=w)
    b = MLPClassifier(**params).fit(np.repeat(X, w, 0), np.repeat(y, w))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)
    c = MLPClassifier(**params).fit(X, y, sample_weight=np.ones(len(X)))
    d = MLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(c.predict_proba(X), d.predict_proba(X), atol=1e-5)


def test_n_threads_same_result():
    """n_threads=1 and 2 give the same weights (the kernels are bitwise independent of
    the thread count) and leave fastmlp's thread count as it was."""
    X, y = _data(n=500)
    before = fastmlp.get_num_threads()
    a = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0, n_threads=1).fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0, n_threads=2).fit(X, y)
    assert fastmlp.get_num_threads() == before
    for p, q in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(p, q)


def test_multilabel_and_classes():
    X, _ = _data()
    Y = (X[:, :3] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, Y)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 3
    assert est.predict(X).shape == Y.shape
    Xb, yb = X, np.where(X[:, 0] > 0, 10, 3)
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(Xb, yb)
    assert list(est.classes_) == [3, 10] and est.predict_proba(Xb).shape == (len(Xb), 2)
    assert set(est.predict(Xb)) <= {3, 10}


@pytest.mark.parametrize("params, match", [
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (dict(hidden_layer_sizes=(5, -1)), "hidden_layer_sizes"),
    (dict(alpha=-1.0), "alpha"),
    (dict(batch_size=0), "batch_size"),
    (dict(solver="newton"), "solver"),
    (dict(n_threads=0), "n_threads"),
    (dict(learning_rate="cyclic"), "learning_rate"),
])
def test_bad_parameters_raise_sklearns_errors(params, match):
    """The same errors as scikit-learn's estimator (its parameter validation)."""
    X, y = _data()
    with pytest.raises(ValueError, match=match) as ours:
        MLPClassifier(**params).fit(X, y)
    if "n_threads" not in params:
        with pytest.raises(ValueError) as theirs:
            SkMLPClassifier(**params).fit(X, y)
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_nan_and_unknown_partial_fit_class():
    X, y = _data()
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier().fit(Xn, y)
    est = MLPClassifier(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=["x", "y", "z"])
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, np.where(y == "x", "w", y))
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=["x", "y", "z"])
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y)
