"""sgemm against the float64 reference on every ISA path, at 1 and 2 threads.

Tolerance: for float32 inputs the exact product is computed by the reference
in float64; a float32 dot product of length K accumulated in any order is
within gamma_K = K*u (u = 2**-24) of exact relative to sum|a_i*b_i|
(Higham, Accuracy and Stability, 3.1), and the epilogue (alpha, beta*C, bias,
ReLU) adds a few more roundings. So we check elementwise
    |C - ref| <= (K + 4) * u * (|alpha| |op(A)| @ |op(B)| + |beta C| + |bias|) + tiny
which cannot fail for a correct kernel and catches any wrong or missing term.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmlp
from fastmlp import kernels, reference
from helpers import U

# Shapes (M, K, N): 1, 2, primes, not multiples of any MR/NR (4/6/8, 16/32),
# crossing KC=256 and 512, NC=256 and 512, MC=512..1024 and the 4096-column
# pass, K >> M,N.
SHAPES = [
    (1, 1, 1), (2, 3, 2), (7, 13, 5), (1, 257, 1), (17, 31, 33), (9, 4099, 3),
    (64, 784, 128), (65, 785, 129), (64, 128, 10), (97, 300, 530), (1031, 37, 19),
    (3, 5, 4101), (0, 5, 3), (5, 0, 3), (5, 3, 0), (0, 0, 0),
    # a narrow N (logits) with enough rows for 2 threads: they split M, and
    # with trans_b each packs its own copy of the single B panel
    (256, 1030, 10),
    # small: the direct path with M > N (2N with a transposed B) at 2 threads splits M
    # (each thread packing its own copy of a transposed B), else N
    (784, 64, 128), (521, 33, 100), (97, 40, 300),
]

# Above the direct-path limit (32M multiply-adds): the packed BLIS path, with
# K crossing KC=256 and 512 (520), N crossing NC=256 and 512 (and the
# 4096-column pass), M crossing MC.
PACKED_SHAPES = [(300, 520, 270), (129, 300, 1100), (1030, 100, 330), (41, 200, 4100)]


def make(rng, M, K, N, trans_a, trans_b):
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    return a, b


def bound(a, b, c, bias, alpha, beta, trans_a, trans_b):
    A = np.abs(a.astype(np.float64).T if trans_a else a.astype(np.float64))
    B = np.abs(b.astype(np.float64).T if trans_b else b.astype(np.float64))
    K = A.shape[1]
    mag = abs(alpha) * (A @ B)
    if c is not None and beta != 0:
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    if bias is not None:
        mag = mag + np.abs(bias.astype(np.float64))
    return (K + 4) * U * mag + 1e-30


def check(rng, M, K, N, trans_a, trans_b, alpha=1.0, beta=0.0, use_bias=False, activation=None):
    a, b = make(rng, M, K, N, trans_a, trans_b)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32) if use_bias else None
    c = c0.copy()
    out = kernels.sgemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
                        bias=bias, activation=activation)
    assert out is c
    ref = reference.sgemm(a, b, c0, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
                          bias=bias, activation=activation)
    tol = bound(a, b, c0, bias, alpha, beta, trans_a, trans_b)
    err = np.abs(c.astype(np.float64) - ref)
    assert c.dtype == np.float32 and c.shape == (M, N)
    assert np.all(err <= tol), f"max err {err.max()} vs tol at that point {tol.flat[err.argmax()]}"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
def test_sgemm_shapes(rng, isa, threads, shape, trans_a, trans_b):
    check(rng, *shape, trans_a, trans_b)


@pytest.mark.parametrize("shape", PACKED_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
def test_sgemm_packed_path(rng, isa, threads, shape, trans_a, trans_b):
    assert shape[0] * shape[1] * shape[2] > 32 * 1024 * 1024
    check(rng, *shape, trans_a, trans_b, alpha=0.75, beta=0.5, use_bias=True, activation="relu")


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.5, 0.3), (2.0, -1.0), (0.0, 0.7), (0.0, 0.0)])
@pytest.mark.parametrize("use_bias,relu", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("shape", [(1, 1, 1), (13, 300, 37), (64, 784, 128)],
                         ids=lambda s: "x".join(map(str, s)))
def test_sgemm_alpha_beta_epilogue(rng, isa, threads, shape, alpha, beta, use_bias, relu):
    check(rng, *shape, trans_a=bool(rng.integers(2)), trans_b=bool(rng.integers(2)), alpha=alpha,
          beta=beta, use_bias=use_bias, activation="relu" if relu else None)


def test_sgemm_k_zero_gives_beta_c_plus_bias(rng, isa):
    c = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    want = np.maximum(0.5 * c + bias, 0)
    kernels.sgemm(np.ones((4, 0), np.float32), np.ones((0, 3), np.float32), c, beta=0.5,
                  bias=bias, activation="relu")
    np.testing.assert_allclose(c, want, rtol=1e-6)


@pytest.mark.parametrize("shape", [(5, 7, 3), (64, 784, 128), (130, 300, 70)])
def test_beta_zero_never_reads_c(rng, isa, threads, shape):
    M, K, N = shape
    a, b = make(rng, M, K, N, False, False)
    c = np.full((M, N), np.nan, np.float32)
    kernels.sgemm(a, b, c, beta=0.0)
    assert np.isfinite(c).all()
    c[:] = np.inf
    kernels.sgemm(a, b, c, alpha=0.0, beta=0.0)  # alpha == 0: A, B not read either
    assert (c == 0).all()


def test_alpha_zero_does_not_read_a_b(rng):
    a = np.full((4, 5), np.nan, np.float32)
    b = np.full((5, 3), np.nan, np.float32)
    c = rng.standard_normal((4, 3)).astype(np.float32)
    want = 2 * c
    kernels.sgemm(a, b, c, alpha=0.0, beta=2.0)
    np.testing.assert_array_equal(c, want)


def test_relu_propagates_nan_like_numpy(isa):
    a = np.array([[np.nan, 1.0]], np.float32)
    b = np.array([[1.0], [-5.0]], np.float32)
    out = kernels.sgemm(a, b, activation="relu")
    assert np.isnan(out[0, 0])


@pytest.mark.parametrize("shape", [(64, 784, 128), (333, 1000, 517), (1100, 300, 40), (784, 64, 128),
                                   (521, 33, 100)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_bitwise_identical_at_1_and_2_threads(rng, isa, thread_count, shape, trans_a, trans_b):
    a, b = make(rng, *shape, trans_a, trans_b)
    bias = rng.standard_normal(shape[2]).astype(np.float32)
    c0 = rng.standard_normal((shape[0], shape[2])).astype(np.float32)
    outs = []
    for n in (1, 2):
        thread_count(n)
        c = c0.copy()
        kernels.sgemm(a, b, c, alpha=0.7, beta=0.3, trans_a=trans_a, trans_b=trans_b, bias=bias,
                      activation="relu")
        outs.append(c)
    assert np.array_equal(outs[0], outs[1])


def test_matches_naive_triple_loop(rng, isa):
    """The C++ triple loop is the in-core reference: same contract, same answers within rounding."""
    a, b = make(rng, 37, 291, 45, True, False)
    bias = rng.standard_normal(45).astype(np.float32)
    fast = kernels.sgemm(a, b, trans_a=True, bias=bias, activation="relu", alpha=1.5)
    naive = fastmlp._core.sgemm_naive(a, b, None, 1.5, 0.0, True, False, bias, "relu")
    np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)


def test_views_without_copy_and_strided_inputs(rng, isa):
    base = rng.standard_normal((40, 60)).astype(np.float32)
    b = rng.standard_normal((30, 20)).astype(np.float32)
    views = {
        "F-order (x.T)": base.T[:30, :],        # (30, 40) transposed storage, read as trans
        "row slice": base[5:25, 10:40],           # (20, 30), row stride 60
        "step slice": base[::2, ::2][:, :30],     # non-unit inner stride -> converted
        "float64": base[:20, :30].astype(np.float64),
        "list": base[:3, :30].tolist(),
    }
    for name, a in views.items():
        a_arr = np.asarray(a, np.float32)
        if a_arr.shape[1] != 30:
            a_arr = a_arr.T
            a = a_arr
        got = kernels.sgemm(a, b)
        ref = reference.sgemm(np.asarray(a_arr), b)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(M=st.integers(0, 70), K=st.integers(0, 300), N=st.integers(0, 70),
       trans_a=st.booleans(), trans_b=st.booleans(), bias=st.booleans(), relu=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_sgemm_property(M, K, N, trans_a, trans_b, bias, relu, seed):
    rng = np.random.default_rng(seed)
    for isa in fastmlp.available_cpu_capabilities():
        fastmlp._set_cpu_capability(isa)
        try:
            check(rng, M, K, N, trans_a, trans_b, alpha=1.0, beta=0.5, use_bias=bias,
                  activation="relu" if relu else None)
        finally:
            fastmlp._set_cpu_capability(fastmlp.available_cpu_capabilities()[-1])


# ------------------------------------------------------------ bad input ----
def test_bad_inputs_raise_clear_errors(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"b: op\(b\) must be \(K, N\) with K = 5"):
        kernels.sgemm(a, b.T)
    with pytest.raises(ValueError, match=r"a: expected a 2-D array"):
        kernels.sgemm(a[0], b)
    with pytest.raises(TypeError, match=r"a: expected a real numeric array"):
        kernels.sgemm(np.array([["x"]]), b)
    with pytest.raises(TypeError, match=r"b: expected an array"):
        kernels.sgemm(a, None)
    with pytest.raises(ValueError, match=r"c: expected shape \(4, 3\), got \(3, 4\)"):
        kernels.sgemm(a, b, np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match=r"c: expected dtype float32, got float64"):
        kernels.sgemm(a, b, np.zeros((4, 3)))
    with pytest.raises(TypeError, match=r"c: expected a numpy.ndarray"):
        kernels.sgemm(a, b, [[0.0] * 3] * 4)
    with pytest.raises(ValueError, match=r"c: expected a C-contiguous"):
        kernels.sgemm(a, b, np.zeros((3, 4), np.float32).T)
    ro = np.zeros((4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"c: array is read-only"):
        kernels.sgemm(a, b, ro)
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\)"):
        kernels.sgemm(a, b, bias=np.zeros(4, np.float32))
    sq = rng.standard_normal((6, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"c: must not share memory"):
        kernels.sgemm(sq, sq, sq, beta=1.0)


def test_thread_count_validation():
    with pytest.raises(ValueError, match="num_threads"):
        fastmlp.set_num_threads(0)
    with pytest.raises(ValueError, match="num_threads"):
        fastmlp.set_num_threads(-3)
    with pytest.raises(TypeError, match="num_threads"):
        fastmlp.set_num_threads("2")
    with pytest.raises(TypeError, match="num_threads"):
        fastmlp.set_num_threads(1.5)


def test_cpu_capability_switch_validation():
    with pytest.raises(ValueError, match="expected 'avx512', 'avx2' or 'generic'"):
        fastmlp._set_cpu_capability("sse9")
    if fastmlp.available_cpu_capabilities()[-1] != "avx512":
        with pytest.raises(ValueError, match="not supported by this CPU"):
            fastmlp._set_cpu_capability("avx512")


def _run(code, **env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          timeout=120)


@pytest.mark.parametrize("isa", ISAS := fastmlp.available_cpu_capabilities())
def test_env_var_forces_isa_path(isa):
    code = ("import fastmlp, numpy as np; from fastmlp import kernels;"
            "a=np.arange(12, dtype=np.float32).reshape(3,4); print(fastmlp.cpu_capability(),"
            " float(kernels.sgemm(a, a.T).sum()))")
    r = _run(code, FASTMLP_CPU_CAPABILITY=isa)
    assert r.returncode == 0, r.stderr
    name, total = r.stdout.split()
    assert name == isa
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert float(total) == (a @ a.T).sum()


def test_env_var_bad_value_is_an_error_not_a_crash():
    r = _run("import fastmlp", FASTMLP_CPU_CAPABILITY="avx9000")
    assert r.returncode == 1
    assert "FASTMLP_CPU_CAPABILITY='avx9000'" in r.stderr and "ValueError" in r.stderr


def test_omp_num_threads_respected_and_visible_to_threadpoolctl():
    code = ("import fastmlp; print(fastmlp.get_num_threads());"
            "from threadpoolctl import threadpool_info, threadpool_limits;"
            "libs=[i for i in threadpool_info() if i['user_api']=='openmp' and 'gomp' in i['prefix']];"
            "print(len(libs));"
            "threadpool_limits(1, user_api='openmp'); print(fastmlp.get_num_threads())")
    r = _run(code, OMP_NUM_THREADS="2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "1", "1"]


def test_new_outputs_are_cache_line_aligned(rng):
    """Arrays the kernels allocate start on a 64-byte line (NumPy's own are 16-byte
    aligned), are ordinary writeable C-contiguous float32 arrays, and own their memory
    through their base."""
    a = rng.standard_normal((33, 17)).astype(np.float32)
    outs = [kernels.sgemm(a, a, trans_b=True), kernels.relu_forward(a),
            kernels.relu_backward(a, a), kernels.bias_grad(a),
            kernels.cross_entropy(a, rng.integers(0, 17, 33))[1], kernels.mse_loss(a, a)[1]]
    for out in outs:
        assert out.ctypes.data % 64 == 0
        assert out.dtype == np.float32 and out.flags.c_contiguous and out.flags.writeable
        assert out.base is not None
    c = outs[0]
    want = a.astype(np.float64) @ a.astype(np.float64).T
    del outs, a
    np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4)  # still valid: the base keeps it alive
    c[...] = 1.0
    assert c.sum() == c.size


# ------------------------------------------------------------ activation --


@pytest.mark.parametrize("fn", [kernels.sgemm, reference.sgemm])
def test_activation_relu_and_deprecated_relu_alias(rng, fn):
    """activation="relu" is max(., 0); relu=True is the same, with a DeprecationWarning."""
    a = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal((7, 3)).astype(np.float32)
    plain = fn(a, b)
    got = fn(a, b, activation="relu")
    np.testing.assert_array_equal(got, np.maximum(plain, 0))
    with pytest.warns(DeprecationWarning, match="activation='relu'"):
        alias = fn(a, b, relu=True)
    np.testing.assert_array_equal(alias, got)
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(fn(a, b, relu=False), plain)


@pytest.mark.parametrize("fn", [kernels.sgemm, reference.sgemm])
def test_activation_bad_names(fn):
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"activation: expected .*'relu'.*got 'swish'"):
        fn(a, a, activation="swish")
    with pytest.raises(TypeError, match="activation: expected"):
        fn(a, a, activation=True)
    with pytest.raises(TypeError, match="not both"):
        fn(a, a, activation="relu", relu=True)


def test_sgemm_signature_matches_reference():
    import inspect
    assert inspect.signature(kernels.sgemm) == inspect.signature(reference.sgemm)


# Every activation as an epilogue: (spec for sgemm, the stem kernel, its keyword params).
EPILOGUES = [
    ("identity", kernels.identity_forward, {}),
    ("leaky_relu", kernels.leaky_relu_forward, {}),
    ({"name": "leaky_relu", "negative_slope": 0.2}, kernels.leaky_relu_forward, {"negative_slope": 0.2}),
    ("tanh", kernels.tanh_forward, {}),
    ("sigmoid", kernels.sigmoid_forward, {}),
    ("gelu", kernels.gelu_forward, {}),
    ({"name": "gelu", "approximate": "tanh"}, kernels.gelu_forward, {"approximate": "tanh"}),
    ({"name": "gelu", "approximate": "none"}, kernels.gelu_forward, {}),
    ("silu", kernels.silu_forward, {}),
    ("elu", kernels.elu_forward, {}),
    ({"name": "elu", "alpha": 0.5}, kernels.elu_forward, {"alpha": 0.5}),
    ("softplus", kernels.softplus_forward, {}),
    ({"name": "softplus", "beta": 2.0, "threshold": 3.0}, kernels.softplus_forward, {"beta": 2.0, "threshold": 3.0}),
]
# Direct path (small), packed path with several K blocks (K > every KC), the
# strips path, edge tiles in M and N, N < 8 and K == 0 (scale_c).
EPILOGUE_SHAPES = [(1, 1, 1), (7, 13, 5), (37, 600, 45), (130, 70, 300), (64, 1100, 33), (5, 0, 19), (300, 260, 70)]


@pytest.mark.parametrize("spec,fwd,params", EPILOGUES, ids=lambda v: str(v) if isinstance(v, (str, dict)) else "")
@pytest.mark.parametrize("shape", EPILOGUE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_epilogue_is_linear_then_activation_bitwise(rng, isa, threads, spec, fwd, params, shape):
    """sgemm(activation=spec) == sgemm() then <stem>_forward, bit for bit (the contract's
    invariant: same vector code, an element's result independent of its position)."""
    M, K, N = shape
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = (rng.standard_normal((K, N)) * 0.3).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    for beta in (0.0, 0.5):
        plain = kernels.sgemm(a, b, c0.copy(), beta=beta, bias=bias)
        fused = kernels.sgemm(a, b, c0.copy(), beta=beta, bias=bias, activation=spec)
        want = fwd(plain, **params)
        assert np.array_equal(fused.view(np.uint32), want.view(np.uint32)), (spec, shape, beta)
    bt = np.ascontiguousarray(b.T)
    fused_t = kernels.sgemm(a, bt, trans_b=True, bias=bias, activation=spec)
    assert np.array_equal(fused_t.view(np.uint32),
                          fwd(kernels.sgemm(a, bt, trans_b=True, bias=bias), **params).view(np.uint32))


@pytest.mark.parametrize("spec,fwd,params", EPILOGUES[:7], ids=lambda v: str(v) if isinstance(v, (str, dict)) else "")
def test_epilogue_matches_reference(rng, isa, spec, fwd, params):
    """Against reference.sgemm with the same activation: the GEMM's bound (K+4)U|.|
    propagated through the activation (|f'| <= 1.2 for these) plus the activation
    kernel's own bound (at most 8U|y| + 2U|z|, tests/test_<stem>.py)."""
    a = rng.standard_normal((33, 70)).astype(np.float32)
    b = rng.standard_normal((70, 21)).astype(np.float32)
    got = kernels.sgemm(a, b, activation=spec).astype(np.float64)
    ref = reference.sgemm(a, b, activation=spec)
    z = reference.sgemm(a, b)
    tol = 1.2 * bound(a, b, None, None, 1.0, 0.0, False, False) + 8 * U * np.abs(ref) + 2 * U * np.abs(z)
    assert np.all(np.abs(got - ref) <= tol)


def test_sgemm_naive_takes_every_activation(rng):
    a = rng.standard_normal((9, 11)).astype(np.float32)
    b = rng.standard_normal((11, 6)).astype(np.float32)
    for spec, fwd, params in EPILOGUES:
        naive = fastmlp._core.sgemm_naive(a, b, None, 1.0, 0.0, False, False, None, spec)
        plain = fastmlp._core.sgemm_naive(a, b, None, 1.0, 0.0, False, False, None, None)
        np.testing.assert_array_equal(naive, fwd(plain, **params))


@pytest.mark.parametrize("fn", [kernels.sgemm, reference.sgemm])
def test_activation_bad_specs(fn):
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="activation"):
        fn(a, a, activation={"negative_slope": 0.1})  # no name
    with pytest.raises(ValueError, match="activation"):
        fn(a, a, activation={"name": "tanh", "alpha": 1.0})  # a key tanh does not take
    with pytest.raises(ValueError, match="activation"):
        fn(a, a, activation={"name": "elu", "beta": 1.0})


