"""dropout_forward / dropout_backward: Philox4x32-10 known answers, the mask against the
NumPy twin (bit for bit) on every ISA path at 1 and 2 threads, the values against the
float64 twin, statistics of the mask, bad arguments.

Tolerances:
- Mask: none. Keeping is an integer predicate on the generator's words, so the kernel's
  mask must be the twin's exactly (on every ISA path, at any thread count).
- Values, exact: the kernel computes y = fl(x * fl(1 / fl(1 - p))) in float32 (PyTorch's
  arithmetic); NumPy's float32 operations are the same IEEE operations, so the expected
  bits are computed with them (data has no denormals, which the kernel would flush).
- Values against the float64 twin: fl(1 - p), the division and the product each round
  once by <= 2^-24 relative: |y - ref| <= 3 * 2^-24 |ref| plus second-order terms; we
  allow 4 * 2^-24 |ref|.
- Statistics: each bound is 6 standard deviations of the statistic under the hypothesis
  (keep indicators i.i.d. Bernoulli(1 - p)); by the normal approximation (n >= 2^18, np
  and n(1-p) >= 2.6e4, so the approximation's error is far below the tail) a bound fails
  with probability about 2e-9, so the whole file fails falsely with probability < 1e-7.
"""

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, kernels, reference
from helpers import fd_grad, signature_params

pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")

# 1, 2, primes, sizes not multiples of 4/16/32/64, empty, any ndim, and above the
# parallel threshold (32768) with a ragged end (70001, 300*257).
SHAPES = [(1,), (2,), (3,), (5,), (7, 13), (0,), (3, 0), (17, 5, 3), (31,), (257,), (1000,),
          (300, 257), (70001,), ()]
PS = [0.1, 0.5, 1 / 3, 0.9, 2.0**-24, 1 - 2.0**-24]
U = 2.0**-24

# Random123's kat_vectors for philox4x32 with 10 rounds: counter (4 words), key (2 words),
# expected output (4 words).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


def data(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def seed_of(rng):
    """A uint64 seed from the whole range (high key word included)."""
    return int(rng.integers(0, 2**64, dtype=np.uint64))


def expected(x, p, seed):
    """The kernel's bits: x * (keep ? 1.0f / float(1 - p) : 0.0f) in float32."""
    scale = np.float32(1.0) / np.float32(1.0 - p)
    m = np.where(reference.dropout_mask(x.shape, p, seed), scale, np.float32(0.0))
    return (x * m.astype(np.float32)).astype(np.float32)


def test_signatures_extend_reference():
    for name in ("dropout_forward", "dropout_backward"):
        ours, ref = signature_params(name)
        assert [p.name for p in ours[: len(ref)]] == [p.name for p in ref], name
        assert all(p.default is None for p in ours[len(ref):]), name


@pytest.mark.parametrize("ctr, key, out", KAT)
def test_philox_known_answers(ctr, key, out):
    """The generator is Philox4x32-10: Random123's known-answer vectors, in C++ and in the
    NumPy twin."""
    assert _core._philox4x32_10(ctr, key) == out
    ref = reference._philox4x32_10([[c] for c in ctr], key)
    assert tuple(int(w) for w in ref[:, 0]) == out


def test_mask_uses_philox_words_of_counter_zero():
    """With seed 0 (key (0, 0)) elements 0..3 use the words of the all-zero KAT vector: u =
    (word >> 8) * 2^-24 is kept at p = u and dropped just above it."""
    x = np.ones(4, np.float32)
    for j, word in enumerate(KAT[0][2]):
        u = (word >> 8) * U
        assert kernels.dropout_forward(x, u, 0)[j] != 0
        assert kernels.dropout_forward(x, np.nextafter(u, 1.0), 0)[j] == 0
    # key = (seed low, seed high): the all-ones KAT key is seed 2**64 - 1; its counter is
    # not one of ours, so check the key through the twin's words at counter 0.
    w = reference._philox4x32_10([[0], [0], [0], [0]], (0xffffffff, 0xffffffff))[:, 0]
    for j, word in enumerate(w):
        u = (int(word) >> 8) * U
        assert kernels.dropout_forward(x, u, 2**64 - 1)[j] != 0
        assert kernels.dropout_forward(x, np.nextafter(u, 1.0), 2**64 - 1)[j] == 0


def check_kernel(name, rng, shape, p):
    """kernels.<name> on random data: the twin's mask exactly, the float32 formula's bits,
    the float64 twin within 4u; into a given array and in place on its input."""
    fn, dest = getattr(kernels, name), "out" if name == "dropout_forward" else "dx"
    x = data(rng, shape)
    x0 = x.copy()
    seed = seed_of(rng)
    y = fn(x, p, seed)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(x, x0)  # input untouched
    keep = reference.dropout_mask(shape, p, seed)
    np.testing.assert_array_equal(y != 0, keep & (x != 0))
    np.testing.assert_array_equal(y, expected(x, p, seed))
    ref = getattr(reference, name)(x, p, seed)
    assert np.all(np.abs(y - ref) <= 4 * U * np.abs(ref))

    buf = np.full(shape, 7.0, np.float32)
    assert fn(x, p, seed, buf) is buf
    np.testing.assert_array_equal(buf, y)
    assert fn(x, p, seed, **{dest: x}) is x  # in place
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", PS)
def test_forward_matches_twin(rng, isa, threads, shape, p):
    check_kernel("dropout_forward", rng, shape, p)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.75])
