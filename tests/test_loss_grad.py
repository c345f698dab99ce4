"""fastmlp.train.loss_and_grad: the full-data loss and gradient in one fused call.

Evidence:
  * N <= 4096 (one chunk): bitwise the Python autograd path
    (criterion(model(X), y).backward()), which calls the same kernels on the
    same arrays;
  * N > 4096, and the core's chunk_rows small at small N (every chunk
    boundary and the tail): against a float64 reference (fastmlp.reference)
    within a derived bound; the float64 reference itself against finite
    differences of its loss;
  * 1 vs 2 threads: bitwise identical;
  * bad inputs raise before anything is written; scipy's L-BFGS-B drives it.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core, nn
from fastmlp import reference as R
from fastmlp.train import loss_and_grad
from helpers import fd_grad, same_bits

U = 2.0 ** -24  # float32 unit roundoff

# name -> (module factory, reference forward, reference backward, backward reads the output?)
ACTS = {
    "relu": (nn.ReLU, R.relu_forward, R.relu_backward, True),
    "tanh": (nn.Tanh, R.tanh_forward, R.tanh_backward, True),
    "sigmoid": (nn.Sigmoid, R.sigmoid_forward, R.sigmoid_backward, True),
    "gelu": (nn.GELU, R.gelu_forward, R.gelu_backward, False),
    "identity": (None, None, None, None),
}

# name -> (criterion factory, targets kind, reference loss (out64, y) -> (loss, dout))
LOSSES = {
    "ce": (lambda C: nn.CrossEntropyLoss(), "class",
           lambda o, y, C: R.cross_entropy(o, y)),
    "ce_weight_ignore_smooth": (
        lambda C: nn.CrossEntropyLoss(weight=np.linspace(0.5, 2.0, C).astype(np.float32),
                                      ignore_index=1, label_smoothing=0.1), "class",
        lambda o, y, C: R.cross_entropy(o, y, weight=np.linspace(0.5, 2.0, C).astype(np.float32),
                                        ignore_index=1, label_smoothing=0.1)),
    "ce_sum": (lambda C: nn.CrossEntropyLoss(reduction="sum"), "class",
               lambda o, y, C: R.cross_entropy(o, y, reduction="sum")),
    "mse": (lambda C: nn.MSELoss(), "value", lambda o, y, C: R.mse_loss(o, y)),
    "huber_sum": (lambda C: nn.HuberLoss(delta=0.5, reduction="sum"), "value",
                  lambda o, y, C: R.huber_loss(o, y, delta=0.5, reduction="sum")),
    "bce": (lambda C: nn.BCEWithLogitsLoss(pos_weight=np.full(C, 1.5, np.float32)), "binary",
            lambda o, y, C: R.bce_with_logits(o, y, pos_weight=np.full(C, 1.5, np.float32))),
}

ARCHS = {  # (layer sizes, activation name)
    "5-3 identity": ((5, 3), "identity"),
    "9-16-4 relu": ((9, 16, 4), "relu"),
    "6-11-7-3 tanh": ((6, 11, 7, 3), "tanh"),
    "7-13-2 sigmoid": ((7, 13, 2), "sigmoid"),
    "4-10-3 gelu": ((4, 10, 3), "gelu"),
}


def make_model(sizes, act, bias=True):
    layers = []
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fi, fo, bias=bias))
        if i < len(sizes) - 2 and ACTS[act][0] is not None:
            layers.append(ACTS[act][0]())
    return nn.Sequential(*layers)


def make_data(rng, n, sizes, kind):
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    C = sizes[-1]
    if kind == "class":
        y = rng.integers(0, C, n)
    elif kind == "binary":
        y = (rng.random((n, C)) < 0.4).astype(np.float32)
    else:
        y = rng.standard_normal((n, C)).astype(np.float32)
    return X, y


def autograd_path(model, X, y, criterion):
    """The Python path: loss value and every parameter's gradient (from zero)."""
    for p in model.parameters():
        p.grad = None
    loss = criterion(model(X), y)
    loss.backward()
    return loss.item(), [p.grad.copy() for p in model.parameters()]


