"""fastmlp.sklearn's predict input validation (skpredict, issue 11).

A 2-D float32/float64 ``numpy.ndarray`` with the fitted number of columns skips
scikit-learn's ``validate_data`` (``_FastMLPMixin._validated_as_is``); its finiteness
check runs in the forward (``_core.infer_run_checked``: the first layer's
pre-activations) and a failure calls ``validate_data``, which raises scikit-learn's
error. Every other input goes through ``validate_data`` as before.

The reference for every input is the path without the shortcut (``_validated_as_is``
patched to False: ``validate_data`` on every call, then ``_core.infer_run``): the same
exception type and message, the same warnings (category, text, file and line) and
bitwise the same outputs. Inputs: good arrays in C, Fortran and strided layouts, NaN /
inf / -inf at the first or last entry and both in either order (scikit-learn's message
depends on which it meets first in a contiguous array), finite values beyond float32,
wrong column counts, 0/1/3-D, empty, every other dtype family, byte-swapped floats,
np.matrix, ndarray subclasses, lists, sparse matrices, feature names, and
``assume_finite``. No tolerances: equality only. About 3 s.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import scipy.sparse as sp  # noqa: E402
import sklearn  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import _core  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor, _mlp  # noqa: E402
from helpers import same_bits  # noqa: E402

N_FEATURES = 4


class _Sub(np.ndarray):
    pass


def _fitted(kind, rng):
    X = rng.random((60, N_FEATURES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "regressor":
            return MLPRegressor(hidden_layer_sizes=(9,), max_iter=5, random_state=0).fit(
                X, X @ rng.standard_normal(N_FEATURES))
        n_classes = 2 if kind == "binary" else 3
        return MLPClassifier(hidden_layer_sizes=(9,), activation="tanh", max_iter=5,
                             random_state=0).fit(X, rng.integers(0, n_classes, 60))


def _with(X, pos, value):
    X = X.copy()
    X[pos] = value
    return X


def _inputs(rng):
    """{name: input} over the cases of the module docstring."""
    g64 = rng.random((7, N_FEATURES))
    g32 = g64.astype(np.float32)
    out = {}
    for tag, g in (("f64", g64), ("f32", g32)):
        out[f"{tag} C"] = g
        out[f"{tag} F"] = np.asfortranarray(g)
        out[f"{tag} strided cols"] = np.repeat(g, 2, axis=1)[:, ::2]
        out[f"{tag} strided rows"] = np.repeat(g, 2, axis=0)[::2]
        out[f"{tag} read-only"] = g.copy()
        out[f"{tag} read-only"].flags.writeable = False
        for vname, v in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)):
            for pos in ((0, 0), (6, 3), (3, 1)):
                bad = _with(g, pos, v)
                out[f"{tag} {vname} at {pos}"] = bad
                out[f"{tag} {vname} at {pos} F"] = np.asfortranarray(bad)
                out[f"{tag} {vname} at {pos} strided"] = np.repeat(bad, 2, axis=1)[:, ::2]
        both = _with(_with(g, (1, 0), np.inf), (5, 2), np.nan)
        out[f"{tag} inf then nan"] = both
        out[f"{tag} inf then nan F"] = np.asfortranarray(both)
        out[f"{tag} inf then nan strided"] = np.repeat(both, 2, axis=1)[:, ::2]
        out[f"{tag} nan then inf"] = _with(_with(g, (1, 0), np.nan), (5, 2), np.inf)
        out[f"{tag} all nan"] = np.full_like(g, np.nan)
        out[f"{tag} 5 features"] = np.ones((7, 5), g.dtype)
        out[f"{tag} 3 features"] = g[:, :3].copy()
        out[f"{tag} 5 features with nan"] = _with(np.ones((7, 5), g.dtype), (0, 0), np.nan)
        out[f"{tag} 1-D"] = g[0].copy()
        out[f"{tag} 3-D"] = g[None]
        out[f"{tag} 0 rows"] = g[:0]
        out[f"{tag} 0 features"] = np.ones((7, 0), g.dtype)
        out[f"{tag} scalar"] = g[0, 0]
        out[f"{tag} 0-D array"] = np.asarray(g[0, 0])
        out[f"{tag} byte-swapped"] = g.astype(g.dtype.newbyteorder(">"))
        out[f"{tag} byte-swapped nan"] = _with(g, (2, 2), np.nan).astype(g.dtype.newbyteorder(">"))
        out[f"{tag} matrix"] = np.asmatrix(g)
        out[f"{tag} subclass"] = g.view(_Sub)
        out[f"{tag} subclass nan"] = _with(g, (2, 2), np.nan).view(_Sub)
        out[f"{tag} csr"] = sp.csr_matrix(g)
        out[f"{tag} csc nan"] = sp.csc_matrix(_with(g, (2, 2), np.nan))
        out[f"{tag} coo"] = sp.coo_matrix(g)
    out["f64 beyond float32"] = _with(g64, (3, 3), 1e300)
    out["f64 beyond float32 F"] = np.asfortranarray(out["f64 beyond float32"])
    out["f32 near max"] = np.full((7, N_FEATURES), 3e38, np.float32)
    out["f64 denormal"] = _with(g64, (0, 1), 1e-310)
    out["f32 denormal"] = _with(g32, (0, 1), np.float32(1e-40))
    out["f16"] = g64.astype(np.float16)
    out["f16 nan"] = _with(g64, (0, 0), np.nan).astype(np.float16)
    out["longdouble"] = g64.astype(np.longdouble)
    out["int64"] = (g64 * 10).astype(np.int64)
    out["uint8"] = (g64 * 10).astype(np.uint8)
    out["bool"] = g64 > 0.5
    out["complex128"] = g64.astype(np.complex128)
    out["complex64 real"] = g32.astype(np.complex64)
    out["object floats"] = g64.astype(object)
    out["object nan"] = _with(g64, (0, 0), np.nan).astype(object)
    out["object strings"] = np.array([["a"] * N_FEATURES] * 3, dtype=object)
    out["unicode"] = np.array([["1.0"] * N_FEATURES] * 3)
    out["bytes"] = np.array([[b"1"] * N_FEATURES] * 3)
    out["list"] = g64.tolist()
    out["list nan"] = _with(g64, (0, 0), np.nan).tolist()
    out["list 1-D"] = g64[0].tolist()
    out["tuple"] = tuple(map(tuple, g64.tolist()))
    out["None"] = None
    out["string"] = "abc"
    return out


def _outcome(fn):
    """(result, (exception type, message) or None, warnings seen)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            result, exc = fn(), None
        except Exception as e:  # noqa: BLE001 - the type is compared
            result, exc = None, (type(e), str(e))
    return result, exc, [(w.category, str(w.message), w.filename, w.lineno) for w in seen]