def test_backward_regenerates_the_mask(rng, isa, threads, shape, p):
    """The backward is the forward's mask, regenerated from (p, seed), applied to dout."""
    check_kernel("dropout_backward", rng, shape, p)


def test_backward_is_the_gradient_of_the_twin(rng):
    """Finite differences of sum(w * dropout_forward(x)) (a linear function of x: central
    differences are exact up to rounding, ~1e-9 at eps 1e-6) give the backward; tolerance
    1e-6 absolute on gradients of size <= 2 |w| / (1 - p)."""
    x = rng.standard_normal((6, 7))
    w = rng.standard_normal((6, 7))
    for p in (0.3, 0.6):
        seed = seed_of(rng)
        g = fd_grad(lambda v: float(np.sum(w * reference.dropout_forward(v, p, seed))), x)
        np.testing.assert_allclose(reference.dropout_backward(w, p, seed), g, rtol=0, atol=1e-6)
        dx = kernels.dropout_backward(w.astype(np.float32), p, seed)
        np.testing.assert_allclose(dx, g, rtol=4 * U, atol=1e-6)


def test_thread_count_and_isa_do_not_change_the_bits(rng, thread_count):
    """The same bits at 1 and 2 threads on every path, for lengths around the vector
    widths and the parallel split."""
    previous = fastmlp.cpu_capability()
    try:
        for n in (70001, 300 * 257, 65536 + 37, 33):
            x = data(rng, (n,))
            seed = seed_of(rng)
            runs = []
            for isa in fastmlp.available_cpu_capabilities():
                fastmlp._set_cpu_capability(isa)
                for t in (1, 2):
                    thread_count(t)
                    runs.append(kernels.dropout_forward(x, 0.4, seed).view(np.uint32))
                    runs.append(kernels.dropout_backward(x, 0.4, seed).view(np.uint32))
            for r in runs[1:]:
                np.testing.assert_array_equal(r, runs[0])
    finally:
        fastmlp._set_cpu_capability(previous)


def test_mask_depends_only_on_seed_and_index(rng, isa):
    """A prefix, a reshape or an offset view in memory does not change element i's mask."""
    x = data(rng, (1000,))
    seed = seed_of(rng)
    full = kernels.dropout_forward(x, 0.5, seed)
    for k in (1, 3, 4, 17, 64, 999):
        np.testing.assert_array_equal(kernels.dropout_forward(x[:k], 0.5, seed), full[:k])
    np.testing.assert_array_equal(kernels.dropout_forward(x.reshape(8, 125), 0.5, seed).ravel(), full)
    buf = np.zeros(1003, np.float32)
    view = buf[3:]  # starts 12 bytes past an allocation: unaligned vector loads
    view[:] = x
    kernels.dropout_forward(view, 0.5, seed, out=view)
    np.testing.assert_array_equal(view, full)


def test_p_zero_is_a_copy(rng, isa):
    x = data(rng, (7, 13))
    x.reshape(-1)[:3] = [np.nan, np.inf, -0.0]
    for seed in (0, 12345):
        y = kernels.dropout_forward(x, 0.0, seed)
        assert y is not x
        np.testing.assert_array_equal(y.view(np.uint32), x.view(np.uint32))
        np.testing.assert_array_equal(kernels.dropout_backward(x, 0, seed).view(np.uint32),
                                      x.view(np.uint32))
    assert kernels.dropout_forward(x, 0.0, 1, out=x) is x


