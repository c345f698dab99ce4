"""The vector transcendentals (csrc/ops/activation_vecmath.h) within their stated ulp
bounds against float64, on every ISA path, over a strided sweep of the whole float32 line.

The sweep is every 65521st bit pattern from three offsets (about 200k inputs per function
and path, both signs, subnormals, the overflow/underflow regions) plus the specials
(+-0, +-inf, NaN, FLT_MIN, FLT_MAX, the exp overflow edges). bench/ulp_sweep.py runs
the same classification densely (bench/results/README.md#activation-ulp); the bounds below
are its measured maxima over all paths rounded up (by at most 0.06 ulp), so this test fails if a
change makes any function less accurate than documented. Results that are subnormal in
float64 may be flushed to zero and subnormal inputs read as zero (FTZ/DAZ): see
ulp_sweep.ulp_errors.
"""
import pathlib
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import _core

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))
import ulp_sweep  # noqa: E402

# Max ulp error on any path (kernels.h / kernels.py docstrings state the same numbers).
BOUNDS = {"exp": 1.0, "expm1": 1.45, "log1p": 0.85, "tanh": 1.55, "erf": 1.65, "sigmoid": 1.9}


@pytest.mark.parametrize("fn", list(BOUNDS))
def test_ulp_bound(isa, fn):
    x = np.concatenate([ulp_sweep.inputs(65521, start) for start in (0, 21841, 43681)])
    worst, bad, _ = ulp_sweep.ulp_errors(fn, x)
    assert bad == 0, f"{fn} on {isa}: {bad} results of the wrong class (NaN/inf/flush)"
    assert worst <= BOUNDS[fn], f"{fn} on {isa}: {worst:.3f} ulp > {BOUNDS[fn]}"


@pytest.mark.parametrize("fn", list(BOUNDS))
def test_tails_and_positions(isa, fn):
    """An element's result never depends on where it sits or on n: each value computed
    alone (n = 1, the tail path) equals its value inside a long vector."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(1000) * 10).astype(np.float32)
    full = _core._vecmath(fn, x)
    for i in range(0, 1000, 37):
        for m in (1, 3, 9, 17):
            assert np.array_equal(_core._vecmath(fn, x[i:i + m]).view(np.uint32), full[i:i + m].view(np.uint32))


def test_denormals_flushed(isa):
    """FTZ/DAZ inside kernels: a subnormal input reads as +-0 in arithmetic (exp(tiny) = 1,
    tanh(tiny) = erf(tiny) = 0), except that expm1 and log1p return x itself for
    |x| < 2^-24 (a select, not arithmetic: the subnormal passes through, which is the
    correctly rounded result); results below FLT_MIN come out 0."""
    tiny = np.array([1e-40, -1e-40, 1e-45], np.float32)
    assert np.all(_core._vecmath("exp", tiny) == 1.0)
    for fn in ("tanh", "erf"):
        y = _core._vecmath(fn, tiny)
        assert np.all(y == 0.0), (fn, y)
    for fn in ("log1p", "expm1"):
        y = _core._vecmath(fn, tiny)
        assert np.array_equal(y.view(np.uint32), tiny.view(np.uint32)), (fn, y)
    assert _core._vecmath("exp", np.array([-100.0], np.float32))[0] == 0.0  # 3.7e-44 is subnormal
    assert _core._vecmath("sigmoid", np.array([-100.0], np.float32))[0] == 0.0


def test_avx512_equals_avx2_bitwise():
    isas = fastmlp.available_cpu_capabilities()
    if not {"avx512", "avx2"} <= set(isas):
        pytest.skip("needs AVX-512 and AVX2")
    x = ulp_sweep.inputs(9973)
    prev = fastmlp.cpu_capability()
    try:
        res = {}
        for isa in ("avx512", "avx2"):
            fastmlp._set_cpu_capability(isa)
            res[isa] = [_core._vecmath(fn, x) for fn in BOUNDS]
    finally:
        fastmlp._set_cpu_capability(prev)
    for a, b, fn in zip(res["avx512"], res["avx2"], BOUNDS):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), fn


def test_vecmath_bad_name():
    with pytest.raises(ValueError, match="fn"):
        _core._vecmath("cos", np.zeros(3, np.float32))
