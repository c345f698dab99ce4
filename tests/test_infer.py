"""The one-call forward (kernels.infer_forward, nn.Sequential under no_grad,
fastmlp.infer.predict) against the layer-by-layer forward and the float64 reference, at
batch 0, 1, 2, 3, 7, 64 and 4097, several architectures and activations, every ISA path,
1 and 2 threads.

Bits: with more than ``_core.gemv_max_rows()`` rows each layer is the same sgemm (with
the same epilogue) as the layer-by-layer Python forward, then the same softmax kernel:
equal bit for bit. With at most that many rows each layer is gemv_forward: equal bit
for bit to gemv_forward called layer by layer; against the sgemm forward it differs only
by rounding, which the reference comparison bounds for both.

Tolerance against the float64 reference, propagated layer by layer (h32: our float32
activations, which the bitwise checks show are the one-call's; h64 the reference's):
  |h32_l - h64_l| <= e_l = 1.2 |W_l| e_{l-1} + local_l,  e_0 = 0,
  local_l = 1.2 * (K_l + 4) u (|h32_{l-1}| |W_l|^T + |b_l|) + 8 u |h_l| + 2 u |z_l|:
the activation's Lipschitz constant (<= 1.2 for those used) times the input error, plus
this layer's own rounding (the GEMM's (K + 4) u bound, which also covers gemv's
2 ceil(K/16) + 5 roundings, through the activation, plus the activation kernel's own
bound; tests/test_sgemm.py, tests/test_gemv.py). A head over a row with input error at
most m = max_j e_j: log_softmax moves by at most 2 m (the log-sum-exp is 1-Lipschitz in
the max norm), softmax by at most p (exp(2 m) - 1); plus the kernels' own 1e-6 relative
(softmax) and 2 u |y| + 1e-12 (log_softmax) (tests/row_softmax_suite.py).
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core, infer, kernels, nn, reference
from helpers import U, same_bits

BATCHES = [0, 1, 2, 3, 7, 64, 4097]

# (name, layer sizes, [activation module per hidden layer or None], head, flatten, dropout)
ARCHS = {
    "mnist-relu": ((784, 128, 10), [nn.ReLU], None, False, False),
    "deep-tanh-logsoftmax": ((37, 64, 33, 5), [nn.Tanh, lambda: nn.GELU(approximate="tanh")],
                             "log_softmax", True, True),
    "gelu-silu-softmax": ((20, 17, 31, 3), [nn.GELU, nn.SiLU], "softmax", False, False),
    "leaky-elu-softplus": ((50, 40, 30, 20, 9),
                           [lambda: nn.LeakyReLU(0.2), nn.ELU, lambda: nn.Softplus(beta=2.0)],
                           None, False, True),
    "sigmoid-last-act": ((16, 8, 4), [nn.Sigmoid, nn.Sigmoid], None, False, False),
}
# The acts the reference needs, as sgemm's activation specs, by module class
SPEC = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.GELU: "gelu", nn.SiLU: "silu", nn.ELU: "elu",
        nn.Sigmoid: "sigmoid"}


def build(name, rng):
    sizes, acts, head, flatten, dropout = ARCHS[name]
    mods = [nn.Flatten()] if flatten else []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1], bias=(i != 1))  # one layer without a bias
        lin.weight.data[...] = rng.standard_normal(lin.weight.shape) / np.sqrt(sizes[i])
        if lin.bias is not None:
            lin.bias.data[...] = rng.standard_normal(lin.bias.shape) * 0.5
        mods.append(lin)
        if i < len(acts) and acts[i] is not None:
            mods.append(acts[i]())
        if dropout and i == 0:
            mods.append(nn.Dropout(0.5))
    if head == "softmax":
        mods.append(nn.Softmax(dim=1))
    elif head == "log_softmax":
        mods.append(nn.LogSoftmax(dim=-1))
    return nn.Sequential(*mods).eval()


def layers_of(model):
    """(weights, biases, epilogue specs, head) as the planner reads them."""
    ls, _, head, _ = fastmlp.train.plan.inference_layers(model)
    ws = [lin.weight.data for lin, _ in ls]
    bs = [None if lin.bias is None else lin.bias.data for lin, _ in ls]
    return ws, bs, [a for _, a in ls], None if head is None else head[0]


def layer_by_layer_gemv(x, ws, bs, acts, head):
    h = x
    for w, b, a in zip(ws, bs, acts):
        h = kernels.gemv_forward(h, w, b, a)
    return h if head is None else getattr(kernels, head)(h)


def reference_bound(x, ws, bs, acts, head):
    """(float64 reference, elementwise bound) as the module docstring derives."""
    h64 = x.astype(np.float64)
    h32 = x
    e = np.zeros_like(h64)
    for w, b, a in zip(ws, bs, acts):
        W = w.astype(np.float64)
        z64 = reference.sgemm(h64, W, trans_b=True, bias=b)
        y64 = reference.sgemm(h64, W, trans_b=True, bias=b, activation=a)
        mag = np.abs(h32.astype(np.float64)) @ np.abs(W).T + (0 if b is None else np.abs(b))
        local = 1.2 * (w.shape[1] + 4) * U * mag + 8 * U * np.abs(y64) + 2 * U * np.abs(z64)
        e = 1.2 * (e @ np.abs(W).T) + local
        h64 = y64
        h32 = kernels.sgemm(h32, w, trans_b=True, bias=b, activation=a)
    if head is None:
        return h64, e
    m = e.max(axis=1, keepdims=True) if e.size else e
    ref = getattr(reference, head)(h64)
    if head == "softmax":
        return ref, ref * np.expm1(2 * m) + 1e-6 * ref + 1e-30
    return ref, 2 * m + 2 * U * np.abs(ref) + 1e-12


def run_model(model, x):
    with fastmlp.no_grad():
        return model(fastmlp.Tensor(x)).data


def python_forward(model, x):
    """The layer-by-layer forward: with gradients recorded the one-call path never runs."""
    t = fastmlp.Tensor(x)
    out = model(t)
    assert out.requires_grad  # the graph path, not the one-call
    return out.data


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("batch", BATCHES)
def test_one_call_equals_layer_by_layer_and_reference(rng, isa, threads, arch, batch):
    model = build(arch, rng)
    sizes = ARCHS[arch][0]
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    got = run_model(model, x)
    assert got.dtype == np.float32 and got.shape == (batch, sizes[-1])
    ws, bs, acts, head = layers_of(model)
    if batch > _core.gemv_max_rows():
        assert same_bits(got, python_forward(model, x))
    else:
        assert same_bits(got, layer_by_layer_gemv(x, ws, bs, acts, head))
    assert same_bits(got, kernels.infer_forward(x, ws, bs, acts, head))
    ref, tol = reference_bound(x, ws, bs, acts, head)
    err = np.abs(got - ref)
    assert np.all(err <= tol), f"max err {err.max()} vs tol there {tol.flat[err.argmax()]}"


@pytest.mark.parametrize("batch", [1, 3, 64, 4097])
def test_one_call_bitwise_identical_at_1_and_2_threads(rng, isa, thread_count, batch):
    model = build("deep-tanh-logsoftmax", rng)
    x = rng.standard_normal((batch, 37)).astype(np.float32)
    thread_count(1)
    one = run_model(model, x)
    thread_count(2)
    assert same_bits(one, run_model(model, x))


def test_a_rows_bits_do_not_depend_on_the_other_rows_within_the_gemv_regime(rng, isa):
    model = build("mnist-relu", rng)
    x = rng.standard_normal((_core.gemv_max_rows(), 784)).astype(np.float32)
    alone = np.concatenate([run_model(model, x[i:i + 1]) for i in range(len(x))])
    for m in range(1, len(x) + 1):
        assert same_bits(run_model(model, x[:m]), alone[:m])


def test_the_path_is_taken_exactly_when_no_gradient_is_recorded(rng, monkeypatch):
    calls = []
    real = _core.infer_run
    monkeypatch.setattr(_core, "infer_run", lambda *a: calls.append(1) or real(*a))
    model = build("deep-tanh-logsoftmax", rng)
    x = rng.standard_normal((5, 37)).astype(np.float32)
    run_model(model, x)
    assert len(calls) == 1
    y = model(fastmlp.Tensor(x))  # parameters require grad: the graph
    assert y.requires_grad and len(calls) == 1
    model.requires_grad_(False)
    y = model(fastmlp.Tensor(x))  # nothing requires grad: one call, grad mode on
    assert not y.requires_grad and len(calls) == 2
    y = model(fastmlp.Tensor(x, requires_grad=True))  # the input does
    assert y.requires_grad and len(calls) == 2
    model.train()  # the dropout would draw
    with fastmlp.no_grad():
        model(fastmlp.Tensor(x))
    assert len(calls) == 2
    model.eval()
    with fastmlp.no_grad():
        out = model(x)  # an ndarray input works too
    assert isinstance(out, fastmlp.Tensor) and len(calls) == 3


def test_the_cached_plan_follows_the_model(rng):
    model = build("leaky-elu-softplus", rng)
    x = rng.standard_normal((20, 50)).astype(np.float32)  # > gemv_max_rows: the sgemm bits

    def check():
        assert same_bits(run_model(model, x), python_forward(model, x))

    check()
    model[0].weight.data *= 0.5  # in place
    check()
    model[0].weight.data = rng.standard_normal((40, 50)).astype(np.float32)  # a new array
    check()
    model[0].weight = nn.Parameter(rng.standard_normal((40, 50)).astype(np.float32))
    check()
    model[1].negative_slope = 0.01  # an option
    check()
    model[1] = nn.Tanh()  # a child
    check()
    model.append(nn.LogSoftmax(dim=1))
    check()
    model.load_state_dict(build("leaky-elu-softplus", rng).state_dict(), assign=True)
    check()


def test_saved_and_loaded_model_runs_the_same(rng, tmp_path):
    model = build("gelu-silu-softmax", rng)
    x = rng.standard_normal((70, 20)).astype(np.float32)
    fastmlp.save(model, tmp_path / "m.fmlp")
    loaded = fastmlp.load(tmp_path / "m.fmlp").eval()
    for batch in (1, 70):
        assert same_bits(run_model(loaded, x[:batch]), run_model(model, x[:batch]))


def test_input_shapes(rng):
    model = build("deep-tanh-logsoftmax", rng)  # starts with Flatten
    x = rng.standard_normal((6, 37)).astype(np.float32)
    got = run_model(model, x.reshape(6, 1, 37))
    assert same_bits(got, run_model(model, x))
    flat = build("mnist-relu", rng)
    v = rng.standard_normal(784).astype(np.float32)
    one = run_model(flat, v)
    assert one.shape == (10,) and same_bits(one, run_model(flat, v[None])[0])
    with fastmlp.no_grad(), pytest.raises(ValueError, match="784 features"):
        flat(fastmlp.Tensor(np.zeros((2, 5), np.float32)))  # the layer-by-layer error


def test_models_the_path_does_not_take_still_run(rng):
    """Not plannable (Identity), Softmax with the implicit dim: the layer-by-layer forward."""
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for model in (nn.Sequential(nn.Linear(6, 3), nn.Identity()),
                  nn.Sequential(nn.Linear(6, 3), nn.ReLU(), nn.ReLU())):
        with fastmlp.no_grad():
            model(x)
    m = nn.Sequential(nn.Linear(6, 3), nn.Softmax())
    with fastmlp.no_grad(), pytest.warns(UserWarning, match="Implicit dimension"):
        m(x)
    with pytest.raises(ValueError, match="no one-call forward"):
        infer.predict(nn.Sequential(nn.Linear(6, 3), nn.Identity()), x)


def test_predict(rng):
    model = build("deep-tanh-logsoftmax", rng).train()  # dropout skipped by predict
    x = rng.standard_normal((8, 37))  # float64: converted
    got = infer.predict(model, x)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    assert same_bits(got, run_model(model.eval(), x.astype(np.float32)))
    out = np.empty((8, 5), np.float32)
    assert infer.predict(model, x, out=out) is out and same_bits(out, got)
    one = np.empty(10, np.float32)
    flat = build("mnist-relu", rng)
    v = rng.standard_normal(784).astype(np.float32)
    assert infer.predict(flat, v, out=one) is one and same_bits(one, run_model(flat, v))
    with pytest.raises(ValueError, match="X: expected shape"):
        infer.predict(flat, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="out: expected shape"):
        infer.predict(flat, np.zeros((2, 784)), out=np.zeros((2, 9), np.float32))
    with pytest.raises(ValueError, match="out: must not share memory"):
        infer.predict(flat, np.zeros((2, 784), np.float32),
                      out=flat[2].weight.data.reshape(-1)[:20].reshape(2, 10))


def test_infer_forward_bad_arguments_name_them(rng):
    w1 = np.ones((4, 3), np.float32)
    w2 = np.ones((2, 4), np.float32)
    x = np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"weights\[1\]: expected in_features 4"):
        kernels.infer_forward(x, [w1, w2.T.copy()], [None, None], [None, None])
    with pytest.raises(ValueError, match=r"biases\[0\]: expected shape \(4,\)"):
        kernels.infer_forward(x, [w1, w2], [np.ones(3, np.float32), None], [None, None])
    with pytest.raises(TypeError, match=r"weights\[0\]: expected dtype float32"):
        kernels.infer_forward(x, [w1.astype(np.float64), w2], [None, None], [None, None])
    with pytest.raises(ValueError, match=r"weights\[0\]: expected a C-contiguous"):
        kernels.infer_forward(x, [np.ones((3, 4), np.float32).T, w2], [None, None], [None, None])
    with pytest.raises(ValueError, match="one entry per layer"):
        kernels.infer_forward(x, [w1, w2], [None], [None, None])
    with pytest.raises(ValueError, match="at least one layer"):
        kernels.infer_forward(x, [], [], [])
    with pytest.raises(ValueError, match=r"activations\[1\]"):
        kernels.infer_forward(x, [w1, w2], [None, None], [None, "nope"])
    with pytest.raises(ValueError, match="head: expected"):
        kernels.infer_forward(x, [w1, w2], [None, None], [None, None], head="max")
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 3\)"):
        kernels.infer_forward(x[:, :2], [w1, w2], [None, None], [None, None])
    with pytest.raises(ValueError, match="out: must not share memory"):
        kernels.infer_forward(x, [w1, w2], [None, None], [None, None], out=x.reshape(-1)[:10].reshape(5, 2))
    with pytest.raises(ValueError, match="head: expected"):
        reference.infer_forward(x, [w1, w2], [None, None], [None, None], head="max")


def test_a_model_whose_layers_do_not_chain_raises_the_layer_error(rng):
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(5, 2)).eval()
    with fastmlp.no_grad(), pytest.raises(ValueError, match="5 features"):
        model(np.ones((3, 6), np.float32))
    with pytest.raises(ValueError, match="no one-call forward"):
        infer.predict(model, np.ones((3, 6), np.float32))


def test_a_deep_copy_of_a_model_plans_for_itself(rng):
    import copy
    model = build("mnist-relu", rng)
    x = rng.standard_normal((20, 784)).astype(np.float32)
    y = run_model(model, x)  # caches a plan on the model
    twin = copy.deepcopy(model)
    twin[0].weight.data *= 2
    assert same_bits(run_model(model, x), y)
    assert same_bits(run_model(twin, x), python_forward(twin, x))


# ------------------------------------------- lean (session 4): float64 rows, threads --
# float64 input: _core.infer_run converts a C-contiguous float64 x a block of rows at a
# time (kernels.h infer_forward_f64). Block rows on this CPU: 4 L2s of float32 rows.
def _block_rows(k):
    import os
    l2 = os.sysconf("SC_LEVEL2_CACHE_SIZE") if "SC_LEVEL2_CACHE_SIZE" in os.sysconf_names else 0
    l2 = l2 if l2 > 0 else 256 << 10
    return max(_core.gemv_max_rows() + 1, 4 * l2 // (4 * k))


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("batch", [0, 1, 2, 3, 7, 31, 257, "two blocks"])
def test_float64_rows_converted_by_blocks_match_the_reference(rng, isa, threads, arch, batch):
    """float64 x: each element rounded to float32 as NumPy's astype does, so the float32
    run's bound (reference_bound, derived in this module's docstring) on x.astype(float32)
    holds unchanged; up to gemv_max_rows() rows the bits are the float32 run's."""
    sizes = ARCHS[arch][0]
    if batch == "two blocks":
        batch = 2 * _block_rows(sizes[0]) + 5 if sizes[0] >= 700 else _core.gemv_max_rows() + 9
    model = build(arch, rng)
    ws, bs, acts, head = layers_of(model)
    plan = _core.infer_plan(ws, bs, acts, head)
    x64 = rng.standard_normal((batch, sizes[0]))
    x32 = x64.astype(np.float32)
    got = _core.infer_run(plan, x64)
    assert got.dtype == np.float32 and got.shape == (batch, sizes[-1])
    if batch <= _core.gemv_max_rows():
        assert same_bits(got, _core.infer_run(plan, x32))
    ref, tol = reference_bound(x32, ws, bs, acts, head)
    err = np.abs(got - ref)
    assert np.all(err <= tol), f"max err {err.max()} vs tol there {tol.flat[err.argmax()]}"
    # not C-contiguous float64: converted whole first, then the float32 run's bits
    xf = np.asfortranarray(x64)
    assert same_bits(_core.infer_run(plan, xf), _core.infer_run(plan, x32))