def test_specials_follow_pytorch(rng, isa):
    """x * m: kept inf stays inf, kept NaN NaN, a dropped inf or NaN is NaN (inf * 0),
    -0.0 kept is -0.0, as the twin."""
    n = 4096
    seed = seed_of(rng)
    keep = reference.dropout_mask((n,), 0.5, seed)
    x = np.where(np.arange(n) % 3 == 0, np.inf, np.where(np.arange(n) % 3 == 1, np.nan, -0.0))
    x = x.astype(np.float32)
    y = kernels.dropout_forward(x, 0.5, seed)
    ref = reference.dropout_forward(x, 0.5, seed).astype(np.float32)
    np.testing.assert_array_equal(y, ref)
    assert np.all(np.isnan(y[~keep & ~np.isfinite(x)]))
    assert np.all(np.signbit(y[keep & (x == 0)]))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_and_mean(rng, p):
    """n = 2^20 elements: the kept count K ~ Binomial(n, 1-p): |K - n(1-p)| <= 6
    sqrt(n p (1-p)). mean(y) for x ~ U(0.5, 1.5) fixed: E = mean(x), Var = sum x_i^2 p /
    ((1-p) n^2): within 6 standard deviations. Both false-fail with p ~ 2e-9."""
    n = 1 << 20
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)
    seed = seed_of(rng)
    y = kernels.dropout_forward(x, p, seed)
    k = np.count_nonzero(y)
    assert abs(k - n * (1 - p)) <= 6 * np.sqrt(n * p * (1 - p))
    kept = y[y != 0]
    np.testing.assert_array_equal(kept, (x[y != 0] * (np.float32(1) / np.float32(1 - p))))
    x64 = x.astype(np.float64)
    sd = np.sqrt(np.sum(x64**2) * p / (1 - p)) / n
    assert abs(y.astype(np.float64).mean() - x64.mean()) <= 6 * sd


