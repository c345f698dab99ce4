"""What several test files share, defined once: the float64 step replay of float32
training runs (relu_sign_ambiguous), central finite differences (fd_grad), the seed network
(seed_net, Net), the parameters of a kernel and of its reference twin (signature_params)
and float32's unit roundoff U.

Imported as a plain ``helpers`` module: with pytest's default ``prepend`` import mode,
tests/ (the first folder up from each test file without an ``__init__.py``) is on sys.path.
"""
import inspect

import numpy as np

from fastmlp import functional as F
from fastmlp import kernels, nn, reference

U = 2.0 ** -24  # float32 unit roundoff: the u of every tolerance derived in a docstring

# ------------------------------------------------------- float64 step replay --
# Shared by the tests that follow a float32 training run with a float64 one step by step.
# A ReLU whose pre-activation lies within float32's rounding envelope of 0 may take the
# other branch in the float32 run than in the float64 one (seen: |z| = 3e-8). That is a
# legitimate discrete difference, not a rounding error; after it the two runs follow
# different but equally right paths. Those tests detect such a step with
# ``relu_sign_ambiguous`` before taking it, do not compare its result, and copy the float32
# state into the float64 one so that the comparison goes on from equal states.


def relu_sign_ambiguous(W64, b64, W32, b32, relu, x, K):
    """True when a ReLU of this step may take different branches in the float32 run and
    the float64 one: the pre-activations of the two current states (evaluated exactly, in
    float64) differ in sign, or the float32 one is within its kernel's rounding envelope
    K*u*(sum of |terms|) of 0.

    W64/b64, W32/b32: per-layer weights (out, in) and biases (out,) or None of the two
    runs; relu: per layer, whether a ReLU follows; x: (batch, in) input of the step."""
    a64 = a32 = np.asarray(x, dtype=np.float64)
    for W, b, V, c, r in zip(W64, b64, W32, b32, relu):
        z64 = a64 @ W.T + (0 if b is None else b)
        V = V.astype(np.float64)
        c = 0 if c is None else c.astype(np.float64)
        z32 = a32 @ V.T + c
        terms = np.abs(a32) @ np.abs(V).T + np.abs(c)
        if r and (np.any((z64 > 0) != (z32 > 0)) or np.any(np.abs(z32) <= K * U * terms)):
            return True
        a64, a32 = (np.maximum(z64, 0), np.maximum(z32, 0)) if r else (z64, z32)
    return False


# ------------------------------------------------------- finite differences --


def fd_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar function f at x, in float64.

    Each entry of a float64 copy of x is moved to x+eps and x-eps in turn and restored
    exactly, so f sees x itself everywhere else. Error ~eps^2 (truncation) + 1e-16/eps
    (rounding): ~1e-9 at the default eps=1e-6."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


# ------------------------------------------------------------- seed network --


class Net(nn.Module):
    """The issue's seed script model, 784-128-10 by default: functional flatten and relu
    between two Linears named fc1 and fc2 (not a Sequential)."""

    def __init__(self, sizes=(784, 128, 10)):
        super().__init__()
        d_in, d_hid, d_out = sizes
        self.fc1 = nn.Linear(d_in, d_hid)
        self.fc2 = nn.Linear(d_hid, d_out)

    def forward(self, x):
        x = F.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def seed_net(kind="sequential", sizes=(784, 128, 10), *, flatten=True, bias=True,
             relu_last=False, init=None):
    """The seed network, or a smaller or deeper one of its shape.

    kind="sequential": nn.Sequential of [Flatten()] (if flatten), then Linear(sizes[i],
    sizes[i+1]) for each pair with a ReLU between them (and after the last with relu_last);
    bias is one bool or one per Linear.
    kind="script": Net(sizes), the seed script's nn.Module subclass (three sizes; flatten,
    biases and no last ReLU are its fixed form).
    The Linears are built first to last, so nn.manual_seed gives the weights of the
    hand-written model. init=(rng, a) then overwrites every parameter, in parameters()
    order, with rng.uniform(-a, a)."""
    if kind == "script":
        if not (flatten and bias is True and not relu_last):
            raise ValueError("seed_net: kind='script' is Net(sizes) as written")
        model = Net(sizes)
    elif kind == "sequential":
        n = len(sizes) - 1
        biases = [bias] * n if isinstance(bias, bool) else list(bias)
        if len(biases) != n:
            raise ValueError(f"seed_net: {n} Linear layers but {len(biases)} bias flags")
        layers = [nn.Flatten()] if flatten else []
        for i, (fi, fo, b) in enumerate(zip(sizes[:-1], sizes[1:], biases)):
            layers.append(nn.Linear(fi, fo, bias=b))
            if i < n - 1 or relu_last:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
    else:
        raise ValueError(f"seed_net: unknown kind {kind!r}")
    if init is not None:
        rng, a = init
        for p in model.parameters():
            p.data[...] = rng.uniform(-a, a, p.data.shape)
    return model


