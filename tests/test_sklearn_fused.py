"""The fused-epoch options the scikit-learn estimators use (issue 11), on every ISA path
and at 1 and 2 threads:

- Adam's ``eps_bias_corrected`` (``fastmlp.sklearn._mlp._SkAdam``): the Python step and
  the fused epoch give the same bits, and both follow scikit-learn's AdamOptimizer
  (its float64 code is the twin) within a derived float32 tolerance;
- ``_core.train_epoch(weight_sq_sums=True)``: each step's sum of the weights' squares;
- the float32 check of in-place arrays accepts unpickled arrays (their own descr).
"""
import pickle

import numpy as np
import pytest

import fastmlp
from fastmlp import nn, optim
from fastmlp.train.epoch import _fused, python_epoch
from fastmlp.train.plan import make_plan

sk_opt = pytest.importorskip("sklearn.neural_network._stochastic_optimizers",
                             reason="scikit-learn is the optional 'sklearn' extra")
from fastmlp.sklearn._mlp import _SkAdam  # noqa: E402

U = 2.0 ** -24
SEEDS = range(int(__import__("os").environ.get("FASTMLP_SK_SEEDS", "3")))


def _model(rng, sizes=(7, 13, 5)):
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        lin.weight.data[...] = rng.uniform(-0.5, 0.5, lin.weight.data.shape)
        lin.bias.data[...] = rng.uniform(-0.5, 0.5, lin.bias.data.shape)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def _clone(model):
    return pickle.loads(pickle.dumps(model))


@pytest.mark.parametrize("seed", SEEDS)
def test_skadam_fused_equals_python_loop(seed, isa, threads):
    """_SkAdam in the fused epoch == its Python step, bit for bit (same kernel, same eps)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(31, 7)).astype(np.float32)
    y = rng.integers(0, 5, 31)
    a = _model(rng)
    b = _clone(a)
    oa = _SkAdam(a.parameters(), lr=0.01, eps=1e-3, weight_decay=0.01)
    ob = _SkAdam(b.parameters(), lr=0.01, eps=1e-3, weight_decay=0.01)
    crit = nn.CrossEntropyLoss()
    perm = rng.permutation(31)
    for _ in range(2):  # the second epoch continues the step counts
        plan = make_plan(a, crit, oa, X)
        _fused(plan, X, y, perm, 8, False, oa)
        python_epoch(b, X, y, crit, ob, perm, 8)
    for p, q in zip(a.parameters(), b.parameters()):
        assert np.array_equal(p.data, q.data)
    for p, q in zip(a.parameters(), b.parameters()):
        for k in ("exp_avg", "exp_avg_sq"):
            assert np.array_equal(oa.state[p][k], ob.state[q][k])
        assert oa.state[p]["step"] == ob.state[q]["step"] == 8.0


@pytest.mark.parametrize("seed", range(50))
def test_skadam_step_matches_sklearn_float64(seed, isa):
    """K steps of _SkAdam (float32) against scikit-learn's AdamOptimizer in float64 on the
    same gradients, whose magnitudes span 1e-9..1 so that eps matters.

    Tolerance: each step's update is computed with at most 12 float32 roundings of
    2**-24 relative (moments, sqrt, add eps, divide, multiply by the step size, the
    parameter add), plus the parameter's own storage rounding; the moments' float32
    errors feed later steps with weight < 1 (beta < 1). Over K steps:
    |p32 - p64| <= K * (12 * u * max|update| + u * max|p|) x 2 margin. The same Adam
    with a constant eps (torch's rule) misses it (checked: the test discriminates)."""
    rng = np.random.default_rng(seed)
    n, K, lr, eps = 257, 12, 0.01, 1e-8
    p0 = rng.uniform(-1, 1, n)
    grads = [rng.normal(size=n) * 10.0 ** rng.uniform(-9, 0, n) for _ in range(K)]
    ref = [p0.copy()]
    sk = sk_opt.AdamOptimizer(ref, learning_rate_init=lr, epsilon=eps)
    p = nn.Parameter(p0.astype(np.float32))
    ours = _SkAdam([p], lr=lr, eps=eps)
    const = nn.Parameter(p0.astype(np.float32))
    torch_rule = optim.Adam([const], lr=lr, eps=eps)
    max_update = 0.0
    for g in grads:
        before = ref[0].copy()
        sk.update_params(ref, [g.copy()])
        max_update = max(max_update, np.max(np.abs(ref[0] - before)))
        p.grad = g.astype(np.float32)
        ours.step()
        const.grad = g.astype(np.float32)
        torch_rule.step()
    tol = 2 * K * (12 * U * max_update + U * np.max(np.abs(p0)))
    assert np.max(np.abs(p.data - ref[0])) <= tol
    assert np.max(np.abs(const.data - ref[0])) > tol


@pytest.mark.parametrize("seed", SEEDS)
def test_weight_sq_sums(seed, isa, thread_count):
    """weight_sq_sums[s] = sum over layers of sum(W**2) before step s, as the loop reads
    them; bitwise the same at 1 and 2 threads. Against float64 numpy sums of the same
    float32 weights: squares exact in double, sums of n terms in different orders differ by
    at most n * 2**-53 relative."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(70, 7)).astype(np.float32)
    y = rng.normal(size=(70, 5)).astype(np.float32)
    base = _model(rng)
    crit = nn.MSELoss()
    perm = rng.permutation(70)
    results = []
    for t in (1, 2):
        thread_count(t)
        m = _clone(base)
        opt = optim.SGD(m.parameters(), lr=0.05, momentum=0.5)
        mean, sq = _fused(make_plan(m, crit, opt, X), X, y, perm, 16, False, opt,
                          weight_sq=True)
        results.append(sq)
    assert np.array_equal(results[0], results[1])
    assert results[0].shape == (5,)  # ceil(70 / 16)
    m = _clone(base)
    opt = optim.SGD(m.parameters(), lr=0.05, momentum=0.5)
    expected = []
    for s in range(0, 70, 16):  # consecutive slices train exactly like one call
        ws = [lin.weight.data.astype(np.float64) for lin in m if isinstance(lin, nn.Linear)]
        expected.append(sum(float(np.sum(w * w)) for w in ws))
        _fused(make_plan(m, crit, opt, X), X, y, perm[s:s + 16], 16, False, opt)
    n_w = sum(w.size for w in ws)
    np.testing.assert_allclose(results[0], expected, rtol=n_w * 2.0 ** -53, atol=0)


def test_unpickled_float32_arrays_are_float32():
    """An unpickled float32 array (its own dtype object) passes the in-place checks."""
    a = pickle.loads(pickle.dumps(np.linspace(-1, 1, 33, dtype=np.float32)))
    out = pickle.loads(pickle.dumps(np.zeros(33, dtype=np.float32)))
    fastmlp.kernels.relu_forward(a, out=out)
    assert np.array_equal(out, np.maximum(a, 0))
    with pytest.raises(TypeError, match="float32"):
        fastmlp.kernels.relu_forward(a, out=np.zeros(33, dtype=">f4"))
