"""Drop-in scikit-learn estimators (issue 11): :class:`MLPClassifier`, :class:`MLPRegressor`.

Change ``from sklearn.neural_network import MLPClassifier`` to
``from fastmlp.sklearn import MLPClassifier``: the same parameters, defaults, fitted
attributes, methods and stopping rules as scikit-learn's (>= 1.6), with the
``sgd``/``adam`` epochs in fastmlp's fused C++ epoch (GIL released) and ``lbfgs``'s
loss and gradient in one call over all rows. Needs scikit-learn and scipy
(``pip install 'fastmlp[sklearn]'``). See :mod:`fastmlp.sklearn._mlp` for what runs
where and how results differ (float32 arithmetic).
"""
try:
    import sklearn  # noqa: F401
    import scipy  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "fastmlp.sklearn needs scikit-learn and scipy: pip install 'fastmlp[sklearn]'") from e

from ._mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