# ------------------------------------------------------------- optimizers --


def run_steps(opt, ps, steps):
    """For each entry of ``steps`` (one gradient per parameter of ``ps``, or None for
    ones): set the parameters' ``.grad`` to copies of them, then ``opt.step()``."""
    for gs in steps:
        for i, p in enumerate(ps):
            p.grad = np.ones(p.shape, np.float32) if gs is None else gs[i].copy()
        opt.step()


def step_with_torch(rng, ps, opt, tps, topt, steps):
    """``steps`` times: the same random float32 gradients into fastmlp parameters ``ps``
    and their torch twins ``tps``, then ``opt.step()`` and ``topt.step()``."""
    import torch
    for _ in range(steps):
        for p, tp in zip(ps, tps):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, tp.grad = g, torch.from_numpy(g.copy())
        opt.step()
        topt.step()


# -------------------------------------------------- kernels and their twins --


def signature_params(name):
    """The parameter lists of fastmlp.kernels.<name> and of fastmlp.reference.<name>, for
    the tests that a kernel takes its reference twin's parameters first."""
    ours = list(inspect.signature(getattr(kernels, name)).parameters.values())
    ref = list(inspect.signature(getattr(reference, name)).parameters.values())
    return ours, ref


# ---------------------------------------------------------- Adam, AdamW --

