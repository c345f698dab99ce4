"""Tests of fastmlp.reference, the NumPy float64 specification of the kernels.

Three kinds of evidence, each independent of the code under test:
  * central finite differences for every gradient,
  * direct transcriptions (index loops, PyTorch's SGD pseudo-code),
  * PyTorch itself (float64, autograd) when it is installed.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmlp import reference as ref
from helpers import fd_grad

# Central differences in float64 with step H: truncation error ~H^2, rounding
# error ~1e-16/H, so gradients agree to ~1e-9; the tolerances leave margin.
H = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-8
# Against PyTorch in float64: same formulas, different summation orders.
TORCH_RTOL, TORCH_ATOL = 1e-12, 1e-13


def scalar(loss):
    """Reduce a loss to the scalar whose gradient the kernels return."""
    return float(np.sum(loss))


# ------------------------------------------------------------- fixtures --

CE_SHAPES = [(1, 2), (7, 11), (13, 2), (5, 3)]
REDUCTIONS = ["none", "mean", "sum"]


def ce_case(N, C, *, seed, weighted, ignore, ignore_index=-100):
    """Random logits/targets; with ignore, rows i % 3 == 2 get ignore_index (none when N < 3)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(N, C))
    target = rng.integers(0, C, size=N)
    if ignore:
        target[np.arange(N) % 3 == 2] = ignore_index
    weight = rng.uniform(0.2, 3.0, size=C) if weighted else None
    return logits, target, weight


# ------------------------------------------------------------------ GEMM --


def sgemm_loops(a, b, c, alpha, beta, trans_a, trans_b, bias, relu):
    """Literal index-loop transcription of the sgemm contract (tiny shapes only)."""
    M = a.shape[1] if trans_a else a.shape[0]
    K = a.shape[0] if trans_a else a.shape[1]
    N = b.shape[0] if trans_b else b.shape[1]
    out = np.zeros((M, N))
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):
                aik = a[k, i] if trans_a else a[i, k]
                bkj = b[j, k] if trans_b else b[k, j]
                acc += aik * bkj
            v = alpha * acc
            if c is not None and beta != 0:
                v += beta * c[i, j]
            if bias is not None:
                v += bias[j]
            if relu:
                v = max(v, 0.0)
            out[i, j] = v
    return out


GEMM_SHAPES = [(1, 1, 1), (2, 3, 5), (7, 1, 3), (3, 13, 2), (0, 3, 2), (3, 0, 2), (3, 2, 0)]
GEMM_SCALARS = [(1.0, 0.0), (1.0, 1.0), (-0.5, 2.0), (0.0, 1.5), (2.5, 0.0)]


@pytest.mark.parametrize("M,N,K", GEMM_SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("alpha,beta", GEMM_SCALARS)
def test_sgemm_matches_index_loops(M, N, K, trans_a, trans_b, alpha, beta):
    rng = np.random.default_rng(M * 100 + N * 10 + K)
    a = rng.normal(size=(K, M) if trans_a else (M, K))
    b = rng.normal(size=(N, K) if trans_b else (K, N))
    c = rng.normal(size=(M, N))
    bias = rng.normal(size=N)
    for use_bias, relu in itertools.product([False, True], repeat=2):
        bb = bias if use_bias else None
        got = ref.sgemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
                        bias=bb, activation="relu" if relu else None)
        want = sgemm_loops(a, b, c, alpha, beta, trans_a, trans_b, bb, relu)
        assert got.shape == (M, N) and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(M=st.integers(0, 9), N=st.integers(0, 9), K=st.integers(0, 9),
       trans_a=st.booleans(), trans_b=st.booleans(), relu=st.booleans(),
       alpha=st.floats(-3, 3), beta=st.floats(-3, 3), seed=st.integers(0, 2**32 - 1))