def _same_result(a, b):
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return same_bits(a, b) if a.dtype == np.float32 else np.array_equal(a, b)


def _compare(est, X, methods, monkeypatch):
    for name in methods:
        fast = _outcome(lambda: getattr(est, name)(X))
        with monkeypatch.context() as m:
            m.setattr(_mlp._FastMLPMixin, "_validated_as_is", lambda self, X: False)
            ref = _outcome(lambda: getattr(est, name)(X))
        assert fast[1] == ref[1], name
        assert fast[2] == ref[2], name
        assert _same_result(fast[0], ref[0]), name


_METHODS = {"multiclass": ("predict", "predict_proba", "predict_log_proba"),
            "binary": ("predict", "predict_proba"), "regressor": ("predict",)}


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regressor"])
def test_fast_path_behaves_as_validate_data(rng, threads, kind, monkeypatch):
    est = _fitted(kind, rng)
    for case, X in _inputs(rng).items():
        try:
            _compare(est, X, _METHODS[kind], monkeypatch)
        except AssertionError as e:
            raise AssertionError(f"input {case!r}: {e}") from None


def test_fast_path_taken_exactly_for_plain_float_arrays(rng):
    """The shortcut's domain (a test that the fast path runs at all, and nowhere else)."""
    est = _fitted("multiclass", rng)
    taken = {case for case, X in _inputs(rng).items() if est._validated_as_is(X)}
    assert taken, "the fast path never ran"
    for case in taken:
        X = _inputs(rng)[case]
        assert type(X) is np.ndarray and X.ndim == 2 and X.dtype.isnative
        assert X.dtype in (np.float32, np.float64) and X.shape[1] == N_FEATURES and len(X)
    assert {"f64 C", "f32 F", "f64 strided rows", "f64 nan at (0, 0) strided",
            "f32 inf then nan", "f64 beyond float32"} <= taken