def adam_step_bounds(p, g, m, v, mx, out_ref, *, step, lr, beta1, beta2, eps, weight_decay,
                     amsgrad, maximize, decoupled):
    """Elementwise error bounds of one float32 ``adam_update``/``adamw_update`` pass from
    float32 inputs ``p, g, m, v, mx`` (before the step), against its float64 twin's
    results ``out_ref = (p, m, v)`` on the same inputs. The derivation (u = U; each
    float32 operation and each cast of a double scalar rounds once, by <= u relative):

    - g' = sign*g (+ wd*p for Adam), sign = -1 with maximize: exact without wd (a
      negation), else wd's cast and the product (u wd|p| each) and the sum (u |g'|):
      dg <= u (|g'| + 2 wd|p|) (absolute: g' may cancel). |g'| is |sign*g + wd*p|:
      with maximize the decay term adds to -g, not to g.
    - m = m + w(g' - m) (w < 1/2) or g' - (g' - m)(1 - w) (1 - w exact then, Sterbenz):
      w's cast and three roundings of terms bounded by S = |m| + S_g, S_g = |g| + wd|p|,
      plus w*dg: dm <= 3u S + w dg <= 6u S (dg <= 3u S_g, w <= 1).
    - v = v*b2 + (c2*g')*g': every term >= 0, so four roundings and two casts are 6u
      relative, plus g''s error: dv <= 6u v_ref + 2 c2 |g'| dg.
    - s = v or max(mx, v) (exact): ds <= dv. sqrt(s): u sqrt(s) + ds / (2 sqrt(s)).
      denom = sqrt(s)/bc2s + eps: the cast of bc2s and the division (2u of sqrt(s)/bc2s),
      the cast of eps and the add (2u of denom).
    - t = (-step_size*m)/denom: the cast, the product, the quotient (3u of |t|), m's
      dm and denom's relative error: dt <= |t| (3u + ddenom/denom) + step_size dm / denom.
    - p + t (AdamW: p*decay first, two roundings): dp <= 3u|p| + u|t| + dt.

    Returns (tol_p, tol_m, tol_v), each twice the bound (second-order terms and the
    float64 twin's own rounding are far below that margin).
    """
    u = U
    p, g, m, v = (np.asarray(a, np.float64) for a in (p, g, m, v))
    wd = 0.0 if decoupled else weight_decay
    S_g = np.abs(g) + wd * np.abs(p)
    gp = np.abs((-g if maximize else g) + wd * p)
    dg = u * (gp + 2 * wd * np.abs(p)) if wd else np.zeros_like(S_g)
    S = np.abs(m) + S_g
    p_ref, m_ref, v_ref = out_ref
    dm = 6 * u * S
    dv = 6 * u * np.abs(v_ref) + 2 * (1 - beta2) * gp * dg
    s = np.maximum(np.asarray(mx, np.float64), v_ref) if amsgrad else v_ref
    rs = np.sqrt(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        dsqrt = u * rs + np.where(rs > 0, dv / (2 * rs), np.sqrt(dv))
    bc2s = (1 - beta2 ** step) ** 0.5
    step_size = lr / (1 - beta1 ** step)
    denom = rs / bc2s + eps
    ddenom = (dsqrt + 2 * u * rs) / bc2s + 2 * u * denom
    t = step_size * np.abs(m_ref) / denom
    dt = t * (3 * u + ddenom / denom) + step_size * dm / denom
    tol_p = 3 * u * np.abs(p) + u * t + dt
    return 2 * tol_p, 2 * dm, 2 * dv


def adam_random_state(rng, shape, amsgrad):
    """p, g ~ N(0,1); exp_avg ~ N(0, 0.1); exp_avg_sq ~ 0.01 N^2 (>= 0); max_exp_avg_sq
    >= exp_avg_sq by a random amount, or None: a mid-run state, float32."""
    f = np.float32
    p = rng.standard_normal(shape).astype(f)
    g = rng.standard_normal(shape).astype(f)
    m = (0.1 * rng.standard_normal(shape)).astype(f)
    v = (0.01 * rng.standard_normal(shape) ** 2).astype(f)
    mx = (v + 0.01 * rng.random(shape) * (rng.random(shape) < 0.5)).astype(f) if amsgrad else None
    return p, g, m, v, mx


def check_adam_step(name, rng, shape, cfg, step):
    """One ``kernels.<name>`` pass ('adam_update' or 'adamw_update') from a random mid-run
    state against ``reference.<name>`` on the same float32 inputs, within
    :func:`adam_step_bounds`; grad is left untouched."""
    from fastmlp import kernels, reference
    amsgrad = cfg.get("amsgrad", False)
    p, g, m, v, mx = adam_random_state(rng, shape, amsgrad)
    before = [a.copy() for a in (p, g, m, v)] + [None if mx is None else mx.copy()]
    r = [a.astype(np.float64) for a in (p, m, v)] + [None if mx is None else mx.astype(np.float64)]
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False)
    hyper.update(cfg)
    getattr(kernels, name)(p, g, m, v, mx, step=step, **hyper)
    getattr(reference, name)(r[0], g, r[1], r[2], r[3], step=step, **hyper)
    np.testing.assert_array_equal(g, before[1])
    tol_p, tol_m, tol_v = adam_step_bounds(
        before[0], before[1], before[2], before[3], before[4], (r[0], r[1], r[2]), step=step,
        decoupled=name == "adamw_update", **hyper)
    for label, got, ref, tol in (("param", p, r[0], tol_p), ("exp_avg", m, r[1], tol_m),
                                 ("exp_avg_sq", v, r[2], tol_v)):
        err = np.abs(got.astype(np.float64) - ref)
        bad = ~(err <= tol)
        assert not bad.any(), (f"{name} {label}: {bad.sum()} elements beyond the bound, worst "
                               f"err/tol {np.max(err / np.maximum(tol, 1e-300)):.3g}")
    if amsgrad:
        np.testing.assert_array_equal(mx, np.maximum(before[4], v))  # exact: a maximum


