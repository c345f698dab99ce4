"""cross_entropy (loss and dlogits) against the float64 reference, every ISA
path, at 1 and 2 threads, every option combination.

Tolerances (u = 2**-24). Logits are float32, exact in both computations.
- loss: the kernel rounds d = x - max to float (error <= u|d|), takes expf
  (< 1 ulp) and does everything else in double, so each row's loss is within
  about 2u(1 + |d|) * (its weights) of exact: ~1e-6 relative for randn
  logits. rtol=1e-5 (10x margin); atol=1e-6 for near-zero losses (C == 1).
- dlogits: each entry is scale * (A p_c - eps/C w_c - coef [c == t]) with
  every term bounded by gmag = scale * ((1-eps) max(w) + eps/C sum(w)); p_c
  carries ~3 float roundings and expf's error (1 + |d|) u, whose product with
  p_c = e^d is < 2u; the subtractions add ~2u gmag. So |err| <= ~8u gmag:
  we allow atol = 32u gmag and rtol=1e-5.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmlp import kernels, reference
from helpers import U, signature_params

# 1, 2, primes, C = 1/2/10/11/1000, N == 0, and N*C above the 8192-logit
# parallel threshold with several 16-row chunks (200x100, 1000x11, 5x1000
# has one chunk: serial).
SHAPES = [(1, 1), (1, 2), (2, 2), (7, 13), (64, 10), (33, 11), (5, 1000), (0, 10),
          (200, 100), (1000, 11)]
REDUCTIONS = ["mean", "sum", "none"]


def make(rng, N, C, weighted, ignore, ignore_index=-100):
    logits = (rng.standard_normal((N, C)) * 2).astype(np.float32)
    target = rng.integers(0, C, N)
    if ignore and N:
        target[rng.random(N) < 0.3] = ignore_index
    weight = rng.uniform(0.1, 2.0, C).astype(np.float32) if weighted else None
    return logits, target, weight


def check(got, ref, logits, target, weight, eps, reduction, ignore_index=-100):
    loss, dl = got
    rloss, rdl = ref
    N, C = logits.shape
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == np.float32 and loss.shape == (N,)
    else:
        assert isinstance(loss, float)
    np.testing.assert_allclose(loss, rloss, rtol=1e-5, atol=1e-6)
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    kept = target != ignore_index
    scale = 1.0
    if reduction == "mean":
        denom = w[target[kept]].sum()
        scale = 1.0 / denom if denom > 0 else 1.0
    gmag = scale * ((1 - eps) * w.max() + eps / C * w.sum())
    assert dl.dtype == np.float32 and dl.shape == (N, C)
    np.testing.assert_allclose(dl, rdl, rtol=1e-5, atol=32 * U * gmag)
    assert np.all(dl[~kept] == 0)  # ignored rows: exactly 0


def test_signature_extends_reference():
    ours, ref = signature_params("cross_entropy")
    assert ours[: len(ref)] == ref
    assert [p.name for p in ours[len(ref):]] == ["dlogits"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("ignore", [False, True], ids=["all-kept", "some-ignored"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy(rng, isa, threads, shape, weighted, ignore, eps, reduction):
    logits, target, weight = make(rng, *shape, weighted, ignore)
    kw = dict(weight=weight, label_smoothing=eps, reduction=reduction)
    ref = reference.cross_entropy(logits, target, **kw)
    x0 = logits.copy()
    check(kernels.cross_entropy(logits, target, **kw), ref, logits, target, weight, eps, reduction)
    np.testing.assert_array_equal(logits, x0)  # input untouched

    out = np.full(shape, np.nan, np.float32)  # a given output, overwritten
    got = kernels.cross_entropy(logits, target, dlogits=out, **kw)
    assert got[1] is out
    check(got, ref, x0, target, weight, eps, reduction)

    got = kernels.cross_entropy(logits, target, dlogits=logits, **kw)  # in place
    assert got[1] is logits
    check(got, ref, x0, target, weight, eps, reduction)

    loss, none = kernels.cross_entropy(x0, target, dlogits=False, **kw)  # loss only
    assert none is None
    np.testing.assert_allclose(loss, ref[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_ignore_index_is_a_valid_class(rng, threads, eps, reduction):
    # ignore_index in [0, C) (PyTorch allows it): rows of that class are ignored.
    logits, target, weight = make(rng, 50, 7, True, True, ignore_index=3)
    kw = dict(weight=weight, ignore_index=3, label_smoothing=eps, reduction=reduction)
    check(kernels.cross_entropy(logits, target, **kw), reference.cross_entropy(logits, target, **kw),
          logits, target, weight, eps, reduction, ignore_index=3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_zero_denominators(rng, threads, reduction):
    # Every row ignored; N == 0; every kept target's weight 0: the mean is
    # 0/0 = nan (PyTorch), kept rows' gradients nan, ignored rows' 0.
    logits, _, weight = make(rng, 20, 5, True, False)
    cases = [(logits, np.full(20, -100), None),
             (logits[:0], np.zeros(0, np.int64), None),
             (logits, np.where(np.arange(20) % 2, 2, -100), np.array([1, 1, 0, 1, 1], np.float32))]
    for x, t, w in cases:
        for eps in (0.0, 0.1):
            kw = dict(weight=w, label_smoothing=eps, reduction=reduction)
            loss, dl = kernels.cross_entropy(x, t, **kw)
            rloss, rdl = reference.cross_entropy(x, t, **kw)
            np.testing.assert_allclose(loss, rloss, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(dl, rdl, rtol=1e-5, atol=1e-6)  # nan where the reference is
            if reduction == "mean":
                assert np.isnan(loss)


def test_empty_target_list():
    loss, dl = kernels.cross_entropy(np.zeros((0, 3), np.float32), [], reduction="sum")
    assert loss == 0.0 and dl.shape == (0, 3)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the reference's inf - inf
def test_nonfinite_logits(rng, threads):
    # A NaN or +inf logit makes its row nan (like the reference), other rows unaffected.
    logits, target, _ = make(rng, 6, 5, False, False)
    logits[1, 2] = np.nan
    logits[3, 0] = np.inf
    for red in REDUCTIONS:
        for eps in (0.0, 0.1):
            got = kernels.cross_entropy(logits, target, label_smoothing=eps, reduction=red)
            check(got, reference.cross_entropy(logits, target, label_smoothing=eps, reduction=red),
                  logits, target, None, eps, red)
    # -inf logit (a masked class) with label_smoothing == 0: PyTorch's finite
    # value (no 0 * inf from the skipped smoothing term) == the reference with
    # a logit so small its exp underflows to 0.
    logits, target, _ = make(rng, 6, 5, False, False)
    target[:] = 1
    masked = logits.copy()
    masked[:, 0] = -np.inf
    small = logits.copy()
    small[:, 0] = -1e30
    loss, dl = kernels.cross_entropy(masked, target, reduction="sum")
    rloss, rdl = reference.cross_entropy(small, target, reduction="sum")
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, rloss, rtol=1e-5)
    np.testing.assert_allclose(dl, rdl, rtol=1e-5, atol=32 * U)


def test_input_conversions(rng):
    logits, target, weight = make(rng, 9, 6, True, True)
    ref = reference.cross_entropy(logits, target, weight=weight)
    for x in (logits.astype(np.float64), np.asfortranarray(logits), logits.tolist()):
        for t in (target, target.astype(np.int32), target.tolist(), target.astype(np.int16)):
            check(kernels.cross_entropy(x, t, weight=weight.tolist()), ref,
                  logits, target, weight, 0.0, "mean")
    kept = target != -100
    for dt in (np.uint8, np.uint64):
        t = np.where(kept, target, 0).astype(dt)
        check(kernels.cross_entropy(logits, t), reference.cross_entropy(logits, t.astype(np.int64)),
              logits, t.astype(np.int64), None, 0.0, "mean")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(0, 70), C=st.integers(1, 40), weighted=st.booleans(), ignore=st.booleans(),
       eps=st.sampled_from([0.0, 0.1, 0.5, 1.0]), reduction=st.sampled_from(REDUCTIONS),
       inplace=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_hypothesis_shapes(N, C, weighted, ignore, eps, reduction, inplace, seed):
    rng = np.random.default_rng(seed)
    logits, target, weight = make(rng, N, C, weighted, ignore)
    kw = dict(weight=weight, label_smoothing=eps, reduction=reduction)
    ref = reference.cross_entropy(logits, target, **kw)
    x0 = logits.copy()
    got = kernels.cross_entropy(logits, target, dlogits=logits if inplace else None, **kw)
    check(got, ref, x0, target, weight, eps, reduction)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_bitwise_1_vs_2_threads(rng, thread_count, eps):
    logits, target, weight = make(rng, 4099, 37, True, True)
    res = {}
    for t in (1, 2):
        thread_count(t)
        res[t] = [kernels.cross_entropy(logits, target, weight=weight, label_smoothing=eps, reduction=r)
                  for r in REDUCTIONS]
    for (l1, d1), (l2, d2) in zip(res[1], res[2]):
        assert np.array_equal(l1, l2) and np.array_equal(d1, d2)


class TestBadInput:
    x = np.zeros((4, 10), np.float32)
    t = np.array([1, 2, 3, 4])

    def test_logits(self):
        with pytest.raises(ValueError, match="logits"):
            kernels.cross_entropy(np.zeros(10, np.float32), [1])
        with pytest.raises(ValueError, match="logits"):
            kernels.cross_entropy(np.zeros((2, 0), np.float32), [0, 0])
        with pytest.raises(TypeError, match="logits"):
            kernels.cross_entropy("logits", [0])

    def test_target_shape_and_dtype(self):
        with pytest.raises(ValueError, match="target"):
            kernels.cross_entropy(self.x, [1, 2, 3])
        with pytest.raises(ValueError, match="target"):
            kernels.cross_entropy(self.x, self.t[:, None])
        with pytest.raises(TypeError, match="target"):
            kernels.cross_entropy(self.x, self.t.astype(np.float32))
        with pytest.raises(TypeError, match="target"):
            kernels.cross_entropy(self.x, [1.0, 2.0, 3.0, 4.0])
        with pytest.raises(TypeError, match="target"):
            kernels.cross_entropy(self.x, np.array([True, False, True, False]))
        with pytest.raises(TypeError, match="target"):
            kernels.cross_entropy(self.x, None)

    @pytest.mark.parametrize("bad,index", [(10, 3), (11, 0), (-1, 2), (-101, 1), (2**40, 0)])
    def test_target_out_of_range(self, bad, index):
        t = self.t.copy()
        t[index] = bad
        dl = np.full((4, 10), 5.0, np.float32)
        with pytest.raises(ValueError, match=rf"target: value {bad} at index {index}"):
            kernels.cross_entropy(self.x, t, dlogits=dl)
        assert np.all(dl == 5.0)  # validated before any write
        with pytest.raises(ValueError, match="target"):  # ignore_index changed: -100 is now bad
            kernels.cross_entropy(self.x, [-100, 1, 2, 3], ignore_index=-1)

    def test_target_uint64_too_large(self):
        with pytest.raises(ValueError, match="target"):
            kernels.cross_entropy(self.x, np.array([2**64 - 1, 0, 0, 0], np.uint64), ignore_index=-1)

    def test_weight(self):
        with pytest.raises(ValueError, match="weight"):
            kernels.cross_entropy(self.x, self.t, weight=np.ones(9, np.float32))
        with pytest.raises(ValueError, match="weight"):
            kernels.cross_entropy(self.x, self.t, weight=np.ones((1, 10), np.float32))
        with pytest.raises(TypeError, match="weight"):
            kernels.cross_entropy(self.x, self.t, weight="w")

    @pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan")])
    def test_label_smoothing(self, eps):
        with pytest.raises(ValueError, match="label_smoothing"):
            kernels.cross_entropy(self.x, self.t, label_smoothing=eps)

    def test_reduction(self):
        with pytest.raises(ValueError, match="reduction"):
            kernels.cross_entropy(self.x, self.t, reduction="avg")

    def test_dlogits(self):
        with pytest.raises(TypeError, match="dlogits"):
            kernels.cross_entropy(self.x, self.t, dlogits=np.zeros((4, 10)))
        with pytest.raises(TypeError, match="dlogits"):
            kernels.cross_entropy(self.x, self.t, dlogits=[[0.0] * 10] * 4)
        with pytest.raises(ValueError, match="dlogits"):
            kernels.cross_entropy(self.x, self.t, dlogits=np.zeros((10, 4), np.float32))
        with pytest.raises(ValueError, match="dlogits"):
            kernels.cross_entropy(self.x, self.t, dlogits=np.zeros((4, 20), np.float32)[:, ::2])
        ro = np.zeros((4, 10), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="dlogits"):
            kernels.cross_entropy(self.x, self.t, dlogits=ro)
        buf = np.zeros(50, np.float32)
        with pytest.raises(ValueError, match="dlogits"):  # partial overlap with logits
            kernels.cross_entropy(buf[:40].reshape(4, 10), self.t, dlogits=buf[10:].reshape(4, 10))
        with pytest.raises(ValueError, match="dlogits"):  # overlaps weight
            kernels.cross_entropy(self.x, self.t, weight=buf[:10], dlogits=buf[:40].reshape(4, 10))