def test_sgemm_matches_einsum(M, N, K, trans_a, trans_b, relu, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(K, M) if trans_a else (M, K))
    b = rng.normal(size=(N, K) if trans_b else (K, N))
    c = rng.normal(size=(M, N))
    bias = rng.normal(size=N)
    prod = np.einsum("ki,kj->ij" if trans_a else "ik,kj->ij", a, b.T if trans_b else b)
    want = alpha * prod + beta * c + bias
    if relu:
        want = np.maximum(want, 0)
    got = ref.sgemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
                    bias=bias, activation="relu" if relu else None)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_sgemm_beta_zero_never_reads_c():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 13)), rng.normal(size=(13, 5))
    for fill in (np.nan, np.inf, -np.inf):
        c = np.full((7, 5), fill)
        got = ref.sgemm(a, b, c, alpha=1.0, beta=0.0, bias=np.ones(5))
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, a @ b + 1.0, rtol=1e-13, atol=1e-13)
    # K == 0 and beta == 0: only the bias remains, even with NaN in C.
    got = ref.sgemm(np.zeros((3, 0)), np.zeros((0, 2)), np.full((3, 2), np.nan),
                    beta=0.0, bias=np.array([1.0, -2.0]))
    np.testing.assert_array_equal(got, [[1.0, -2.0]] * 3)


def test_sgemm_c_none_ignores_beta_and_c_is_not_written():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(ref.sgemm(a, b, None, beta=5.0), a @ b, rtol=1e-14)
    c = rng.normal(size=(3, 2))
    c_before = c.copy()
    out = ref.sgemm(a, b, c, beta=1.0)
    np.testing.assert_array_equal(c, c_before)
    assert out is not c


def test_sgemm_k_zero_gives_beta_c_plus_bias():
    c = np.arange(6.0).reshape(2, 3)
    bias = np.array([1.0, 2.0, 3.0])
    got = ref.sgemm(np.zeros((2, 0)), np.zeros((0, 3)), c, alpha=7.0, beta=-2.0, bias=bias)
    np.testing.assert_array_equal(got, -2.0 * c + bias)
    got = ref.sgemm(np.zeros((0, 2)), np.zeros((3, 0)), c, beta=1.0, trans_a=True, trans_b=True)
    np.testing.assert_array_equal(got, c)


def test_sgemm_float32_inputs_give_float64():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 7)).astype(np.float32)
    b = rng.normal(size=(7, 3)).astype(np.float32)
    got = ref.sgemm(a, b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-14)


@pytest.mark.parametrize("kwargs,match", [
    (dict(a=np.zeros(3), b=np.zeros((3, 2))), r"\ba\b.*2-D"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2, 1))), r"\bb\b.*2-D"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((4, 2))), r"\bb\b.*\(3, 2\)"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2)), trans_a=True), r"\bb\b.*\(2, 2\)"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2)), trans_b=True), r"\bb\b.*\(2, 3\)"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2)), c=np.zeros((2, 3))), r"\bc\b.*\(2, 2\)"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2)), c=np.zeros((2, 3)), beta=0.0), r"\bc\b"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2)), bias=np.zeros(3)), r"\bbias\b.*\(2,\)"),
    (dict(a=np.zeros((2, 3)), b=np.zeros((3, 2)), bias=np.zeros((1, 2))), r"\bbias\b"),
])
def test_sgemm_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ref.sgemm(**kwargs)


# ------------------------------------------------------------------ ReLU --


def away_from_zero(rng, shape):
    """Values with |x| in [0.1, 2]: finite differences never cross the kink."""
    return rng.uniform(0.1, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("shape", [(1,), (7, 13), (2, 3, 5)])
def test_relu_forward_backward_finite_differences(shape):
    rng = np.random.default_rng(sum(shape))
    x = away_from_zero(rng, shape)
    dout = rng.normal(size=shape)
    y = ref.relu_forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0.0))
    dx = ref.relu_backward(dout, y)
    num = fd_grad(lambda z: float(np.sum(dout * ref.relu_forward(z))), x, eps=H)
    np.testing.assert_allclose(dx, num, rtol=FD_RTOL, atol=FD_ATOL)