# ------------------------------------------------- fused epoch vs the loop --


def check_fused_equals_loop(rng, make_opt, caplog, steps_per_epoch=10):
    """Two epochs of train_epoch (fused) and python_epoch on twin 12-10-4 models with
    ``make_opt(params)`` optimizers: the same losses, weights and state (keys in order,
    arrays bitwise, ``step`` counted), the fused path taken; then one more Python step on
    each continues identically. The optimizer must count ``state[p]["step"]``."""
    import copy
    import logging

    from fastmlp.train import python_epoch, train_epoch
    n = 15 * steps_per_epoch
    X = rng.standard_normal((n, 12)).astype(np.float32)
    y = rng.integers(0, 4, n)
    m1 = seed_net(sizes=(12, 10, 4), flatten=False, init=(rng, 0.4))
    m2 = copy.deepcopy(m1)
    o1, o2 = make_opt(m1.parameters()), make_opt(m2.parameters())
    crit = nn.CrossEntropyLoss()
    with caplog.at_level(logging.DEBUG, logger="fastmlp"):
        for e in range(2):
            l1 = train_epoch(m1, X, y, crit, o1, batch_size=15, seed=e)
            l2 = python_epoch(m2, X, y, crit, o2, np.random.default_rng(e).permutation(n), 15)
            assert l1 == l2
    assert "Python loop" not in caplog.text
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p1.data, p2.data)
        s1, s2 = o1.state[p1], o2.state[p2]
        assert list(s1) == list(s2) and s1["step"] == s2["step"] == 2.0 * steps_per_epoch
        for k in s1:
            assert np.array_equal(s1[k], s2[k]), k
    for o, m in ((o1, m1), (o2, m2)):
        o.zero_grad()
        crit(m(X[:16]), y[:16]).backward()
        o.step()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p1.data, p2.data)
        assert o1.state[p1]["step"] == 2.0 * steps_per_epoch + 1



# ---- adamvec: the optimizers' ISA paths against the generic path, bit for bit -----------

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -3e-39, 1e-45, 3e38, -3e38,
                     1e-20, 1e20], np.float32)


def with_specials(rng, arrays, frac=0.25):
    """Replace ~frac of each float32 array's entries, in place, by NaN, +-inf, +-0,
    denormals and near-overflow values; returns the arrays."""
    for a in arrays:
        hit = rng.random(a.shape) < frac
        a[hit] = rng.choice(SPECIALS, int(hit.sum()))
    return arrays


def same_bits(a, b):
    """Bitwise equality except NaN payloads and signs (which of two NaN operands an x86
    instruction returns depends on operand order the compiler may commute): NaN where
    the other is NaN, identical bits elsewhere."""
    na, nb = np.isnan(a), np.isnan(b)
    return np.array_equal(na, nb) and np.array_equal(a.view(np.uint32)[~na], b.view(np.uint32)[~nb])


def assert_isa_paths_bitwise_equal(run):
    """run() -> list of float32 arrays, on every ISA path this CPU runs; each path's
    arrays must be the generic path's (same_bits)."""
    import fastmlp
    isas = fastmlp.available_cpu_capabilities()  # the generic path first
    previous = fastmlp.cpu_capability()
    res = {}
    try:
        for isa in isas:
            fastmlp._set_cpu_capability(isa)
            res[isa] = run()
    finally:
        fastmlp._set_cpu_capability(previous)
    for isa in isas[1:]:
        assert all(same_bits(a, b) for a, b in zip(res[isas[0]], res[isa])), isa