def fused(model, X, y, criterion, **core_kw):
    """loss_and_grad, or with core_kw (chunk_rows) the same call on the core directly."""
    if not core_kw:
        value = loss_and_grad(model, X, y, criterion)
        return value, [p.grad.copy() for p in model.parameters()]
    from fastmlp.train.plan import make_plan
    plan = make_plan(model, criterion, None, X)
    grads = [np.empty(p.data.shape, np.float32) for p in plan.params]
    kw = dict(plan.loss)
    value = _core.loss_and_grad(plan.weights, plan.biases, plan.activations, X,
                                criterion.epoch_targets(y, plan.n_out), grads,
                                loss=kw.pop("loss"), **kw, **core_kw)
    return value, grads


def reference_grad(model, X, y, loss_ref, act):
    """float64: the loss, each parameter's gradient and its scale S (same shapes): the
    same backward with every quantity replaced by its absolute value, so that every
    float32 sum forming a gradient entry has sum of |terms| <= S."""
    lins = [m for m in model.children() if isinstance(m, nn.Linear)]
    fwd, bwd, saves_out = ACTS[act][1:]
    a = [X.astype(np.float64)]
    z = []
    for i, L in enumerate(lins):
        zi = a[-1] @ L.weight.data.astype(np.float64).T
        if L.bias is not None:
            zi = zi + L.bias.data
        z.append(zi)
        last = i == len(lins) - 1
        a.append(zi if last or fwd is None else fwd(zi))
    C = lins[-1].out_features
    loss, d = loss_ref(a[-1], y, C)
    d = np.asarray(d, np.float64)
    dabs = np.abs(d)
    grads, scales = [], []
    for i in range(len(lins) - 1, -1, -1):
        L = lins[i]
        if i < len(lins) - 1 and fwd is not None:
            saved = a[i + 1] if saves_out else z[i]
            d = bwd(d, saved)
            dabs = np.abs(bwd(dabs, saved))
        gl = [d.T @ a[i]]
        sl = [dabs.T @ np.abs(a[i])]
        if L.bias is not None:
            gl.append(d.sum(0))
            sl.append(dabs.sum(0))
        grads = gl + grads
        scales = sl + scales
        W = L.weight.data.astype(np.float64)
        d, dabs = d @ W, dabs @ np.abs(W)
    return loss, grads, scales


def check_against_reference(model, X, y, loss_ref, act, value, grads):
    """|g - g64| <= 2 gamma_n S + 1e-30 entrywise, gamma_n = n u / (1 - n u), with
    n = N + 16 (L + 1) w: each float32 gradient entry is a sum of N products
    (gamma_N S for the sum's rounding, the same as one big batch's), and each
    product's factors carry the forward and backward rounding of at most
    L + 1 GEMM/loss/activation steps, each a dot product over at most w (the widest
    layer) terms plus a few elementwise roundings (16 w u per step, a generous
    count), both relative to the same |terms| that make S; x 2 margin. The loss: a
    float32 sum of per-row losses that are all >= 0 here (positive class weights), so
    sum |l_i| = |loss| and the same count gives relative 2 gamma_n; x 4 margin."""
    loss64, g64, S = reference_grad(model, X, y, loss_ref, act)
    lins = [m for m in model.children() if isinstance(m, nn.Linear)]
    w = max(max(L.in_features, L.out_features) for L in lins)
    n = len(X) + 16 * (len(lins) + 1) * w
    gamma = n * U / (1 - n * U)
    for k, (g, r, s) in enumerate(zip(grads, g64, S)):
        err = np.abs(g.astype(np.float64) - r)
        bound = 2 * gamma * s + 1e-30
        assert np.all(err <= bound), (k, float((err / bound).max()))
    if np.isnan(loss64):  # every row ignored: PyTorch's 0/0 (gradients 0, checked above)
        assert np.isnan(value)
    else:
        assert abs(value - loss64) <= 8 * gamma * abs(loss64)


@pytest.mark.parametrize("n", [1, 7, 257])
@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("arch", list(ARCHS))
def test_one_chunk_is_the_autograd_path_bitwise(rng, isa, arch, loss_name, n):
    """One chunk (N <= 4096): the same kernels on the same arrays as the Python path,
    on every ISA path."""
    sizes, act = ARCHS[arch]
    crit_f, kind, _ = LOSSES[loss_name]
    model = make_model(sizes, act)
    X, y = make_data(rng, n, sizes, kind)
    crit = crit_f(sizes[-1])
    v0, g0 = autograd_path(model, X, y, crit)
    v1, g1 = fused(model, X, y, crit)
    assert np.float32(v1) == np.float32(v0) or (np.isnan(v0) and np.isnan(v1))
    for a, b in zip(g0, g1):
        assert same_bits(a, b)