def test_relu_special_values():
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan])
    y = ref.relu_forward(x)
    np.testing.assert_array_equal(y[:6], [0, 0, 0, 0, 2, np.inf])
    assert np.isnan(y[6])  # NaN propagates, like torch.relu
    # Gradient passes only where the output is strictly positive.
    dx = ref.relu_backward(np.full(6, 3.0), y[:6])
    np.testing.assert_array_equal(dx, [0, 0, 0, 0, 3, 3])
    assert ref.relu_forward(np.zeros((0, 4))).shape == (0, 4)


def test_relu_backward_validation():
    with pytest.raises(ValueError, match=r"\bout\b"):
        ref.relu_backward(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("M,N", [(1, 1), (7, 13), (13, 2), (0, 3)])
def test_bias_grad_is_column_sum(M, N):
    rng = np.random.default_rng(M + N)
    dout = rng.normal(size=(M, N))
    want = np.array([sum(dout[i, j] for i in range(M)) for j in range(N)], dtype=np.float64)
    got = ref.bias_grad(dout)
    assert got.shape == (N,)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    # It is the gradient of sum(dout * (x + bias)) w.r.t. bias.
    x = rng.normal(size=(M, N))
    num = fd_grad(lambda bb: float(np.sum(dout * (x + bb[None, :]))), rng.normal(size=N), eps=H)
    np.testing.assert_allclose(got, num, rtol=FD_RTOL, atol=FD_ATOL)


def test_bias_grad_validation():
    with pytest.raises(ValueError, match=r"\bdout\b.*2-D"):
        ref.bias_grad(np.zeros(5))


# --------------------------------------------------------------- softmax --


def test_softmax_is_stable_and_normalised():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 11)) * 50 + 1000.0  # exp would overflow without the shift
    p = ref.softmax(x)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    naive = np.exp(x - 1000.0) / np.exp(x - 1000.0).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, naive, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(ref.log_softmax(np.zeros((2, 5))), np.full((2, 5), -math.log(5)))


# --------------------------------------------------------- cross-entropy --


@pytest.mark.parametrize("N,C", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_finite_differences(N, C, weighted, ignore, label_smoothing, reduction):
    logits, target, weight = ce_case(N, C, seed=N * C, weighted=weighted, ignore=ignore)
    kw = dict(weight=weight, label_smoothing=label_smoothing, reduction=reduction)
    loss, grad = ref.cross_entropy(logits, target, **kw)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == (N,) and loss.dtype == np.float64
    else:
        assert type(loss) is float
    assert grad.shape == (N, C) and grad.dtype == np.float64
    num = fd_grad(lambda z: scalar(ref.cross_entropy(z, target, **kw)[0]), logits, eps=H)
    np.testing.assert_allclose(grad, num, rtol=FD_RTOL, atol=FD_ATOL)
    ignored = target == -100
    assert (grad[ignored] == 0).all()
    if reduction == "none":
        assert (loss[ignored] == 0).all()


def test_cross_entropy_uniform_logits_give_log_c():
    for C in (2, 11):
        loss, grad = ref.cross_entropy(np.full((7, C), 3.25), np.arange(7) % C)
        assert loss == pytest.approx(math.log(C), rel=1e-14)
        # softmax is 1/C everywhere; the gradient of the mean is (p - onehot) / N
        want = np.full((7, C), 1.0 / C)
        want[np.arange(7), np.arange(7) % C] -= 1.0
        np.testing.assert_allclose(grad, want / 7, rtol=1e-13, atol=1e-16)
        # label smoothing does not change it: every class costs log C
        loss, _ = ref.cross_entropy(np.zeros((3, C)), [0, 1, 0], label_smoothing=0.3)
        assert loss == pytest.approx(math.log(C), rel=1e-14)


def test_cross_entropy_hand_computed_two_classes():
    # logits (0, log 3): p = (1/4, 3/4)
    logits = np.array([[0.0, math.log(3.0)]])
    loss, grad = ref.cross_entropy(logits, [1])
    assert loss == pytest.approx(-math.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.25, -0.25]], rtol=1e-14)
    # eps = 0.5: 0.5 * -log(3/4) + 0.25 * (-log(1/4) - log(3/4))
    loss, _ = ref.cross_entropy(logits, [1], label_smoothing=0.5)
    want = 0.5 * -math.log(0.75) + 0.25 * (-math.log(0.25) - math.log(0.75))
    assert loss == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_all_rows_ignored(label_smoothing, weighted):
    logits, _, weight = ce_case(5, 3, seed=5, weighted=weighted, ignore=False)
    target = np.full(5, -100)
    kw = dict(weight=weight, label_smoothing=label_smoothing)
    loss, grad = ref.cross_entropy(logits, target, **kw)
    assert math.isnan(loss)  # 0 / 0, as PyTorch
    np.testing.assert_array_equal(grad, 0.0)  # PyTorch's gradient here is 0, not nan
    loss, grad = ref.cross_entropy(logits, target, reduction="sum", **kw)
    assert loss == 0.0
    np.testing.assert_array_equal(grad, 0.0)
    loss, grad = ref.cross_entropy(logits, target, reduction="none", **kw)
    np.testing.assert_array_equal(loss, 0.0)