@pytest.mark.parametrize("batch", [1, 3, 64, 2 * 1337 + 5])
def test_float64_rows_bitwise_identical_at_1_and_2_threads(rng, isa, batch):
    model = build("mnist-relu", rng)
    plan = _core.infer_plan(*layers_of(model))
    x64 = rng.standard_normal((batch, 784))
    fastmlp.set_num_threads(1)
    try:
        a = _core.infer_run(plan, x64)
        fastmlp.set_num_threads(2)
        b = _core.infer_run(plan, x64)
    finally:
        fastmlp.set_num_threads(2)
    assert same_bits(a, b)


def test_float64_bad_rows_name_x(rng):
    model = build("mnist-relu", rng)
    plan = _core.infer_plan(*layers_of(model))
    with pytest.raises(ValueError, match="x: expected shape"):
        _core.infer_run(plan, rng.standard_normal((5, 783)))
    with pytest.raises(ValueError, match="x: expected a 2-D"):
        _core.infer_run(plan, rng.standard_normal(784))
    x = rng.standard_normal((4, 784))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        _core.infer_run(plan, x, np.zeros((4, 10)))
    with pytest.raises(ValueError, match="out: must not share memory"):
        _core.infer_run(plan, x, np.frombuffer(x.data, np.float32, 40).reshape(4, 10))


