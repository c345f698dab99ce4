"""nn.init: PyTorch's initialisers, gains and fans; in-place writes, version bumps, the
shared generator, Module.apply, bad arguments.

Statistics: every draw test fills n = 20000 values and checks, for each of 50 seeds
(``SEEDS``: 50 consecutive seeds from the session's rng, so a run covers 50 and the
session seed varies them between runs), the sample mean and variance against the
distribution's: ``|mean - mu| <= 5 sigma / sqrt(n)`` and ``|s^2 - sigma^2| <= 5
sigma^2 sqrt((kappa - 1) / n)`` (the standard error of the sample variance, kurtosis
``kappa`` = 1.8 for a uniform, 3 for a normal). Each check fails by chance with
probability below 6e-7 (a 5-sigma two-sided normal tail, n is large enough for the CLT),
so the about 1000 checks of a run fail together with probability below 1e-3. Uniform
draws must also lie in ``[lo, hi]`` (rounded to float32) and reach within ``20 (hi - lo)
/ n`` of each end (missing it has probability ``e**-20``), so a wrong bound shows.
Before committing this file was also run over 50 session seeds:
``for s in $(seq 0 49); do FASTMLP_TEST_SEED=$s pytest tests/test_nn_init.py; done``.
"""
import math

import numpy as np
import pytest

import fastmlp
from fastmlp import nn
from fastmlp.nn import init

N_ROWS, N_COLS = 200, 100  # n = 20000 draws; fan_in = 100, fan_out = 200
N = N_ROWS * N_COLS


@pytest.fixture
def seeds(rng):
    base = int(rng.integers(0, 2**32))
    return range(base, base + 50)


def check_stats(x, mu, sigma, kappa):
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mu) <= 5 * sigma / math.sqrt(n), (x.mean(), mu)
    var = x.var(ddof=1)
    assert abs(var - sigma**2) <= 5 * sigma**2 * math.sqrt((kappa - 1) / n), (var, sigma**2)


def check_uniform(x, lo, hi):
    x = np.asarray(x).ravel()
    assert x.min() >= np.float32(lo) and x.max() <= np.float32(hi)
    slack = 20 * (hi - lo) / x.size
    assert x.min() <= lo + slack and x.max() >= hi - slack
    check_stats(x, (lo + hi) / 2, (hi - lo) / math.sqrt(12), 1.8)


def param():
    return nn.Parameter(np.empty((N_ROWS, N_COLS), np.float32))


# ------------------------------------------------------------- distributions --


def test_uniform_and_normal(seeds):
    for seed in seeds:
        init.manual_seed(seed)
        check_uniform(init.uniform_(param()).data, 0.0, 1.0)
        check_uniform(init.uniform_(param(), a=-3.0, b=0.5).data, -3.0, 0.5)
        check_stats(init.normal_(param()).data, 0.0, 1.0, 3.0)
        check_stats(init.normal_(param(), mean=2.0, std=0.1).data, 2.0, 0.1, 3.0)


def test_xavier(seeds):
    gain = init.calculate_gain("tanh")
    std = gain * math.sqrt(2.0 / (N_COLS + N_ROWS))
    for seed in seeds:
        init.manual_seed(seed)
        a = math.sqrt(3.0) * std
        check_uniform(init.xavier_uniform_(param(), gain=gain).data, -a, a)
        check_stats(init.xavier_normal_(param(), gain=gain).data, 0.0, std, 3.0)


@pytest.mark.parametrize("mode, fan", [("fan_in", N_COLS), ("fan_out", N_ROWS), ("FAN_IN", N_COLS)])
def test_kaiming(seeds, mode, fan):
    for seed in seeds:
        init.manual_seed(seed)
        # default: leaky_relu with a=0, i.e. gain sqrt(2): bound sqrt(6 / fan)
        b = math.sqrt(6.0 / fan)
        check_uniform(init.kaiming_uniform_(param(), mode=mode).data, -b, b)
        std = math.sqrt(2.0 / (1 + 0.2**2)) / math.sqrt(fan)
        check_stats(init.kaiming_normal_(param(), a=0.2, mode=mode).data, 0.0, std, 3.0)
        std = 1.0 / math.sqrt(fan)
        check_stats(init.kaiming_normal_(param(), mode=mode, nonlinearity="linear").data,
                    0.0, std, 3.0)


def test_draws_come_from_the_shared_generator_or_the_one_given():
    init.manual_seed(123)
    a = init.xavier_uniform_(np.empty((5, 7), np.float32))
    init.manual_seed(123)
    b = init.xavier_uniform_(np.empty((5, 7), np.float32))
    c = init.xavier_uniform_(np.empty((5, 7), np.float32))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    fastmlp.manual_seed(7)  # the package-level seed is the same generator
    d = init.normal_(np.empty(6, np.float32))
    e = init.normal_(np.empty(6, np.float32), generator=np.random.default_rng(7))
    np.testing.assert_array_equal(d, e)
    np.testing.assert_array_equal(
        d, np.random.default_rng(7).normal(0.0, 1.0, size=6).astype(np.float32))


