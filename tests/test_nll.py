"""nll_loss (loss and dinput) against its float64 twin, every ISA path, at 1 and 2 threads,
every option combination; the twin's gradient against finite differences; bad inputs.

Tolerances (u = 2**-24). Inputs are float32, exact in both computations.
- loss: each row's -w[t] * x[t] is a product of two floats, exact in double; the kernel sums
  them in double (N additions, each within 2**-53 of the partial sum, so within
  N * 2**-53 * sum|l_i| of exact), divides once in double ("mean") and rounds to float once
  (u relative). So |err| <= u |L| + N 2**-52 sum|l_i| / denom: rtol = 2u, atol = N 2**-50
  sum|l_i| / denom (a 4x margin on the double part; the rtol has 2x).
- dinput: -w[t_i] exactly ("sum"/"none": a float negated); "mean": -w * (1/denom), two
  double roundings then one float rounding: within u (1 + 2**-51) relative, rtol = 2u.
  Every other entry must be exactly 0.
"""
import numpy as np
import pytest

from fastmlp import kernels, reference
from helpers import U, fd_grad, signature_params

# N == 0, C == 1, 1, primes, sizes not multiples of 16/32, N*C above the 32768-element
# parallel threshold of the gradient pass (257 x 129, 70001 x 1).
SHAPES = [(0, 10), (1, 1), (7, 1), (1, 2), (7, 13), (31, 5), (64, 10), (257, 129), (70001, 1),
          (1000, 3)]
REDUCTIONS = ["mean", "sum", "none"]


def make(rng, N, C, weighted, ignore, ignore_index=-100, logprob=True):
    x = rng.standard_normal((N, C)) * 2
    if logprob and C:
        x = reference.log_softmax(x)
    x = x.astype(np.float32)
    target = rng.integers(0, C, N)
    if ignore and N:
        target[rng.random(N) < 0.3] = ignore_index
    weight = rng.uniform(0.1, 2.0, C).astype(np.float32) if weighted else None
    return x, target, weight


def check(got, ref, x, target, weight, reduction, ignore_index=-100):
    loss, d = got
    rloss, rd = ref
    N, C = x.shape
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    kept = target != ignore_index
    t = target[kept]
    denom = w[t].sum() if reduction == "mean" and kept.any() else 1.0
    denom = denom if denom > 0 else 1.0
    terms = np.abs(w[t] * x[kept, t].astype(np.float64)).sum()
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == np.float32 and loss.shape == (N,)
        np.testing.assert_allclose(loss, rloss, rtol=2 * U, atol=0)
    else:
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, rloss, rtol=2 * U, atol=N * 2.0 ** -50 * terms / denom)
    assert d.dtype == np.float32 and d.shape == (N, C)
    np.testing.assert_allclose(d, rd, rtol=2 * U, atol=0)
    mask = np.ones((N, C), bool)
    mask[np.flatnonzero(kept), t] = False
    assert np.all(d[mask] == 0)  # off-target entries and ignored rows: exactly 0