def test_several_python_threads_calling_one_model_get_the_serial_results(rng):
    """Calls from 4 Python threads at once on one model (its cached plan, the per-thread
    scratch of the core) give each call's serial bits, in the matrix-vector and GEMM
    regimes and with float64 input."""
    from concurrent.futures import ThreadPoolExecutor
    model = build("leaky-elu-softplus", rng)
    xs = [rng.standard_normal((n, 50)).astype(np.float32) for n in (1, 3, 5, 64, 301)]
    xs += [rng.standard_normal((n, 50)) for n in (2, 97)]
    want = [run_model(model, x) for x in xs]

    def work(k):
        for _ in range(30):
            for x, w in zip(xs[k % 2::2] + xs, want[k % 2::2] + want):
                with fastmlp.no_grad():
                    got = model(x).data
                if not same_bits(got, w):
                    return False
        return True

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, range(4)))


def test_a_plan_takes_unpickled_float32_arrays(rng):
    """An unpickled array has its own float32 dtype object (equal, not identical)."""
    import pickle
    w = pickle.loads(pickle.dumps(rng.standard_normal((3, 4)).astype(np.float32)))
    b = pickle.loads(pickle.dumps(np.zeros(3, np.float32)))
    x = rng.standard_normal((2, 4)).astype(np.float32)
    got = _core.infer_run(_core.infer_plan([w], [b], [None]), x)
    assert same_bits(got, kernels.gemv_forward(x, w, b))