def _corr_bound_ok(a, b):
    """Sample correlation of two keep-indicator vectors of length n: under independence it
    is ~N(0, 1/n); 6 / sqrt(n) false-fails with p ~ 2e-9."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    r = np.corrcoef(a, b)[0, 1]
    return abs(r) <= 6 / np.sqrt(len(a))


def test_independence_across_seeds_counters_and_words(rng):
    """Keep indicators (p = 0.5, n = 2^18 per vector) are uncorrelated between seeds
    s and s+1 (low key word), s and s + 2^32 (high key word), between the four words of
    a block (lags 1, 2, 3) and between neighbouring counters (lags 4, 8)."""
    n = 1 << 18
    x = np.ones(n, np.float32)
    s = int(rng.integers(0, 2**63, dtype=np.uint64))
    m0 = kernels.dropout_forward(x, 0.5, s) != 0
    for other in (s + 1, s + 2**32, s ^ (1 << 63)):
        assert _corr_bound_ok(m0, kernels.dropout_forward(x, 0.5, other) != 0), other
    m = kernels.dropout_forward(np.ones(n + 8, np.float32), 0.5, s) != 0
    for lag in (1, 2, 3, 4, 8):
        assert _corr_bound_ok(m[:n], m[lag:lag + n]), lag
    # The words within a block are not interchangeable: word j's keep rate alone is binomial.
    for j in range(4):
        mj = m0[j::4]
        assert abs(mj.sum() - len(mj) / 2) <= 6 * np.sqrt(len(mj) / 4)


def test_seed_accepts_python_and_numpy_integers(rng):
    x = data(rng, (100,))
    a = kernels.dropout_forward(x, 0.5, 2**64 - 1)
    np.testing.assert_array_equal(kernels.dropout_forward(x, 0.5, np.uint64(2**64 - 1)), a)
    np.testing.assert_array_equal(kernels.dropout_forward(x, np.float32(0.5), 7),
                                  kernels.dropout_forward(x, 0.5, np.int64(7)))


@pytest.mark.parametrize("fn", ["dropout_forward", "dropout_backward"])
def test_bad_arguments(fn):
    k, ref = getattr(kernels, fn), getattr(reference, fn)
    x = np.ones((4, 5), np.float32)
    for f in (k, ref):
        for p in (-0.1, 1.0, 1.5, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=r"\bp\b"):
                f(x, p, 1)
        for p in ("0.5", True, None):
            with pytest.raises(TypeError, match=r"\bp\b"):
                f(x, p, 1)
        for seed in (-1, 2**64, -(2**70)):
            with pytest.raises(ValueError, match="seed"):
                f(x, 0.5, seed)
        for seed in (1.5, "1", True, None):
            with pytest.raises(TypeError, match="seed"):
                f(x, 0.5, seed)
    dest = "out" if fn == "dropout_forward" else "dx"
    src = "x" if fn == "dropout_forward" else "dout"
    with pytest.raises(ValueError, match=dest):
        k(x, 0.5, 1, np.zeros((5, 4), np.float32))
    with pytest.raises(TypeError, match=dest):
        k(x, 0.5, 1, np.zeros((4, 5), np.float64))
    with pytest.raises(ValueError, match=dest):
        k(x, 0.5, 1, np.zeros((4, 5), np.float32)[:, ::-1])
    buf = np.zeros(21, np.float32)
    with pytest.raises(ValueError, match=dest):  # overlaps the input without being it
        k(buf[:20].reshape(4, 5), 0.5, 1, buf[1:].reshape(4, 5))
    with pytest.raises(TypeError, match=src):
        k(np.array(["a"]), 0.5, 1)
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=dest):
        k(np.ones(3, np.float32), 0.5, 1, ro)


# --------------------------------------------------------------------------------------
# Python API: F.dropout, nn.Dropout
# --------------------------------------------------------------------------------------

import logging  # noqa: E402

from fastmlp import nn, optim  # noqa: E402
from fastmlp import functional as F  # noqa: E402
from fastmlp.autograd import Tensor  # noqa: E402
from fastmlp.train.epoch import python_epoch  # noqa: E402


def next_seed(s):
    """The seed a dropout call makes right after fastmlp.manual_seed(s)."""
    return int(fastmlp.manual_seed(s).integers(0, 2**64, dtype=np.uint64))


def gen_state():
    return fastmlp.nn.init.generator.bit_generator.state


def test_functional_draws_one_seed_per_training_call(rng):
    x = data(rng, (9, 11))
    for p in (0.2, 0.5):
        seed = next_seed(5)
        fastmlp.manual_seed(5)
        y = F.dropout(Tensor(x), p)
        assert isinstance(y, Tensor)
        np.testing.assert_array_equal(y.data, kernels.dropout_forward(x, p, seed))
        # the second call uses the next seed, so a different mask
        y2 = F.dropout(x, p)
        assert not np.array_equal(y2.data != 0, y.data != 0)


def test_functional_identity_when_not_training_or_p_zero(rng):
    t = Tensor(data(rng, (4, 5)), requires_grad=True)
    for kw in (dict(training=False), dict(p=0.0), dict(p=0, inplace=True),
               dict(p=0.7, training=False, inplace=True)):
        state = gen_state()
        assert F.dropout(t, **kw) is t  # the input itself, as PyTorch returns it
        assert gen_state() == state     # no seed drawn
    y = F.dropout(np.ones(3), training=False)
    assert isinstance(y, Tensor)


def test_functional_backward(rng):
    x = data(rng, (6, 7))
    w = data(rng, (6, 7))
    t = Tensor(x, requires_grad=True)
    seed = next_seed(11)
    fastmlp.manual_seed(11)
    y = F.dropout(t, 0.4)
    assert y.requires_grad
    y.backward(w)
    np.testing.assert_array_equal(t.grad, kernels.dropout_backward(w, 0.4, seed))


def test_functional_inplace(rng):
    x = data(rng, (5, 8))
    leaf = Tensor(x.copy(), requires_grad=True)
    state = gen_state()
    with pytest.raises(RuntimeError, match="in-place"):
        F.dropout(leaf, 0.5, inplace=True)
    with pytest.raises(TypeError):
        F.dropout(np.array(["a"]), 0.5)
    assert gen_state() == state  # a call that raises draws no seed
    # on a non-leaf: the data is overwritten, the gradient goes through both steps
    w = data(rng, (5, 8))
    seed = next_seed(3)
    fastmlp.manual_seed(3)
    h = leaf * 2.0
    out = F.dropout(h, 0.5, inplace=True)
    assert out is h
    np.testing.assert_array_equal(h.data, kernels.dropout_forward(x * np.float32(2), 0.5, seed))
    h.backward(w)
    np.testing.assert_array_equal(leaf.grad, kernels.dropout_backward(w, 0.5, seed) * np.float32(2))
    # a plain array is overwritten too
    a = x.copy()
    fastmlp.manual_seed(3)
    F.dropout(a, 0.5, inplace=True)
    np.testing.assert_array_equal(a, kernels.dropout_forward(x, 0.5, seed))


def test_inplace_over_a_saved_output_is_refused(rng):
    """ReLU saves its output; an in-place dropout over it makes backward() refuse (as
    PyTorch's saved-tensor version check)."""
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.5, inplace=True), nn.Linear(3, 2))
    out = m(data(rng, (5, 4)))
    with pytest.raises(RuntimeError, match="inplace"):
        out.backward(np.ones((5, 2), np.float32))


