"""softmax against its float64 twin: the shared suite (tests/row_softmax_suite.py, which
derives the tolerance) plus softmax's own cases."""
import numpy as np

from fastmlp import kernels
from row_softmax_suite import RowSoftmaxBackwardSuite, RowSoftmaxSuite


class TestSoftmax(RowSoftmaxSuite):
    name = "softmax"


def test_rows_sum_to_one(rng):
    """Each of C outputs is within 2**-24 relative of exact, so the row sum is within
    C * 2**-24 of 1."""
    x = rng.standard_normal((50, 11)).astype(np.float32) * 4
    y = kernels.softmax(x)
    np.testing.assert_allclose(y.astype(np.float64).sum(axis=1), 1.0, rtol=11 * 2.0 ** -24)
    assert (y >= 0).all()


class TestSoftmaxBackward(RowSoftmaxBackwardSuite):
    """softmax_backward: the shared backward suite (tests/row_softmax_suite.py derives its
    tolerance)."""
    name = "softmax"


def test_backward_of_a_constant_gradient_is_zero(rng):
    """softmax's outputs sum to 1, so a gradient constant along a row has no effect:
    softmax_backward(c, y) = y * (c - c * sum(y)), with |1 - sum(y)| <= C u (above): within
    |c| C u y of 0; atol |c| 2 C u (2x margin)."""
    y = kernels.softmax((rng.standard_normal((50, 11)) * 4).astype(np.float32))
    dx = kernels.softmax_backward(np.full_like(y, 3.0), y)
    np.testing.assert_allclose(dx, 0.0, atol=3.0 * 2 * 11 * 2.0 ** -24)


# ----------------------------------------------------- F.softmax, nn.Softmax (issue 10) --

from fastmlp import functional as F  # noqa: E402
from fastmlp import nn, reference  # noqa: E402
from fastmlp.autograd import Tensor  # noqa: E402
import pytest  # noqa: E402
from helpers import fd_grad  # noqa: E402


@pytest.mark.parametrize("shape,dim", [((6, 5), 1), ((6, 5), 0), ((2, 3, 4), 2), ((2, 3, 4), -2),
                                       ((7,), 0), ((), 0)])
def test_functional_any_dim_and_its_gradient(rng, shape, dim):
    """F.softmax along any dim (and a 0-d input: 1): the forward within 1e-6 relative
    (RowSoftmaxSuite), the gradient of sum(G * softmax(x)) against central differences of
    the float64 twin (error ~1e-10; float32 backward within ~C * 4u of entries <= |G|):
    atol 1e-6."""
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    G = rng.standard_normal(shape).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    y = t.softmax(dim)

    def ref(z):
        z = np.asarray(z, np.float64)
        if z.ndim == 0:
            return np.ones(())
        return np.moveaxis(reference.softmax(np.moveaxis(z, dim, -1)), -1, dim)

    np.testing.assert_allclose(y.data, ref(x), rtol=1e-6)
    assert y.shape == shape
    (y * Tensor(G)).sum().backward()
    np.testing.assert_allclose(t.grad, fd_grad(lambda z: float((G * ref(z)).sum()), x), atol=1e-6)


def test_module_and_implicit_dim(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    m = nn.Softmax()
    assert repr(m) == "Softmax(dim=None)"
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        np.testing.assert_array_equal(m(x).data, kernels.softmax(x))
    role = nn.Softmax(dim=0).fused_role()  # the one-call forward's head, not the fused epoch's
    assert role.kind == "softmax" and role.spec == {"dim": 0} and "fused epoch" in role.why