# ----------------------------------------------------------- in place, versions --


def test_in_place_version_bump_and_return_value():
    p = nn.Parameter(np.empty((3, 4), np.float32))
    data = p.data
    for fn, args in [(init.uniform_, ()), (init.normal_, ()), (init.zeros_, ()),
                     (init.ones_, ()), (init.constant_, (0.25,)), (init.xavier_uniform_, ()),
                     (init.xavier_normal_, ()), (init.kaiming_uniform_, ()),
                     (init.kaiming_normal_, ())]:
        v = p._version
        assert fn(p, *args) is p
        assert p.data is data and p._version == v + 1, fn.__name__
    np.testing.assert_array_equal(init.constant_(p, 0.25).data, np.full((3, 4), 0.25))
    np.testing.assert_array_equal(init.zeros_(p).data, 0)
    np.testing.assert_array_equal(init.ones_(p).data, 1)
    arr = np.empty((2, 3), np.float64)
    assert init.ones_(arr) is arr and (arr == 1).all()


def test_module_apply_with_an_initialiser():
    init.manual_seed(0)
    m = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 10))
    before = [p._version for p in m.parameters()]
    assert m.apply(lambda mod: nn.init.xavier_uniform_(mod.weight)
                   if isinstance(mod, nn.Linear) else None) is m
    for lin, fan_sum in ((m[0], 50), (m[2], 30)):
        a = math.sqrt(6.0 / fan_sum)
        assert np.abs(lin.weight.data).max() <= np.float32(a)
    after = [p._version for p in m.parameters()]
    assert [a - b for a, b in zip(after, before)] == [1, 0, 1, 0]  # weights only
    m.apply(lambda mod: nn.init.zeros_(mod.bias) if isinstance(mod, nn.Linear) else None)
    assert all((lin.bias.data == 0).all() for lin in (m[0], m[2]))


# ---------------------------------------------------------------- fans, gains --


def test_fans():
    f = init._calculate_fan_in_and_fan_out
    assert f(np.empty((3, 5))) == (5, 3)  # weight (out, in)
    assert f(nn.Linear(7, 2).weight) == (7, 2)
    assert f(np.empty((4, 3, 2, 5))) == (3 * 10, 4 * 10)  # receptive field 2*5
    assert f(np.empty((4, 3, 1))) == (3, 4)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        f(np.empty(5))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(nn.Linear(3, 2).bias)


def test_gains():
    g = init.calculate_gain
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                 "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        assert g(name) == 1
    assert g("tanh") == 5.0 / 3
    assert g("relu") == math.sqrt(2.0)
    assert g("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert g("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert g("leaky_relu", 0) == math.sqrt(2.0)
    assert g("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        g("gelu")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        g("leaky_relu", True)
    with pytest.raises(ValueError, match="negative_slope 0.1 not a valid number"):
        g("leaky_relu", "0.1")


def test_empty_tensors_are_a_no_op():
    e = nn.Parameter(np.empty((0, 4), np.float32))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(e) is e
    assert init.xavier_uniform_(np.empty((0, 0), np.float32)).shape == (0, 0)
    assert init.uniform_(e) is e


# --------------------------------------------------------------- bad arguments --


BAD = [
    (lambda t: init.uniform_(t, a=1.0, b=0.0), ValueError, r"from\(a\)=1.0 > to\(b\)=0.0"),
    (lambda t: init.uniform_(t, a="0"), TypeError, "a must be a real number"),
    (lambda t: init.normal_(t, std=-1.0), ValueError, "normal expects std >= 0.0"),
    (lambda t: init.normal_(t, mean=None), TypeError, "mean must be a real number"),
    (lambda t: init.normal_(t, generator=42), TypeError, "generator must be"),
    (lambda t: init.constant_(t, "x"), TypeError, "val must be a real number"),
    (lambda t: init.xavier_uniform_(t, gain=None), TypeError, "gain must be a real number"),
    (lambda t: init.kaiming_uniform_(t, mode="fan_avg"), ValueError, "Mode fan_avg not supported"),
    (lambda t: init.kaiming_normal_(t, mode=1), TypeError, "mode must be a string"),
    (lambda t: init.kaiming_normal_(t, nonlinearity="swish"), ValueError,
     "Unsupported nonlinearity swish"),
    (lambda t: init.kaiming_uniform_(t, a="x"), ValueError, "negative_slope x not a valid"),
    (lambda t: init.zeros_([1.0, 2.0]), TypeError, "tensor must be a fastmlp Tensor"),
    (lambda t: init.ones_(np.zeros((2, 2), np.int32)), TypeError, "floating-point"),
    (lambda t: init.ones_(np.broadcast_to(np.zeros(2), (2, 2))), ValueError, "read-only"),
]


@pytest.mark.parametrize("make, exc, msg", BAD, ids=[f"{i}" for i in range(len(BAD))])
def test_bad_arguments_raise_naming_them(make, exc, msg):
    t = nn.Parameter(np.zeros((3, 4), np.float32))
    with pytest.raises(exc, match=msg):
        make(t)
    assert t._version == 0 and (t.data == 0).all()  # nothing written