def test_signature_extends_reference():
    ours, ref = signature_params("nll_loss")
    assert ours[: len(ref)] == ref
    assert [p.name for p in ours[len(ref):]] == ["dinput"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore", [False, True], ids=["all-kept", "some-ignored"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("shape", SHAPES)
def test_nll_loss(rng, isa, threads, shape, weighted, ignore, reduction):
    x, target, weight = make(rng, *shape, weighted, ignore)
    kw = dict(weight=weight, reduction=reduction)
    ref = reference.nll_loss(x, target, **kw)
    x0 = x.copy()
    check(kernels.nll_loss(x, target, **kw), ref, x, target, weight, reduction)
    np.testing.assert_array_equal(x, x0)  # input untouched

    out = np.full(shape, np.nan, np.float32)  # a given output, overwritten
    got = kernels.nll_loss(x, target, dinput=out, **kw)
    assert got[1] is out
    check(got, ref, x0, target, weight, reduction)

    got = kernels.nll_loss(x, target, dinput=x, **kw)  # in place
    assert got[1] is x
    check(got, ref, x0, target, weight, reduction)

    loss, none = kernels.nll_loss(x0, target, dinput=False, **kw)  # loss only
    assert none is None
    np.testing.assert_array_equal(loss, got[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_any_sign_inputs(rng, threads, reduction):
    """The kernel is defined on any input, not only log-probabilities (mixed-sign terms)."""
    x, target, weight = make(rng, 300, 7, True, True, logprob=False)
    kw = dict(weight=weight, reduction=reduction)
    check(kernels.nll_loss(x, target, **kw), reference.nll_loss(x, target, **kw), x, target,
          weight, reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_by_finite_differences(rng, weighted, reduction):
    """The loss is linear in the input, so central differences have no truncation error:
    only rounding, ~2**-53 |L| / eps = 1.1e-10 |L| at eps = 1e-6; the kernel's float32
    gradient is within 2u relative (<= 2 * 2.0 * 2**-24 absolute for weights <= 2): atol 1e-6.
    The twin's gradient is checked the same way (atol 1e-8)."""
    x, target, weight = make(rng, 9, 5, weighted, True)
    kw = dict(weight=weight, reduction=reduction)
    fd = fd_grad(lambda z: reference.nll_loss(z, target, **kw)[0], x)
    np.testing.assert_allclose(reference.nll_loss(x, target, **kw)[1], fd, atol=1e-8)
    np.testing.assert_allclose(kernels.nll_loss(x, target, **kw)[1], fd, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_is_a_valid_class(rng, threads, reduction):
    # ignore_index in [0, C) (PyTorch allows it): rows of that class are ignored.
    x, target, weight = make(rng, 50, 7, True, True, ignore_index=3)
    kw = dict(weight=weight, ignore_index=3, reduction=reduction)
    check(kernels.nll_loss(x, target, **kw), reference.nll_loss(x, target, **kw), x, target,
          weight, reduction, ignore_index=3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_denominators(rng, threads, reduction):
    """Every row ignored; N == 0; every kept target's weight 0: the mean is 0/0 = nan
    (PyTorch), kept rows' gradients nan, everything else 0."""
    x, _, _ = make(rng, 20, 5, False, False)
    cases = [(x, np.full(20, -100), None),
             (x[:0], np.zeros(0, np.int64), None),
             (x, np.where(np.arange(20) % 2, 2, -100), np.array([1, 1, 0, 1, 1], np.float32))]
    for xx, t, w in cases:
        loss, d = kernels.nll_loss(xx, t, weight=w, reduction=reduction)
        rloss, rd = reference.nll_loss(xx, t, weight=w, reduction=reduction)
        np.testing.assert_array_equal(np.isnan(d), np.isnan(rd))
        np.testing.assert_allclose(d, rd, rtol=2 * U, atol=0)  # nan where the reference is
        np.testing.assert_allclose(loss, rloss, rtol=2 * U, atol=0)
        if reduction == "mean":
            assert np.isnan(loss)
        if reduction == "sum" and len(t) == 0:
            assert loss == 0.0


def test_matches_cross_entropy_of_the_logits(rng):
    """nll_loss(log_softmax(z)) is cross_entropy(z): the two float32 pipelines agree
    within their derived bounds (cross_entropy's rtol 1e-5 dominates)."""
    z = (rng.standard_normal((40, 9)) * 2).astype(np.float32)
    t = rng.integers(0, 9, 40)
    w = rng.uniform(0.1, 2.0, 9).astype(np.float32)
    for red in REDUCTIONS:
        a = kernels.nll_loss(kernels.log_softmax(z), t, weight=w, reduction=red)[0]
        b = kernels.cross_entropy(z, t, weight=w, reduction=red)[0]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_input_conversions(rng):
    x, target, weight = make(rng, 9, 6, True, True)
    ref = reference.nll_loss(x, target, weight=weight)
    for xx in (x.astype(np.float64), np.asfortranarray(x), x.tolist()):
        for t in (target, target.astype(np.int32), target.tolist(), target.astype(np.int16)):
            check(kernels.nll_loss(xx, t, weight=weight.tolist()), ref, x, target, weight, "mean")
    kept = target != -100
    for dt in (np.uint8, np.uint64):
        t = np.where(kept, target, 0).astype(dt)
        check(kernels.nll_loss(x, t), reference.nll_loss(x, t.astype(np.int64)), x,
              t.astype(np.int64), None, "mean")


def test_bitwise_1_vs_2_threads(rng, thread_count):
    x, target, weight = make(rng, 4099, 37, True, True)
    res = {}
    for t in (1, 2):
        thread_count(t)
        res[t] = [kernels.nll_loss(x, target, weight=weight, reduction=r) for r in REDUCTIONS]
    for (l1, d1), (l2, d2) in zip(res[1], res[2]):
        assert np.array_equal(l1, l2) and np.array_equal(d1, d2)


def test_empty_target_list():
    loss, d = kernels.nll_loss(np.zeros((0, 3), np.float32), [], reduction="sum")
    assert loss == 0.0 and d.shape == (0, 3)


class TestBadInput:
    x = np.zeros((4, 10), np.float32)
    t = np.array([1, 2, 3, 4])

    def test_input(self):
        with pytest.raises(ValueError, match="input"):
            kernels.nll_loss(np.zeros(10, np.float32), [1])
        with pytest.raises(ValueError, match="input"):
            kernels.nll_loss(np.zeros((2, 0), np.float32), [0, 0])
        with pytest.raises(TypeError, match="input"):
            kernels.nll_loss("input", [0])

    def test_target_shape_and_dtype(self):
        with pytest.raises(ValueError, match="target"):
            kernels.nll_loss(self.x, [1, 2, 3])
        with pytest.raises(ValueError, match="target"):
            kernels.nll_loss(self.x, self.t[:, None])
        with pytest.raises(TypeError, match="target"):
            kernels.nll_loss(self.x, self.t.astype(np.float32))
        with pytest.raises(TypeError, match="target"):
            kernels.nll_loss(self.x, np.array([True, False, True, False]))
        with pytest.raises(TypeError, match="target"):
            kernels.nll_loss(self.x, None)

    @pytest.mark.parametrize("bad,index", [(10, 3), (11, 0), (-1, 2), (-101, 1), (2**40, 0)])
    def test_target_out_of_range(self, bad, index):
        t = self.t.copy()
        t[index] = bad
        d = np.full((4, 10), 5.0, np.float32)
        with pytest.raises(ValueError, match=rf"target: value {bad} at index {index}"):
            kernels.nll_loss(self.x, t, dinput=d)
        assert np.all(d == 5.0)  # validated before any write
        x = np.full((4, 10), -1.0, np.float32)
        with pytest.raises(ValueError, match="target"):
            kernels.nll_loss(x, t, dinput=x)
        assert np.all(x == -1.0)
        with pytest.raises(ValueError, match="target"):  # ignore_index changed: -100 is now bad
            kernels.nll_loss(self.x, [-100, 1, 2, 3], ignore_index=-1)

    def test_target_uint64_too_large(self):
        with pytest.raises(ValueError, match="target"):
            kernels.nll_loss(self.x, np.array([2**64 - 1, 0, 0, 0], np.uint64), ignore_index=-1)

    def test_weight(self):
        with pytest.raises(ValueError, match="weight"):
            kernels.nll_loss(self.x, self.t, weight=np.ones(9, np.float32))
        with pytest.raises(ValueError, match="weight"):
            kernels.nll_loss(self.x, self.t, weight=np.ones((1, 10), np.float32))
        with pytest.raises(TypeError, match="weight"):
            kernels.nll_loss(self.x, self.t, weight="w")

    def test_reduction(self):
        with pytest.raises(ValueError, match="reduction"):
            kernels.nll_loss(self.x, self.t, reduction="avg")

    def test_dinput(self):
        with pytest.raises(TypeError, match="dinput"):
            kernels.nll_loss(self.x, self.t, dinput=np.zeros((4, 10)))
        with pytest.raises(TypeError, match="dinput"):
            kernels.nll_loss(self.x, self.t, dinput=[[0.0] * 10] * 4)
        with pytest.raises(ValueError, match="dinput"):
            kernels.nll_loss(self.x, self.t, dinput=np.zeros((10, 4), np.float32))
        with pytest.raises(ValueError, match="dinput"):
            kernels.nll_loss(self.x, self.t, dinput=np.zeros((4, 20), np.float32)[:, ::2])
        ro = np.zeros((4, 10), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="dinput"):
            kernels.nll_loss(self.x, self.t, dinput=ro)
        buf = np.zeros(50, np.float32)
        with pytest.raises(ValueError, match="dinput"):  # partial overlap with input
            kernels.nll_loss(buf[:40].reshape(4, 10), self.t, dinput=buf[10:].reshape(4, 10))
        with pytest.raises(ValueError, match="dinput"):  # overlaps weight
            kernels.nll_loss(self.x, self.t, weight=buf[:10], dinput=buf[:40].reshape(4, 10))


def test_reference_matches_torch_when_installed(rng):
    torch = pytest.importorskip("torch")
    x, target, weight = make(rng, 30, 6, True, True)
    for red in REDUCTIONS:
        want = torch.nn.functional.nll_loss(torch.tensor(x, dtype=torch.float64),
                                            torch.tensor(target), torch.tensor(weight, dtype=torch.float64),
                                            reduction=red).numpy()
        np.testing.assert_allclose(reference.nll_loss(x, target, weight=weight, reduction=red)[0],
                                   want, rtol=1e-12)



# --------------------------------------------------------- F.nll_loss, nn.NLLLoss --

from fastmlp import functional as F  # noqa: E402
from fastmlp import nn  # noqa: E402
from fastmlp.autograd import Tensor  # noqa: E402


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_functional_and_module_gradients(rng, reduction):
    """F.nll_loss / nn.NLLLoss: the kernel's loss, and backward gives its dinput (times the
    upstream gradient for "none": each row's -w[t] * g_i, one float product: 2u relative)."""
    x, target, weight = make(rng, 30, 6, True, True)
    t = Tensor(x, requires_grad=True)
    crit = nn.NLLLoss(weight=weight, reduction=reduction)
    out = crit(t, target)
    want, d = kernels.nll_loss(x, target, weight=weight, reduction=reduction)
    np.testing.assert_array_equal(out.data, np.asarray(want, np.float32))
    if reduction == "none":
        g = rng.standard_normal(30).astype(np.float32)
        out.backward(g)
        np.testing.assert_allclose(t.grad, d * g[:, None], rtol=2 * U)
    else:
        out.backward()
        np.testing.assert_array_equal(t.grad, d)
    t2 = Tensor(x, requires_grad=True)
    F.nll_loss(t2, target, weight=weight, reduction=reduction).sum().backward()
    assert t2.grad is not None and t2.grad.shape == x.shape


def test_module_options_and_legacy_arguments(rng):
    x, target, _ = make(rng, 10, 4, False, False)
    assert repr(nn.NLLLoss()) == "NLLLoss()"
    assert repr(nn.NLLLoss(ignore_index=1, reduction="sum")) == "NLLLoss(reduction='sum', ignore_index=1)"
    with pytest.warns(UserWarning, match="size_average"):
        s = F.nll_loss(x, target, size_average=False)
    assert float(s) == pytest.approx(kernels.nll_loss(x, target, reduction="sum")[0], rel=0, abs=0)
    with pytest.raises(ValueError, match="reduction"):
        nn.NLLLoss(reduction="avg")
    with pytest.raises(ValueError, match="weight"):
        nn.NLLLoss(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match="target"):
        F.nll_loss(x, np.full(10, 4))
    role = nn.NLLLoss(weight=np.ones(4), ignore_index=3, reduction="sum").fused_role()
    assert role.kind == "loss" and role.spec["loss"] == "nll" and role.spec["ignore_index"] == 3