def test_feature_names_warnings_and_errors(rng, monkeypatch):
    """Fitted with names (what fit on a DataFrame stores), predicted with an ndarray:
    scikit-learn's warning, from both paths (the shortcut steps aside)."""
    est = _fitted("multiclass", rng)
    est.feature_names_in_ = np.array(["a", "b", "c", "d"], dtype=object)
    assert not est._validated_as_is(rng.random((3, N_FEATURES)))
    for X in (rng.random((3, N_FEATURES)), _with(rng.random((3, N_FEATURES)), (0, 0), np.nan),
              rng.random((3, 5)).astype(np.float32)):
        _compare(est, X, _METHODS["multiclass"], monkeypatch)
    _, _, seen = _outcome(lambda: est.predict(rng.random((3, N_FEATURES))))
    assert any("does not have valid feature names" in w[1] for w in seen)


def test_dataframe_input_goes_through_validate_data(rng, monkeypatch):
    """Fitted without names, predicted with a DataFrame: scikit-learn's warning."""
    pd = pytest.importorskip("pandas")
    est = _fitted("multiclass", rng)
    X = pd.DataFrame(rng.random((3, N_FEATURES)), columns=list("abcd"))
    assert not est._validated_as_is(X)
    _compare(est, X, _METHODS["multiclass"], monkeypatch)


def test_assume_finite_skips_the_check(rng, monkeypatch):
    est = _fitted("multiclass", rng)
    X = _with(rng.random((5, N_FEATURES)), (1, 1), np.nan)
    with sklearn.config_context(assume_finite=True):
        _compare(est, X, _METHODS["multiclass"], monkeypatch)
        p = est.predict_proba(X)
    assert np.isnan(p[1]).all() and np.isfinite(np.delete(p, 1, axis=0)).all()


def test_nan_message_is_sklearns(rng):
    est = _fitted("multiclass", rng)
    with pytest.raises(ValueError, match="Input X contains NaN.\nMLPClassifier does not accept"):
        est.predict_proba(_with(rng.random((5, N_FEATURES)), (4, 3), np.nan))
    with pytest.raises(ValueError, match=r"Input X contains infinity or a value too large for "
                                         r"dtype\('float32'\)\."):
        est.predict(_with(rng.random((5, N_FEATURES)), (0, 0), np.inf).astype(np.float32))


# --------------------------------------------------------------- the core check --
ACTS = ["relu", "tanh", "sigmoid", None]


def _plan(rng, sizes, act, head):
    ws = [np.ascontiguousarray(rng.uniform(-1, 1, (o, i)), dtype=np.float32)
          for i, o in zip(sizes[:-1], sizes[1:])]
    ws[0][:, 0] = 0.0  # a column of zeros: inf * 0 is NaN, still caught
    bs = [rng.uniform(-1, 1, o).astype(np.float32) for o in sizes[1:]]
    return _core.infer_plan(ws, bs, [act] * (len(ws) - 1) + [None], head)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infer_run_checked_bits_and_flag(rng, isa, threads, act, dtype):
    """infer_run_checked: infer_run's bits (float32 x: the first layer's activation moved
    after the check keeps the epilogue's bits; float64 x: the checked conversion rounds as
    the plain one) and finite == (x all finite), at row counts
    on both sides of gemv_max_rows() and, for float64, across conversion blocks."""
    g = _core.gemv_max_rows()
    for sizes, head in (((13, 9, 3), "softmax"), ((31, 5), None), ((784, 17, 4), "log_softmax")):
        plan = _plan(rng, sizes, act, head)
        for rows in (1, 2, g, g + 1, 257, 1400 if sizes[0] == 784 else 31):
            X = rng.uniform(-2, 2, (rows, sizes[0])).astype(dtype)
            want = _core.infer_run(plan, X)
            got, finite = _core.infer_run_checked(plan, X)
            assert finite and same_bits(got, want), (sizes, rows)
            for v in (np.nan, np.inf, -np.inf):
                i, j = rng.integers(rows), rng.integers(sizes[0])
                for col in (j, 0):  # 0: the feature whose weights are all zero
                    bad = _with(X, (i, col), v)
                    got, finite = _core.infer_run_checked(plan, bad)
                    assert not finite, (sizes, rows, v, col)
                    assert same_bits(np.delete(got, i, 0), np.delete(_core.infer_run(plan, bad), i, 0))