def test_cross_entropy_no_rows():
    logits, target = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    loss, grad = ref.cross_entropy(logits, target)
    assert math.isnan(loss) and grad.shape == (0, 4)
    assert ref.cross_entropy(logits, target, reduction="sum")[0] == 0.0
    assert ref.cross_entropy(logits, target, reduction="none")[0].shape == (0,)


def test_cross_entropy_weighted_mean_divides_by_target_weights():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(4, 3))
    target = np.array([0, 2, -100, 2])
    weight = np.array([0.5, 7.0, 2.0])
    per_row, _ = ref.cross_entropy(logits, target, weight=weight, reduction="none")
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    want_rows = [-0.5 * logp[0, 0], -2.0 * logp[1, 2], 0.0, -2.0 * logp[3, 2]]
    np.testing.assert_allclose(per_row, want_rows, rtol=1e-14)
    mean, _ = ref.cross_entropy(logits, target, weight=weight)
    assert mean == pytest.approx(sum(want_rows) / (0.5 + 2.0 + 2.0), rel=1e-14)
    assert mean != pytest.approx(sum(want_rows) / 3)  # not the row count
    # Scaling every weight leaves the mean unchanged (it is a weighted average).
    mean10, _ = ref.cross_entropy(logits, target, weight=10 * weight)
    assert mean10 == pytest.approx(mean, rel=1e-14)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_zero_total_target_weight(label_smoothing):
    # Every kept target's class weighs 0: the weighted mean is undefined -> nan,
    # nan gradients on kept rows, 0 on ignored rows (PyTorch's 0/0).
    logits = np.random.default_rng(13).normal(size=(3, 4))
    weight = np.array([0.0, 1.0, 2.0, 3.0])
    target = np.array([0, -100, 0])
    loss, grad = ref.cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing)
    assert math.isnan(loss)
    assert np.isnan(grad[[0, 2]]).all()
    np.testing.assert_array_equal(grad[1], 0.0)
    # "sum" is well defined: only the smoothing term remains.
    loss, _ = ref.cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing,
                                reduction="sum")
    logp = ref.log_softmax(logits)
    want = label_smoothing / 4 * -(logp[[0, 2]] * weight).sum()
    assert loss == pytest.approx(want, rel=1e-13, abs=0)


def test_cross_entropy_ignore_index_may_be_a_class():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(6, 4))
    target = np.array([1, 0, 1, 3, 2, 1])
    loss, grad = ref.cross_entropy(logits, target, ignore_index=1)
    keep = target != 1
    loss_kept, grad_kept = ref.cross_entropy(logits[keep], target[keep])
    assert loss == pytest.approx(loss_kept, rel=1e-14)
    np.testing.assert_allclose(grad[keep], grad_kept, rtol=1e-14)
    np.testing.assert_array_equal(grad[~keep], 0.0)


