"""log_softmax against its float64 twin: the shared suite (tests/row_softmax_suite.py,
which derives the tolerance) plus log_softmax's own cases."""
import numpy as np

from fastmlp import kernels
from row_softmax_suite import RowSoftmaxBackwardSuite, RowSoftmaxSuite


class TestLogSoftmax(RowSoftmaxSuite):
    name = "log_softmax"
    ATOL = 1e-12


def test_exp_sums_to_one_and_matches_softmax(rng):
    x = rng.standard_normal((50, 11)).astype(np.float32) * 4
    y = kernels.log_softmax(x)
    np.testing.assert_allclose(np.exp(y.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(y), kernels.softmax(x), rtol=2e-6)


class TestLogSoftmaxBackward(RowSoftmaxBackwardSuite):
    """log_softmax_backward: the shared backward suite (tests/row_softmax_suite.py derives its
    tolerance)."""
    name = "log_softmax"


def test_backward_of_nll_is_cross_entropys_gradient(rng):
    """log_softmax_backward(nll_loss's dinput, log_softmax(z)) is d cross_entropy / dz,
    softmax(z) - onehot (over N for "mean"): two float32 pipelines, each within a few u of
    exact for entries of magnitude <= 1 (cross_entropy's own bound is 32u): atol 64u."""
    z = (rng.standard_normal((40, 9)) * 2).astype(np.float32)
    t = rng.integers(0, 9, 40)
    y = kernels.log_softmax(z)
    dx = kernels.log_softmax_backward(kernels.nll_loss(y, t, reduction="sum")[1], y)
    np.testing.assert_allclose(dx, kernels.cross_entropy(z, t, reduction="sum")[1], rtol=0,
                               atol=64 * 2.0 ** -24)


# ------------------------------------------- F.log_softmax, nn.LogSoftmax (issue 10) --

from fastmlp import functional as F  # noqa: E402
from fastmlp import nn, reference  # noqa: E402
from fastmlp.autograd import Tensor  # noqa: E402
import pytest  # noqa: E402
from helpers import fd_grad  # noqa: E402


@pytest.mark.parametrize("shape,dim", [((6, 5), 1), ((6, 5), -1), ((6, 5), 0), ((2, 3, 4), 1),
                                       ((2, 3, 4), 0), ((7,), 0), ((3, 1), 1)])
def test_functional_any_dim_and_its_gradient(rng, shape, dim):
    """F.log_softmax along any dim (moved last and back): the forward within the kernel's
    bound (RowSoftmaxSuite: 1e-6 relative, 1e-12 absolute), the gradient of
    sum(G * log_softmax(x)) against central differences of the float64 twin (truncation
    ~eps**2, rounding ~1e-10; the float32 backward within ~C * 4u of the gradient, whose
    entries are <= ~|G| C): atol 1e-5."""
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    G = rng.standard_normal(shape).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    y = F.log_softmax(t, dim=dim)
    want = np.moveaxis(reference.log_softmax(np.moveaxis(x, dim, -1)), -1, dim)
    np.testing.assert_allclose(y.data, want, rtol=1e-6, atol=1e-12)
    assert y.data.flags.c_contiguous and y.shape == shape
    (y * Tensor(G)).sum().backward()

    def f(z):
        return float((G * np.moveaxis(reference.log_softmax(np.moveaxis(z, dim, -1)), -1, dim)).sum())

    np.testing.assert_allclose(t.grad, fd_grad(f, x), atol=1e-5)


def test_implicit_dim_warns_like_pytorch(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        y = F.log_softmax(x)
    np.testing.assert_array_equal(y.data, kernels.log_softmax(x))  # 2-D: dim 1
    with pytest.warns(UserWarning):
        y = F.log_softmax(rng.standard_normal((2, 3, 4)).astype(np.float32))  # 3-D: dim 0
    np.testing.assert_allclose(np.exp(y.data).sum(axis=0), 1.0, rtol=1e-6)


def test_module_method_and_bad_arguments(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    m = nn.LogSoftmax(dim=1)
    assert repr(m) == "LogSoftmax(dim=1)"
    np.testing.assert_array_equal(m(x).data, kernels.log_softmax(x))
    np.testing.assert_array_equal(Tensor(x).log_softmax(1).data, kernels.log_softmax(x))
    assert m.fused_role().kind == "log_softmax" and m.fused_role().spec == {"dim": 1}
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.log_softmax(x, dim=2)
    with pytest.raises(TypeError, match="dim"):
        F.log_softmax(x, dim=1.0)
    with pytest.raises(TypeError, match="dtype"):
        F.log_softmax(x, dim=1, dtype=np.float64)


def test_output_written_in_place_is_caught(rng):
    """The backward reads the output: an in-place write to it makes backward() refuse."""
    t = Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    y = F.log_softmax(t, dim=1)
    F.relu(y, inplace=True)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()


def test_nll_of_log_softmax_trains_like_cross_entropy(rng):
    """nn.Sequential(..., LogSoftmax) + NLLLoss and the logits + CrossEntropyLoss: the same
    gradient of the logits within the two float32 pipelines' bounds (cross_entropy's 32u
    on entries <= 1/N, log_softmax_backward's few u): atol 64u / N."""
    z = Tensor((rng.standard_normal((20, 6)) * 2).astype(np.float32), requires_grad=True)
    t = rng.integers(0, 6, 20)
    nn.NLLLoss()(nn.LogSoftmax(dim=1)(z), t).backward()
    g1 = z.grad
    z.grad = None
    nn.CrossEntropyLoss()(z, t).backward()
    np.testing.assert_allclose(g1, z.grad, rtol=0, atol=64 * 2.0 ** -24 / 20)