def test_activation_bad_values_name_the_key():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"activation\['alpha'\]"):
        kernels.sgemm(a, a, activation={"name": "elu", "alpha": float("nan")})
    with pytest.raises(ValueError, match=r"activation\['beta'\]"):
        kernels.sgemm(a, a, activation={"name": "softplus", "beta": 0.0})
    with pytest.raises(TypeError, match=r"activation\['negative_slope'\]"):
        kernels.sgemm(a, a, activation={"name": "leaky_relu", "negative_slope": "x"})
    with pytest.raises(ValueError, match=r"activation\['approximate'\]"):
        kernels.sgemm(a, a, activation={"name": "gelu", "approximate": "erf"})
    with pytest.raises(TypeError, match="activation"):
        kernels.sgemm(a, a, activation={"name": 3})


# ------------------------------- blk: every CPU class, blocking overrides ----
# Each class's micro-kernel and strategy (fastmlp._set_cpu_class) on the ISA
# paths this CPU runs (each distinct table cell once), with the cache model's blocking and with overrides down
# to MC = KC = NC = 1 (rounded up to the tile: one micro-panel per block, one k
# per pass), odd ones and huge ones. Shapes cross the direct/packed paths.
CPU_CLASSES = fastmlp.gemm_config()["cpu_classes"]
# (blocking, shapes): the tiny blockings on shapes whose block counts stay small
# (a packed block costs barriers; 129x37x7100 is packed with K < 40).
CASES = [(None, [(1, 1, 1), (17, 31, 33), (64, 128, 10), (97, 300, 530), (300, 520, 270),
                 (1030, 100, 330), (41, 200, 4100)]),
         ("1,1,1", [(1, 1, 1), (17, 31, 33), (64, 128, 10), (129, 37, 7100)]),
         ("13,5,40", [(17, 31, 33), (97, 300, 530), (129, 37, 7100)]),
         ("8,16,32", [(97, 300, 530), (300, 520, 270)]),
         ("65536,4096,65536", [(64, 128, 10), (300, 520, 270), (41, 200, 4100)])]