def test_cross_entropy_accepts_float32_and_any_integer_targets():
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(7, 11))
    target = rng.integers(0, 11, size=7)
    want = ref.cross_entropy(logits.astype(np.float32).astype(np.float64), target)
    for tdtype in (np.int32, np.uint8, np.int64):
        got = ref.cross_entropy(logits.astype(np.float32), target.astype(tdtype))
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1], want[1])
    got = ref.cross_entropy(logits.tolist(), target.tolist())
    assert got[0] == ref.cross_entropy(logits, target)[0]


@pytest.mark.parametrize("kwargs,match", [
    (dict(logits=np.zeros(3), target=np.zeros(3, int)), r"\blogits\b.*2-D"),
    (dict(logits=np.zeros((2, 0)), target=np.zeros(2, int)), r"\blogits\b"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros(3, int)), r"\btarget\b.*\(2,\)"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros((2, 1), int)), r"\btarget\b"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros(2)), r"\btarget\b.*integer"),
    (dict(logits=np.zeros((2, 3)), target=np.array([0, 3])), r"\btarget\b.*\b3\b"),
    (dict(logits=np.zeros((2, 3)), target=np.array([-1, 0])), r"\btarget\b.*-1\b"),
    (dict(logits=np.zeros((2, 3)), target=np.array([-100, 0]), ignore_index=-1),
     r"\btarget\b.*-100\b"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros(2, int), weight=np.ones(2)),
     r"\bweight\b.*\(3,\)"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros(2, int), label_smoothing=-0.1),
     r"label_smoothing"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros(2, int), label_smoothing=1.5),
     r"label_smoothing"),
    (dict(logits=np.zeros((2, 3)), target=np.zeros(2, int), reduction="avg"), r"reduction"),
])
def test_cross_entropy_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ref.cross_entropy(**kwargs)


# ------------------------------------------------------------------- MSE --