@pytest.mark.parametrize("n,chunk", [(7, 3), (31, 4), (31, 1), (10007, None)])
@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("arch", ["9-16-4 relu", "6-11-7-3 tanh", "4-10-3 gelu"])
def test_chunks_against_float64_reference(rng, isa, arch, loss_name, n, chunk):
    """Several chunks (the default 4096 at N > 4096, or small chunk_rows so that every
    boundary and a short tail occur at small N, where the bound is tight enough to see
    a single missing or doubled row): within check_against_reference's bound."""
    sizes, act = ARCHS[arch]
    crit_f, kind, loss_ref = LOSSES[loss_name]
    model = make_model(sizes, act)
    X, y = make_data(rng, n, sizes, kind)
    crit = crit_f(sizes[-1])
    value, grads = fused(model, X, y, crit, **({} if chunk is None else {"chunk_rows": chunk}))
    check_against_reference(model, X, y, loss_ref, act, value, grads)


@pytest.mark.parametrize("n", [4096, 4097])
@pytest.mark.parametrize("loss_name", ["ce_weight_ignore_smooth", "mse"])
def test_chunk_boundary(rng, isa, loss_name, n):
    """4096 rows (the largest single chunk): bitwise the Python path, and within the
    bound above of float64 like the chunked results (they differ from it only in
    summation order); 4097 (a second chunk of one row): within the bound."""
    sizes, act = ARCHS["9-16-4 relu"]
    crit_f, kind, loss_ref = LOSSES[loss_name]
    model = make_model(sizes, act)
    X, y = make_data(rng, n, sizes, kind)
    crit = crit_f(sizes[-1])
    value, grads = fused(model, X, y, crit)
    if n == 4096:
        v0, g0 = autograd_path(model, X, y, crit)
        assert np.float32(value) == np.float32(v0) and all(map(same_bits, g0, grads))
    check_against_reference(model, X, y, loss_ref, act, value, grads)


@pytest.mark.parametrize("loss_name", ["ce_weight_ignore_smooth", "mse", "bce"])
def test_float64_reference_is_the_finite_difference_gradient(rng, loss_name):
    """The float64 reference used above against central differences of its own loss:
    fd_grad's error ~1e-9 (eps 1e-6), so 1e-6 relative + 1e-7 absolute is generous."""
    sizes, act = (3, 4, 3), "tanh"
    crit_f, kind, loss_ref = LOSSES[loss_name]
    model = make_model(sizes, act)
    X, y = make_data(rng, 9, sizes, kind)
    _, g64, _ = reference_grad(model, X, y, loss_ref, act)
    params = list(model.parameters())
    for k, p in enumerate(params):
        orig = p.data.copy()

        # the float64 loss with parameter k replaced by the float64 array v
        def loss_at(v, k=k):
            lins = [m for m in model.children() if isinstance(m, nn.Linear)]
            Ws = [L.weight.data.astype(np.float64) for L in lins]
            bs = [L.bias.data.astype(np.float64) for L in lins]
            flat = [t for pair in zip(Ws, bs) for t in pair]
            flat[k] = v
            a = X.astype(np.float64)
            for i in range(len(lins)):
                a = a @ flat[2 * i].T + flat[2 * i + 1]
                if i < len(lins) - 1:
                    a = ACTS[act][1](a)
            return loss_ref(a, y, sizes[-1])[0]
        fd = fd_grad(loss_at, orig.astype(np.float64))
        assert np.allclose(g64[k], fd, rtol=1e-6, atol=1e-7), k