def test_module(rng):
    d = nn.Dropout()
    assert d.p == 0.5 and d.inplace is False
    assert repr(d) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout(0.25, True)) == "Dropout(p=0.25, inplace=True)"
    assert d.fused_role() == nn.FusedRole("dropout", p=0.5, spec={"inplace": False})
    for p in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"\bp\b"):
            nn.Dropout(p)
        with pytest.raises(ValueError, match=r"\bp\b"):
            F.dropout(np.ones(3), p)
    with pytest.raises(TypeError, match=r"\bp\b"):
        nn.Dropout("0.5")
    x = data(rng, (6, 10))
    seed = next_seed(21)
    fastmlp.manual_seed(21)
    np.testing.assert_array_equal(d(x).data, kernels.dropout_forward(x, 0.5, seed))
    d.eval()
    t = Tensor(x)
    state = gen_state()
    assert d(t) is t and gen_state() == state
    d.train()
    assert not np.array_equal(d(t).data, x)

    class Sub(nn.Dropout):
        pass

    assert Sub().fused_role().kind == "unsupported"


def test_manual_seed_makes_it_reproducible(rng):
    x = data(rng, (50, 20))
    m = nn.Dropout(0.3)
    fastmlp.manual_seed(1234)
    a = [m(x).data for _ in range(3)]
    fastmlp.manual_seed(1234)
    b = [m(x).data for _ in range(3)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], a[1])


def test_draw_seeds_is_successive_single_draws():
    """The fused epoch draws all seeds at once: numpy's array draw is the same stream as
    one draw per call."""
    fastmlp.manual_seed(99)
    many = F.dropout.__globals__["draw_seeds"](37)
    fastmlp.manual_seed(99)
    one_by_one = [next_draw() for _ in range(37)]
    assert [int(s) for s in many] == one_by_one


def next_draw():
    return int(fastmlp.nn.init.generator.integers(0, 2**64, dtype=np.uint64))


# --------------------------------------------------------------------------------------
# Fused epoch: bitwise the Python loop
# --------------------------------------------------------------------------------------

LOG = "fastmlp"

ARCHS = {
    # Linear, ReLU, Dropout between the layers
    "relu_dropout": lambda p: [nn.Flatten(), nn.Linear(20, 16), nn.ReLU(), nn.Dropout(p),
                               nn.Linear(16, 5)],
    # a dropout after a Linear without activation, after a ReLU, and after the last layer
    "everywhere": lambda p: [nn.Linear(20, 16), nn.Dropout(p), nn.Linear(16, 12), nn.ReLU(),
                             nn.Dropout(p / 2), nn.Linear(12, 5), nn.Dropout(p)],
}


def fused_and_loop(rng, arch, p, batch_size=32, n=203, drop_last=False, opt="sgd", eval_mode=False,
                   caplog=None):
    """Two identical models trained one epoch each: fastmlp.train_epoch (fused) and the
    Python loop, from the same manual_seed; returns both models, losses and the
    generator's next draw after each."""
    X = rng.standard_normal((n, 20)).astype(np.float32)
    y = rng.integers(0, 5, n)
    perm = rng.permutation(n)
    out = []
    for fused in (True, False):
        fastmlp.manual_seed(17)
        model = nn.Sequential(*ARCHS[arch](p))
        if eval_mode:
            model.eval()
        o = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if opt == "sgd"
             else optim.Adam(model.parameters(), lr=1e-2))
        fastmlp.manual_seed(1000)
        crit = nn.CrossEntropyLoss()
        if fused:
            loss = fastmlp.train_epoch(model, X, y, crit, o, batch_size=batch_size, perm=perm,
                                       drop_last=drop_last)
        else:
            loss = python_epoch(model, X, y, crit, o, perm, batch_size, drop_last)
        out.append((model, loss, next_draw()))
    return out