# -- model(x) straight from Sequential.__call__ (infer1) --

def test_a_subclass_with_its_own_forward_runs_it(rng):
    """A Sequential subclass that defines forward is called as any Module: its forward
    runs (under no_grad and with grad), not the one-call path of its children."""
    class Doubled(nn.Sequential):
        def forward(self, input):
            return super().forward(input) * 2.0

    model = Doubled(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    plain = nn.Sequential(*model.children()).eval()
    x = rng.standard_normal((2, 7)).astype(np.float32)
    assert Doubled.__call__ is nn.Module.__call__
    with fastmlp.no_grad():  # its super().forward plans nothing: layer by layer
        want = 2.0 * plain._forward_layers(fastmlp.Tensor(x)).data
        assert same_bits(model(fastmlp.Tensor(x)).data, want)
    assert model(fastmlp.Tensor(x)).requires_grad


def test_an_instance_forward_attribute_is_called_as_module_call_would(rng):
    """``model.forward = f`` on an instance: ``model(x)`` runs f (Module.__call__ looks
    forward up on the instance), whatever the grad mode; deleting it brings back the
    one-call path (a removal moves the plan's mutation count)."""
    model = build("mnist-relu", rng)
    x = rng.standard_normal((1, 784)).astype(np.float32)
    want = run_model(model, x)
    seen = []
    model.forward = lambda input: seen.append(input) or "mine"
    with fastmlp.no_grad():
        assert model(fastmlp.Tensor(x)) == "mine"
    assert len(seen) == 1
    del model.forward
    calls = []
    real = _core.infer_run
    try:
        _core.infer_run = lambda *a: calls.append(1) or real(*a)
        assert same_bits(run_model(model, x), want) and calls == [1]
    finally:
        _core.infer_run = real


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 12, 13, 64])
def test_results_are_fresh_writeable_float32_arrays(rng, isa, batch):
    """The one-call result (a new array in either regime: NumPy's allocation up to
    gemv_max_rows rows, an aligned one beyond) is float32, C-contiguous, writeable and
    owns no memory any other call's result shares."""
    model = build("gelu-silu-softmax", rng)
    x = rng.standard_normal((batch, 20)).astype(np.float32)
    with fastmlp.no_grad():
        a, b = model(x).data, model(x).data
    for y in (a, b):
        assert y.dtype == np.float32 and y.flags.c_contiguous and y.flags.writeable
        assert y.shape == (batch, 3)
    assert same_bits(a, b) and not np.shares_memory(a, b)
    a[...] = 0
    assert not np.any(b == 0)
