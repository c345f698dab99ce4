"""scikit-learn's estimator checks over fastmlp.sklearn's estimators (issue 11).

Every check of ``parametrize_with_checks`` runs; the ones that cannot hold are marked
expected-to-fail with their reasons from the estimators' module
(``fastmlp.sklearn._mlp.expected_failed_checks``; scikit-learn >= 1.6 replaced the
``_xfail_checks`` tag by this argument)."""
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is the optional 'sklearn' extra")
pytest.importorskip("scipy", reason="scipy is the optional 'sklearn' extra")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from fastmlp.sklearn._mlp import expected_failed_checks  # noqa: E402


@parametrize_with_checks([MLPClassifier(max_iter=100, random_state=0),
                          MLPRegressor(max_iter=100, random_state=0)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