@pytest.mark.parametrize("weight", [None, (0.0, 1.0, 0.0)])
def test_zero_denominator_is_pytorchs_nan(rng, weight):
    """A mean over no weight (every row ignored; or only zero-weight classes kept) is
    0/0: NaN loss, and the one-chunk path's gradients (zeros when no row is kept,
    NaN when one is), which the chunked path reproduces."""
    model = make_model((5, 6, 3), "tanh")
    X = rng.standard_normal((11, 5)).astype(np.float32)
    y = np.where(rng.random(11) < 0.5, 1, 2) if weight else np.full(11, 1)
    crit = nn.CrossEntropyLoss(weight=None if weight is None else np.array(weight, np.float32),
                               ignore_index=1, label_smoothing=0.1)
    v0, g0 = fused(model, X, y, crit)
    v1, g1 = fused(model, X, y, crit, chunk_rows=4)
    assert np.isnan(v0) and np.isnan(v1)
    for a, b in zip(g0, g1):
        assert same_bits(a, b)
        assert np.all(np.isnan(a)) if weight else np.all(a == 0)


def test_log_softmax_nll_and_no_bias(rng):
    """A model ending with LogSoftmax under NLLLoss, without biases: bitwise the
    Python path in one chunk; within the reference bound over chunks."""
    model = nn.Sequential(nn.Linear(6, 9, bias=False), nn.ReLU(), nn.Linear(9, 4, bias=False),
                          nn.LogSoftmax(dim=1))
    crit = nn.NLLLoss(weight=np.array([1.0, 0.5, 2.0, 1.5], np.float32))
    X, y = make_data(rng, 300, (6, 4), "class")
    v0, g0 = autograd_path(model, X, y, crit)
    v1, g1 = fused(model, X, y, crit)
    assert np.float32(v0) == np.float32(v1) and all(same_bits(a, b) for a, b in zip(g0, g1))
    v2, g2 = fused(model, X, y, crit, chunk_rows=7)
    for a, b in zip(g0, g2):  # relu network, 300 rows: a sum's rounding, x 8 headroom
        assert np.allclose(a, b, rtol=8 * 300 * U, atol=8 * 300 * U * np.abs(a).max())


@pytest.mark.parametrize("n,chunk", [(10007, None), (31, 4)])
def test_threads_bitwise(rng, thread_count, isa, n, chunk):
    """1 vs 2 threads: the chunks depend on N alone, every kernel's bits on nothing else."""
    sizes, act = ARCHS["6-11-7-3 tanh"]
    model = make_model(sizes, act)
    X, y = make_data(rng, n, sizes, "class")
    crit = nn.CrossEntropyLoss(label_smoothing=0.05)
    kw = {} if chunk is None else {"chunk_rows": chunk}
    thread_count(1)
    v1, g1 = fused(model, X, y, crit, **kw)
    thread_count(2)
    v2, g2 = fused(model, X, y, crit, **kw)
    assert v1 == v2 and all(same_bits(a, b) for a, b in zip(g1, g2))


def test_grads_list_and_p_grad(rng):
    """grads= receives the gradients (no .grad changes); without it p.grad is overwritten
    in place when it is a float32 buffer of the right shape, replaced otherwise."""
    model = make_model((5, 6, 3), "relu")
    X, y = make_data(rng, 50, (5, 6, 3), "class")
    crit = nn.CrossEntropyLoss()
    params = list(model.parameters())
    out = [np.full(p.data.shape, np.nan, np.float32) for p in params]
    v = loss_and_grad(model, X, y, crit, grads=out)
    assert all(p.grad is None for p in params)
    v0, g0 = autograd_path(model, X, y, crit)
    assert v == v0 and all(same_bits(a, b) for a, b in zip(out, g0))
    keep = params[0].grad
    keep[...] = 123.0
    params[1].grad = np.zeros(params[1].data.shape, np.float64)  # not float32: replaced
    loss_and_grad(model, X, y, crit)
    assert params[0].grad is keep and same_bits(keep, g0[0])
    assert params[1].grad.dtype == np.float32 and same_bits(params[1].grad, g0[1])