@pytest.mark.parametrize("shape", [(1,), (7, 13), (2, 3, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_finite_differences(shape, reduction):
    rng = np.random.default_rng(sum(shape) + len(reduction))
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    loss, grad = ref.mse_loss(pred, target, reduction=reduction)
    diff = pred - target
    if reduction == "none":
        assert loss.shape == shape
        np.testing.assert_allclose(loss, diff ** 2, rtol=1e-15)
    else:
        assert type(loss) is float
        want = np.sum(diff ** 2) / (diff.size if reduction == "mean" else 1)
        assert loss == pytest.approx(want, rel=1e-14)
    assert grad.shape == shape
    num = fd_grad(lambda z: scalar(ref.mse_loss(z, target, reduction=reduction)[0]), pred, eps=H)
    np.testing.assert_allclose(grad, num, rtol=FD_RTOL, atol=FD_ATOL)


def test_mse_loss_empty_and_validation():
    loss, grad = ref.mse_loss(np.zeros((0, 3)), np.zeros((0, 3)))
    assert math.isnan(loss) and grad.shape == (0, 3)  # mean of nothing, as PyTorch
    assert ref.mse_loss(np.zeros(0), np.zeros(0), reduction="sum")[0] == 0.0
    with pytest.raises(ValueError, match=r"\btarget\b"):
        ref.mse_loss(np.zeros((3, 1)), np.zeros(3))  # would broadcast in PyTorch
    with pytest.raises(ValueError, match=r"reduction"):
        ref.mse_loss(np.zeros(3), np.zeros(3), reduction="max")


# ------------------------------------------------------------------- SGD --


def pytorch_sgd_transcription(params, grads_per_step, *, lr, momentum, dampening,
                              weight_decay, nesterov, maximize):
    """torch.optim.SGD's documented algorithm, element by element in plain Python.

    params: list of floats; grads_per_step: list of lists of floats.
    Returns the parameter values after every step.
    """
    params = list(params)
    bufs = [None] * len(params)
    history = []
    for grads in grads_per_step:
        for i, grad in enumerate(grads):
            g = -grad if maximize else grad
            if weight_decay != 0:
                g = g + weight_decay * params[i]
            if momentum != 0:
                if bufs[i] is None:  # first step: the buffer is the gradient, undamped
                    bufs[i] = g
                else:
                    bufs[i] = momentum * bufs[i] + (1 - dampening) * g
                if nesterov:
                    g = g + momentum * bufs[i]
                else:
                    g = bufs[i]
            params[i] = params[i] - lr * g
        history.append(list(params))
    return history


SGD_OPTIONS = [
    dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n, maximize=mx)
    for m, d, wd, n, mx in itertools.product([0.0, 0.9], [0.0, 0.3], [0.0, 0.01],
                                             [False, True], [False, True])
    if not (n and (m == 0 or d != 0))
]


def run_reference_sgd(param0, grads_per_step, lr, opts):
    param = np.array(param0, dtype=np.float64)
    buf = np.zeros_like(param) if opts["momentum"] != 0 else None
    history = []
    for step, grad in enumerate(grads_per_step):
        assert ref.sgd_update(param, grad, buf, lr=lr, first_step=step == 0, **opts) is None
        history.append(param.copy())
    return history


@pytest.mark.parametrize("opts", SGD_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_trajectory_matches_transcription(opts):
    rng = np.random.default_rng(9)
    param0 = rng.normal(size=(7, 13))
    grads = [rng.normal(size=(7, 13)) for _ in range(6)]
    got = run_reference_sgd(param0, grads, 0.05, opts)
    want = pytorch_sgd_transcription(param0.ravel().tolist(), [g.ravel().tolist() for g in grads],
                                     lr=0.05, **opts)
    for step in range(6):
        np.testing.assert_allclose(got[step].ravel(), want[step], rtol=1e-14, atol=1e-15)


def test_sgd_first_step_buffer_is_undamped_gradient():
    param, buf = np.array([1.0, -2.0]), np.array([123.0, 456.0])  # stale values are ignored
    ref.sgd_update(param, np.array([0.5, 1.0]), buf, lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_array_equal(buf, [0.5, 1.0])
    np.testing.assert_allclose(param, [0.95, -2.1], rtol=1e-15)
    # second step: buf = 0.9 * buf + (1 - 0.5) * g
    ref.sgd_update(param, np.array([1.0, 1.0]), buf, lr=0.1, momentum=0.9, dampening=0.5,
                   first_step=False)
    np.testing.assert_allclose(buf, [0.45 + 0.5, 0.9 + 0.5], rtol=1e-15)


def test_sgd_plain_step_and_dtypes():
    param = np.array([1.0, 2.0], dtype=np.float32)
    grad = np.array([0.5, -0.5], dtype=np.float32)
    ref.sgd_update(param, grad, lr=0.1)
    assert param.dtype == np.float32
    np.testing.assert_allclose(param, [0.95, 2.05], rtol=1e-7)
    unused = np.full(2, 7.0)
    p64 = np.array([1.0, 2.0])
    ref.sgd_update(p64, np.array([1.0, 1.0]), unused, lr=1.0)  # momentum 0: buffer untouched
    np.testing.assert_array_equal(unused, 7.0)
    np.testing.assert_array_equal(p64, [0.0, 1.0])


@pytest.mark.parametrize("args,kwargs,match", [
    ((np.zeros(3), np.zeros(4)), dict(lr=0.1), r"\bgrad\b"),
    ((np.zeros(3), np.zeros(3)), dict(lr=0.1, momentum=0.9), r"momentum_buffer"),
    ((np.zeros(3), np.zeros(3), np.zeros(2)), dict(lr=0.1, momentum=0.9), r"momentum_buffer"),
    ((np.zeros(3), np.zeros(3), np.zeros(3)), dict(lr=0.1, nesterov=True), r"nesterov"),
    ((np.zeros(3), np.zeros(3), np.zeros(3)),
     dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), r"nesterov"),
    (([0.0, 0.0], np.zeros(2)), dict(lr=0.1), r"\bparam\b"),
])
def test_sgd_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ref.sgd_update(*args, **kwargs)


# ------------------------------------------------------ against PyTorch --


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    return torch


@pytest.mark.parametrize("N,C", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(torch, N, C, weighted, ignore, label_smoothing, reduction):
    logits, target, weight = ce_case(N, C, seed=N + C, weighted=weighted, ignore=ignore)
    loss, grad = ref.cross_entropy(logits, target, weight=weight,
                                   label_smoothing=label_smoothing, reduction=reduction)
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(
        x, torch.tensor(target, dtype=torch.int64),
        weight=None if weight is None else torch.tensor(weight, dtype=torch.float64),
        ignore_index=-100, label_smoothing=label_smoothing, reduction=reduction)
    tl.sum().backward()
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)


CE_EDGE_CASES = [(case, weighted) for case in ("all_ignored", "no_rows", "ignore_is_class")
                 for weighted in (False, True)] + [("zero_weight_targets", True)]


@pytest.mark.parametrize("case,weighted", CE_EDGE_CASES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_edge_cases_match_torch(torch, case, label_smoothing, weighted, reduction):
    rng = np.random.default_rng(10)
    C, ignore_index = 4, -100
    logits = rng.normal(size=(5, C))
    weight = rng.uniform(0.5, 2.0, size=C) if weighted else None
    if case == "all_ignored":
        target = np.full(5, -100)
    elif case == "no_rows":
        logits, target = logits[:0], np.zeros(0, dtype=np.int64)
    elif case == "ignore_is_class":
        target, ignore_index = np.array([2, 0, 2, 3, 1]), 2
    else:  # every kept target has weight 0: the mean's denominator is 0
        weight[1] = 0.0
        target = np.array([1, -100, 1, 1, -100])
    loss, grad = ref.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index,
                                   label_smoothing=label_smoothing, reduction=reduction)
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(
        x, torch.tensor(target, dtype=torch.int64),
        weight=None if weight is None else torch.tensor(weight, dtype=torch.float64),
        ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)
    tl.sum().backward()
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL,
                               equal_nan=True)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL,
                               equal_nan=True)


@pytest.mark.parametrize("shape", [(1,), (7, 13), (2, 3, 5), (0, 3)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(torch, shape, reduction):
    rng = np.random.default_rng(11)
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    loss, grad = ref.mse_loss(pred, target, reduction=reduction)
    x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    tl = torch.nn.functional.mse_loss(x, torch.tensor(target), reduction=reduction)
    tl.sum().backward()
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL,
                               equal_nan=True)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)


@pytest.mark.parametrize("opts", SGD_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("foreach", [False, True])
def test_sgd_trajectory_matches_torch(torch, opts, foreach):
    rng = np.random.default_rng(12)
    shapes = [(7, 13), (11,)]
    params0 = [rng.normal(size=s) for s in shapes]
    grads = [[rng.normal(size=s) for s in shapes] for _ in range(6)]
    lr = 0.05
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params0]
    opt = torch.optim.SGD(tparams, lr=lr, foreach=foreach, **opts)
    ours = [p.copy() for p in params0]
    bufs = [np.zeros_like(p) for p in params0]
    for step in range(6):
        for tp, g in zip(tparams, grads[step]):
            tp.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        for p, g, b in zip(ours, grads[step], bufs):
            ref.sgd_update(p, g, b if opts["momentum"] != 0 else None, lr=lr,
                           first_step=step == 0, **opts)
        for p, tp in zip(ours, tparams):
            np.testing.assert_allclose(p, tp.detach().numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
        if opts["momentum"] != 0:
            for b, tp in zip(bufs, tparams):
                np.testing.assert_allclose(b, opt.state[tp]["momentum_buffer"].numpy(),
                                           rtol=TORCH_RTOL, atol=TORCH_ATOL)


@pytest.mark.parametrize("kwargs", [dict(momentum=0.0, nesterov=True),
                                    dict(momentum=0.9, dampening=0.1, nesterov=True)])
def test_sgd_nesterov_rules_match_torch(torch, kwargs):
    with pytest.raises(ValueError):
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, **kwargs)
    with pytest.raises(ValueError, match="nesterov"):
        ref.sgd_update(np.zeros(1), np.zeros(1), np.zeros(1), lr=0.1, **kwargs)