def assert_bitwise(a, b):
    (m1, l1, g1), (m2, l2, g2) = a, b
    assert l1 == l2 and np.isfinite(l1)
    assert g1 == g2  # the same number of seeds drawn
    for (n1, p1), (n2, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert np.array_equal(p1.data.view(np.uint32), p2.data.view(np.uint32)), n1


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_fused_bitwise_equals_python_loop(rng, isa, threads, arch, p, caplog):
    """n = 203 rows in batches of 32: six full steps and a short one of 11 rows. At 2
    threads the head runs beside the next batch's gather (the overlapped step)."""
    with caplog.at_level(logging.DEBUG, logger=LOG):
        a, b = fused_and_loop(rng, arch, p)
    assert "Python loop" not in caplog.text  # the fused path ran
    assert_bitwise(a, b)


@pytest.mark.parametrize("variant", ["drop_last", "batch_1", "batch_big", "adam"])
def test_fused_bitwise_variants(rng, variant, caplog):
    kw = dict(drop_last=dict(drop_last=True), batch_1=dict(batch_size=1, n=23),
              batch_big=dict(batch_size=512), adam=dict(opt="adam"))[variant]
    with caplog.at_level(logging.DEBUG, logger=LOG):
        a, b = fused_and_loop(rng, "everywhere", 0.3, **kw)
    assert "Python loop" not in caplog.text
    assert_bitwise(a, b)


def test_fused_eval_mode_trains_without_dropout(rng, caplog):
    """model.eval(): every Dropout is an identity (no seed drawn), in the fused epoch as in
    the loop (PyTorch would train without dropout too); the same as a model without them."""
    with caplog.at_level(logging.DEBUG, logger=LOG):
        a, b = fused_and_loop(rng, "everywhere", 0.5, eval_mode=True)
    assert "Python loop" not in caplog.text
    assert_bitwise(a, b)
    assert a[2] == int(np.random.default_rng(1000).integers(0, 2**64, dtype=np.uint64))


def test_fused_p_zero_is_no_dropout(rng):
    a, b = fused_and_loop(rng, "relu_dropout", 0.0)
    assert_bitwise(a, b)


def test_fused_1_vs_2_threads(rng, thread_count):
    runs = []
    for t in (1, 2):
        thread_count(t)
        runs.append(fused_and_loop(np.random.default_rng(5), "everywhere", 0.5)[0])
    assert_bitwise(*runs)


@pytest.mark.parametrize("layers, reason", [
    (lambda: [nn.Dropout(0.2), nn.Linear(20, 5)], "does not directly follow"),
    (lambda: [nn.Linear(20, 8), nn.Dropout(0.2), nn.Dropout(0.2), nn.Linear(8, 5)],
     "does not directly follow"),
    (lambda: [nn.Linear(20, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 5)],
     "does not directly follow a Linear"),
    (lambda: [nn.Linear(20, 8), nn.ReLU(), nn.Dropout(0.2, inplace=True), nn.Linear(8, 5)],
     "in-place"),
])
def test_fallbacks(rng, layers, reason, caplog):
    X = rng.standard_normal((40, 20)).astype(np.float32)
    y = rng.integers(0, 5, 40)
    model = nn.Sequential(*layers())
    o = optim.SGD(model.parameters(), lr=0.1)
    with caplog.at_level(logging.DEBUG, logger=LOG):
        try:
            fastmlp.train_epoch(model, X, y, nn.CrossEntropyLoss(), o, batch_size=16)
        except RuntimeError as e:  # the in-place case: the loop refuses, as PyTorch
            assert "inplace" in str(e)
    assert "running the Python loop" in caplog.text and reason in caplog.text


def test_inplace_dropout_after_linear_is_fused(rng, caplog):
    """In place right after a Linear (nothing saved is overwritten): fused, same bits."""
    X = rng.standard_normal((70, 20)).astype(np.float32)
    y = rng.integers(0, 5, 70)
    res = []
    for fused in (True, False):
        fastmlp.manual_seed(2)
        m = nn.Sequential(nn.Linear(20, 8), nn.Dropout(0.4, inplace=True), nn.Linear(8, 5))
        o = optim.SGD(m.parameters(), lr=0.1)
        fastmlp.manual_seed(3)
        with caplog.at_level(logging.DEBUG, logger=LOG):
            if fused:
                loss = fastmlp.train_epoch(m, X, y, nn.CrossEntropyLoss(), o, batch_size=16,
                                           perm=np.arange(70))
            else:
                loss = python_epoch(m, X, y, nn.CrossEntropyLoss(), o, np.arange(70), 16)
        res.append((m, loss, next_draw()))
    assert "Python loop" not in caplog.text
    assert_bitwise(*res)


def _core_args(rng):
    Ws = [rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((3, 6)).astype(np.float32)]
    bs = [np.zeros(6, np.float32), None]
    X = rng.standard_normal((10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    opt = {"kind": "sgd", "params": [dict(lr=0.1)] * 3}
    return Ws, bs, X, y, opt


@pytest.mark.parametrize("dropouts, exc, match", [
    ([None], ValueError, "dropouts"),
    ("x", ValueError, "dropouts"),
    ([{"p": 0.5}, None], TypeError, r"dropouts\[0\]"),
    ([{"p": 1.0, "seeds": np.zeros(3, np.uint64)}, None], ValueError, r"dropouts\[0\]\['p'\]"),
    ([None, {"p": -0.5, "seeds": np.zeros(3, np.uint64)}], ValueError, r"dropouts\[1\]\['p'\]"),
    ([{"p": 0.5, "seeds": np.zeros(3, np.int64)}, None], TypeError, r"dropouts\[0\]\['seeds'\]"),
    ([{"p": 0.5, "seeds": np.zeros(4, np.uint64)}, None], ValueError, r"dropouts\[0\]\['seeds'\]"),
    ([{"p": 0.5, "seeds": np.zeros((3, 1), np.uint64)}, None], ValueError, r"\['seeds'\]"),
])
def test_core_bad_dropouts_raise_before_any_change(rng, dropouts, exc, match):
    Ws, bs, X, y, opt = _core_args(rng)
    before = [w.copy() for w in Ws]
    with pytest.raises(exc, match=match):
        _core.train_epoch(Ws, bs, ["relu", None], X, y, np.arange(10), 4, False, opt,
                          loss="cross_entropy", dropouts=dropouts)
    for w, w0 in zip(Ws, before):
        np.testing.assert_array_equal(w, w0)


def test_core_dropout_step_matches_the_kernels(rng):
    """One step of _core.train_epoch with a dropout after layer 0 against the same step
    composed of the public kernels (sgemm, dropout_forward/backward, relu_backward,
    cross_entropy, sgd): bitwise."""
    Ws, bs, X, y, opt = _core_args(rng)
    W0, b0, W1 = Ws[0].copy(), bs[0].copy(), Ws[1].copy()
    seeds = np.array([123456789012345], np.uint64)
    _core.train_epoch(Ws, bs, ["relu", None], X, y, np.arange(10), 10, False, opt,
                      loss="cross_entropy", dropouts=[{"p": 0.5, "seeds": seeds}, None])
    h = kernels.sgemm(X, W0, trans_b=True, bias=b0, activation="relu")
    hd = kernels.dropout_forward(h, 0.5, int(seeds[0]))
    logits = kernels.sgemm(hd, W1, trans_b=True)
    _, d = kernels.cross_entropy(logits, y)
    dW1 = kernels.sgemm(d, hd, trans_a=True)
    dh = kernels.sgemm(d, W1)
    kernels.dropout_backward(dh, 0.5, int(seeds[0]), dh)
    kernels.relu_backward(dh, h, dh)
    dW0 = kernels.sgemm(dh, X, trans_a=True)
    db0 = kernels.bias_grad(dh)
    for p, g in ((W0, dW0), (b0, db0), (W1, dW1)):
        kernels.sgd_update(p, g, lr=0.1)
    np.testing.assert_array_equal(Ws[0], W0)
    np.testing.assert_array_equal(bs[0], b0)
    np.testing.assert_array_equal(Ws[1], W1)