BLOCKING_SHAPES = [(b, s) for b, shapes in CASES for s in shapes]




def _distinct_cells():
    """(class, ISA path) pairs this CPU runs, one per distinct table cell (micro-kernel,
    operand source, packing): the other pairs run the same code."""
    seen, out = set(), []
    before = fastmlp.gemm_config()["cpu_class"], fastmlp.cpu_capability()
    try:
        for cls in CPU_CLASSES:
            for isa in fastmlp.available_cpu_capabilities():
                fastmlp._set_cpu_class(cls)
                fastmlp._set_cpu_capability(isa)
                g = fastmlp.gemm_config()
                key = (g["micro_kernel"], g["operands_from"], g["pack_a"], g["pack_b_align"],
                       g["direct_max_flops"])
                if key not in seen:
                    seen.add(key)
                    out.append((cls, isa))
    finally:
        fastmlp._set_cpu_class(before[0])
        fastmlp._set_cpu_capability(before[1])
    return out


@pytest.fixture(params=_distinct_cells(), ids=lambda c: f"{c[0]}-{c[1]}")
def cpu_class(request):
    previous = fastmlp.gemm_config()["cpu_class"], fastmlp.cpu_capability()
    fastmlp._set_cpu_class(request.param[0])
    fastmlp._set_cpu_capability(request.param[1])
    yield request.param
    fastmlp._set_cpu_class(previous[0])
    fastmlp._set_cpu_capability(previous[1])