def test_bad_inputs(rng):
    model = make_model((5, 6, 3), "relu")
    X, y = make_data(rng, 20, (5, 6, 3), "class")
    crit = nn.CrossEntropyLoss()
    params = list(model.parameters())
    good = lambda: [np.zeros(p.data.shape, np.float32) for p in params]  # noqa: E731
    with pytest.raises(ValueError, match="len"):
        loss_and_grad(model, X, y[:-1], crit)
    with pytest.raises(ValueError, match="label"):
        loss_and_grad(model, X, np.full(20, 3), crit)
    with pytest.raises(TypeError, match="y"):
        loss_and_grad(model, X, y.astype(np.float32), crit)
    with pytest.raises(ValueError, match="X"):
        loss_and_grad(model, X[:, :4], y, crit)
    with pytest.raises(ValueError, match="X"):
        loss_and_grad(model, X[:0], y[:0], crit)
    with pytest.raises(TypeError, match="X"):
        loss_and_grad(model, X.astype(np.complex64), y, crit)
    with pytest.raises(ValueError, match="reduction"):
        loss_and_grad(model, X, y, nn.CrossEntropyLoss(reduction="none"))
    g = good()
    g[2] = g[2].astype(np.float64)
    with pytest.raises(TypeError, match=r"grads\[2\]"):
        loss_and_grad(model, X, y, crit, grads=g)
    g = good()
    g[1] = np.zeros(7, np.float32)
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        loss_and_grad(model, X, y, crit, grads=g)
    g = good()
    g[0] = np.zeros((6, 5), np.float32).T.copy().T
    with pytest.raises(ValueError, match=r"grads\[0\]"):
        loss_and_grad(model, X, y, crit, grads=g)
    g = good()
    g[3].flags.writeable = False
    with pytest.raises(ValueError, match=r"grads\[3\]"):
        loss_and_grad(model, X, y, crit, grads=g)
    with pytest.raises(ValueError, match="grads"):
        loss_and_grad(model, X, y, crit, grads=good()[:3])
    g = good()
    g[3] = g[2][0, :3]  # (3,) view into grads[2]
    with pytest.raises(ValueError, match="shares memory"):
        loss_and_grad(model, X, y, crit, grads=g)
    with pytest.raises(TypeError, match="grads"):
        loss_and_grad(model, X, y, crit, grads=np.zeros(3))
    # unsupported models and losses: ValueError naming what
    with pytest.raises(ValueError, match="Sequential"):
        loss_and_grad(lambda x: x, X, y, crit)
    with pytest.raises(ValueError, match="Dropout"):
        loss_and_grad(nn.Sequential(nn.Linear(5, 6), nn.Dropout(0.5), nn.Linear(6, 3)), X, y, crit)
    with pytest.raises(ValueError, match="criterion"):
        loss_and_grad(model, X, y, lambda o, t: o)
    with pytest.raises(ValueError, match="chunk_rows"):
        fused(model, X, y, crit, chunk_rows=0)
    assert all(p.grad is None for p in params)


def test_dropout_in_eval_mode_is_supported(rng):
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))
    model.eval()
    X, y = make_data(rng, 20, (5, 6, 3), "class")
    v0, g0 = autograd_path(model, X, y, nn.CrossEntropyLoss())
    v1, g1 = fused(model, X, y, nn.CrossEntropyLoss())
    assert v0 == np.float32(v1) and all(same_bits(a, b) for a, b in zip(g0, g1))


def test_scipy_lbfgs_drives_it(rng):
    """scipy.optimize.minimize(L-BFGS-B) with loss_and_grad as fun/jac (jac=True) fits a
    small classifier: the loss falls well below its starting value, and the returned
    loss/gradient are the fused call's at the solution."""
    optimize = pytest.importorskip("scipy.optimize", reason="scipy is not installed "
                                   "(pip install 'fastmlp[test]' brings it)")
    model = make_model((4, 8, 3), "tanh")
    X, _ = make_data(rng, 200, (4, 8, 3), "class")
    y = np.argmax(X[:, :3] + 0.1 * rng.standard_normal((200, 3)), axis=1)
    crit = nn.CrossEntropyLoss()
    params = list(model.parameters())
    sizes = [p.data.size for p in params]
    grads = [np.empty(p.data.shape, np.float32) for p in params]

    def fun(theta):
        for p, t in zip(params, np.split(theta, np.cumsum(sizes)[:-1])):
            p.data[...] = t.reshape(p.data.shape)
        v = loss_and_grad(model, X, y, crit, grads=grads)
        return v, np.concatenate([g.ravel() for g in grads]).astype(np.float64)

    theta0 = np.concatenate([p.data.ravel() for p in params]).astype(np.float64)
    start = fun(theta0)[0]
    res = optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 200})
    assert res.fun < 0.5 * start
    assert res.fun == pytest.approx(fun(res.x)[0])