def test_infer_run_checked_bits_at_1_and_2_threads(rng, thread_count):
    plan = _plan(rng, (784, 33, 10), "relu", "softmax")
    for rows in (5, 1000, 3001):
        X = rng.random((rows, 784))
        thread_count(1)
        one = _core.infer_run_checked(plan, X)
        thread_count(2)
        two = _core.infer_run_checked(plan, X)
        assert one[1] and two[1] and same_bits(one[0], two[0])


def test_infer_run_checked_overflow(rng):
    """float32 x whose first layer overflows is reported too (the estimator then runs
    scikit-learn's check, which passes: test_fast_path_behaves_as_validate_data's "f32
    near max"); float64 x is checked itself, so finite doubles beyond float32 pass."""
    plan = _core.infer_plan([np.ones((3, 4), np.float32)], [np.zeros(3, np.float32)], [None])
    # 4 x 3e38 > float32's max 3.4e38 in every output; random weights might cancel
    _, finite = _core.infer_run_checked(plan, np.full((2, 4), 3e38, np.float32))
    assert not finite
    _, finite = _core.infer_run_checked(plan, np.full((2, 4), 1e300))
    assert finite
    plan = _plan(rng, (4, 3), None, None)
    with pytest.raises(TypeError):
        _core.infer_run_checked(None, np.ones((2, 4)))
    with pytest.raises(ValueError, match="x: expected shape"):
        _core.infer_run_checked(plan, np.ones((2, 5)))


@pytest.mark.parametrize("cls, method", [(MLPClassifier, "predict"), (MLPClassifier, "predict_proba"),
                                         (MLPClassifier, "predict_log_proba"),
                                         (MLPRegressor, "predict")])
def test_unfitted_raises_sklearns_error(cls, method):
    from sklearn.exceptions import NotFittedError
    from sklearn.neural_network import MLPClassifier as SkC, MLPRegressor as SkR
    sk = SkC if cls is MLPClassifier else SkR
    with pytest.raises(NotFittedError) as want:
        getattr(sk(), method)(np.ones((2, 3)))
    with pytest.raises(NotFittedError) as got:
        getattr(cls(), method)(np.ones((2, 3)))
    assert str(got.value) == str(want.value)


def test_plan_from_sklearn_layout(rng):
    """infer_plan(transpose=True) on (in, out) weights of any dtype/layout: the bits of a
    plan on the float32 transposed copies (NumPy's rounding), and later changes to the
    arrays are not seen."""
    for K, N in ((1, 1), (5, 3), (17, 33), (64, 100)):
        W = rng.uniform(-1, 1, (K, N))
        b = rng.uniform(-1, 1, N)
        X = rng.random((9, K)).astype(np.float32)
        want = _core.infer_run(_core.infer_plan(
            [np.ascontiguousarray(W.T, dtype=np.float32)], [b.astype(np.float32)], ["tanh"]), X)
        for Wl in (W.copy(), W.astype(np.float32), np.asfortranarray(W).copy(order="F"),
                   np.repeat(W, 2, axis=1)[:, ::2], W.tolist()):
            plan = _core.infer_plan([Wl], [b], ["tanh"], transpose=True)
            assert same_bits(_core.infer_run(plan, X), want)
            if isinstance(Wl, np.ndarray):
                Wl[...] = 0
                assert same_bits(_core.infer_run(plan, X), want)