@pytest.mark.parametrize("blocking,shape", BLOCKING_SHAPES,
                         ids=[f"{b or 'model'}-{'x'.join(map(str, s))}" for b, s in BLOCKING_SHAPES])
def test_sgemm_every_class_and_blocking(rng, cpu_class, thread_count, blocking, shape):
    """Within the module docstring's bound at 1 thread, and bitwise the same at 2: the
    blocking splits K the same way whatever the thread count."""
    fastmlp._core.set_gemm_blocking(blocking)
    try:
        _class_case(rng, thread_count, shape)
    finally:
        fastmlp._core.set_gemm_blocking(None)


def _class_case(rng, thread_count, shape, trans=None):
    trans_a, trans_b = trans if trans is not None else (bool(rng.integers(2)), bool(rng.integers(2)))
    M, K, N = shape
    a, b = make(rng, M, K, N, trans_a, trans_b)
    bias = rng.standard_normal(N).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    outs = []
    for n in (1, 2):
        thread_count(n)
        c = c0.copy()
        kernels.sgemm(a, b, c, alpha=0.75, beta=0.5, trans_a=trans_a, trans_b=trans_b, bias=bias,
                      activation="relu")
        outs.append(c)
    ref = reference.sgemm(a, b, c0, alpha=0.75, beta=0.5, trans_a=trans_a, trans_b=trans_b,
                          bias=bias, activation="relu")
    tol = bound(a, b, c0, bias, 0.75, 0.5, trans_a, trans_b)
    err = np.abs(outs[0].astype(np.float64) - ref)
    assert np.all(err <= tol), f"max err {err.max()} vs tol at that point {tol.flat[err.argmax()]}"
    assert np.array_equal(outs[0].view(np.uint32), outs[1].view(np.uint32))


