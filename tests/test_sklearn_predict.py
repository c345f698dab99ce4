"""fastmlp.sklearn's predict paths (lean, session 4): the one-call forward
(_core.infer_run) on float32 and float64 input, against scikit-learn's own forward
on the same weights (in float64)."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
import fastmlp  # noqa: E402
from fastmlp import _core  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkC, MLPRegressor as SkR  # noqa: E402
import warnings  # noqa: E402


def _fit(cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(max_iter=3, random_state=0, **kw).fit(X, y)


def _sk_twin(ours, sk_cls, X, y):
    """scikit-learn's estimator with our fitted weights in float64."""
    theirs = _fit(sk_cls, X, y, hidden_layer_sizes=ours.hidden_layer_sizes,
                  activation=ours.activation)
    theirs.coefs_ = [np.asarray(c, np.float64) for c in ours.coefs_]
    theirs.intercepts_ = [np.asarray(c, np.float64) for c in ours.intercepts_]
    return theirs


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("rows", [1, 2, 7, 31, 257, 3001])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_predict_proba_float32_and_float64_match_sklearn(rng, threads, n_classes, rows, activation):
    """Bound: float32 forward of a 2-layer net, inputs in [0, 1), weights of Glorot size:
    each output within 1e-5 absolute of scikit-learn's float64 probabilities (k * 2^-24
    relative per dot product of k <= 64 terms on values of magnitude <= ~5, through a
    softmax/logistic whose derivative is <= 1: < 64 * 6e-8 * 5 = 2e-5; x 0.5 because the
    lane sums are 16 partial sums of k/16 terms)."""
    X = rng.random((300, 23))
    y = rng.integers(0, n_classes, 300)
    ours = _fit(MLPClassifier, X, y, hidden_layer_sizes=(17,), activation=activation)
    theirs = _sk_twin(ours, SkC, X, y)
    Xt = rng.random((rows, 23))
    want = theirs.predict_proba(Xt)
    p64 = ours.predict_proba(Xt)
    p32 = ours.predict_proba(Xt.astype(np.float32))
    assert p64.shape == want.shape == p32.shape
    assert np.abs(p64 - want).max() <= 1e-5 and np.abs(p32 - want).max() <= 1e-5
    if rows <= _core.gemv_max_rows():
        assert np.array_equal(p64, p32)
    np.testing.assert_allclose(ours.predict_log_proba(Xt), np.log(p64), rtol=1e-6, atol=1e-30)
    pred = ours.predict(Xt)
    assert np.array_equal(pred, ours.classes_[np.argmax(p64, axis=1)] if n_classes > 2 else
                          ours.classes_[(p64[:, 1] > 0.5).astype(int)])


@pytest.mark.parametrize("rows", [1, 5, 111, 2000])
def test_regressor_predict_float64_matches_sklearn(rng, threads, rows):
    """Bound: as above without the output squashing: |y| <= ~10 here, 1e-4 absolute."""
    X = rng.random((200, 10))
    y = X @ rng.standard_normal((10, 2))
    ours = _fit(MLPRegressor, X, y, hidden_layer_sizes=(31, 9))
    theirs = _sk_twin(ours, SkR, X, y)
    Xt = rng.random((rows, 10))
    got, want = ours.predict(Xt), theirs.predict(Xt)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4
    assert np.abs(ours.predict(np.asfortranarray(Xt)) - want).max() <= 1e-4


def test_predict_rejects_bad_input_as_sklearn_does(rng):
    X = rng.random((50, 4))
    ours = _fit(MLPClassifier, X, rng.integers(0, 3, 50), hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="features"):
        ours.predict_proba(rng.random((3, 5)))
    bad = rng.random((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ours.predict(bad)