# ---------------------------------- gemm: every class's packed path ----
# 131x517x1001 is 67.8 M multiply-adds, above every class's direct-path limit
# (the shapes above stay on the direct path of avx512_2fma, whose limit is
# 64 M), so each class's packed path runs with its A packing: the per-ISA
# sgemm_pack_a_* for a non-transposed A (131 rows: a partial last micro-panel
# of every MR; K = 517 and the 5-deep blocks of "13,5,40": partial 8- and
# 16-deep transposes) and the portable loop for a transposed one.
@pytest.mark.parametrize("blocking", [None, "13,5,40"], ids=["model", "13,5,40"])
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
def test_sgemm_every_class_packed_path(rng, cpu_class, thread_count, blocking, trans_a):
    """Within the module docstring's bound at 1 thread, and bitwise the same at 2."""
    M, K, N = 131, 517, 1001
    assert M * K * N > fastmlp.gemm_config()["direct_max_flops"]
    fastmlp._core.set_gemm_blocking(blocking)
    try:
        _class_case(rng, thread_count, (M, K, N), trans=(trans_a, False))
    finally:
        fastmlp._core.set_gemm_blocking(None)



# ------------------------------------------- small: the raw _core.sgemm call --


def test_core_sgemm_fastcall_arguments():
    """_core.sgemm (a METH_FASTCALL function, not a pybind11 def) takes the same names and
    defaults positionally or by keyword, and names a wrong argument in its TypeError."""
    from fastmlp import _core
    rng = np.random.default_rng(3)
    a = rng.standard_normal((7, 5)).astype(np.float32)
    b = rng.standard_normal((3, 5)).astype(np.float32)
    want = kernels.sgemm(a, b, trans_b=True, alpha=2.0)
    np.testing.assert_array_equal(_core.sgemm(a, b, None, 2.0, 0.0, False, True, None, None), want)
    np.testing.assert_array_equal(_core.sgemm(b=b, a=a, trans_b=True, alpha=2), want)
    c = np.full((7, 3), np.nan, np.float32)
    assert _core.sgemm(a, b, c, trans_b=True, alpha=2.0) is c
    np.testing.assert_array_equal(c, want)
    for kw, needle in [({"alpha": "2"}, "alpha: expected a float"), ({"beta": None}, "beta: expected a float"),
                       ({"alpha": True}, "alpha: expected a float"), ({"trans_b": 1}, "trans_b: expected a bool"),
                       ({"bogus": 1}, "unexpected keyword argument 'bogus'"), ({"a": a}, "multiple values")]:
        with pytest.raises(TypeError, match=needle):
            _core.sgemm(a, b, **kw)
    with pytest.raises(TypeError, match="missing required argument 'b'"):
        _core.sgemm(a)
    with pytest.raises(TypeError, match="at most 9 arguments"):
        _core.sgemm(a, b, None, 1.0, 0.0, False, True, None, None, None)
    with pytest.raises(ValueError, match="b: op"):
        _core.sgemm(a, b)
