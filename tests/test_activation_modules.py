"""The activations as layers: F functions, nn modules, fusion with Linear, the fused epoch.

The kernels themselves (accuracy in ulp, specials, every shape) are tested in
tests/test_<stem>.py; here the question is whether every layer of the package
applies the right kernel with the right hyperparameters, records the right
backward (from the output or the input, as the registry's ``saves`` says),
keeps in-place writes correct, and gives the same bits fused and unfused:

* F / nn forward == ``kernels.<stem>_forward(x, **params)`` bitwise, and near the
  float64 reference (a sanity bound, derived below);
* autograd gradients against central finite differences of the float64
  reference (tests/helpers.py ``fd_grad``), out of place, in place, and through a
  Linear;
* Linear + activation fused (Sequential, ``F.linear(activation=...)``, in place on
  a Linear's output) == Linear then the activation, forward and backward bitwise,
  on every ISA path at 1 and 2 threads;
* ``fastmlp.train_epoch`` (the C++ epoch) == the Python loop bitwise for
  Sequential(Flatten, Linear, act, Linear, act2, Linear), without falling back;
* repr (PyTorch's), save/load, bad hyperparameters (ValueError naming them).
"""
import logging
import math

import numpy as np
import pytest

import fastmlp
from fastmlp import Tensor, kernels, nn, optim, reference
from fastmlp import functional as F
from fastmlp.functional.activation import ACTIVATIONS, apply_activation, get_activation
from fastmlp.train import python_epoch, train_epoch
from fastmlp.train.plan import make_plan
from helpers import U, fd_grad

#: registry kind -> nn class name
CLASS = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
         "gelu": "GELU", "silu": "SiLU", "elu": "ELU", "softplus": "Softplus"}
#: the kinds whose PyTorch function and module take ``inplace``
INPLACE = {"relu", "leaky_relu", "silu", "elu"}

#: (kind, params): defaults and non-defaults of every hyperparameter
CASES = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": -0.5}),
    ("leaky_relu", {"negative_slope": 1.5}),
    ("tanh", {}),
    ("sigmoid", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("silu", {}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("elu", {"alpha": 2.0}),
    ("elu", {"alpha": 0.0}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
    ("softplus", {"beta": 0.5, "threshold": 1.0}),
    ("softplus", {"beta": -1.5, "threshold": 3.0}),
]
IDS = [k + "".join(f"-{n}={v}" for n, v in p.items()) for k, p in CASES]
SHAPES = [(0,), (1,), (7, 13), (3, 5, 2), (257,), (300, 257)]  # 77100 > the parallel threshold

LOG = "fastmlp"


def kinks(kind, params):
    """The x where the function (or its derivative) is not smooth: finite differences keep
    away from them."""
    if kind in ("relu", "leaky_relu", "elu"):
        return [0.0]
    if kind == "softplus":
        return [params.get("threshold", 20.0) / params.get("beta", 1.0)]
    return []


def away(x, ks, gap):
    """x with every entry within ``gap`` of a kink moved to the kink +- gap."""
    for k in ks:
        d = x - k
        x = np.where(np.abs(d) < gap, k + np.where(d >= 0, gap, -gap), x)
    return x


def data(rng, shape, kind, params, gap=0.0):
    """N(0, 9) float32 (the softplus kinks at 2 and 2.5 fall inside), away from kinks."""
    x = 3.0 * rng.standard_normal(shape)
    return away(x, kinks(kind, params), gap).astype(np.float32)


def module(kind, params, inplace=None):
    kw = dict(params)
    if inplace is not None:
        kw["inplace"] = inplace
    return getattr(nn, CLASS[kind])(**kw)


def ref_forward(kind, params, x):
    return getattr(reference, f"{kind}_forward")(np.asarray(x, np.float64), **params)


def kernel_forward(kind, params, x):
    return getattr(kernels, f"{kind}_forward")(x, **params)


def bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def assert_bitwise(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, what
    assert np.array_equal(bits(a), bits(b)), f"{what}: max diff {np.abs(a - b).max()}"


# ----------------------------------------------------------------- registry --


def test_registry_declares_what_the_contract_says():
    saves = {"identity": "input", "relu": "output", "leaky_relu": "input", "tanh": "output",
             "sigmoid": "output", "gelu": "input", "silu": "input", "elu": "output",
             "softplus": "input"}
    assert {k: a.saves for k, a in ACTIVATIONS.items()} == saves
    params = {k: {p.name: p.default for p in a.params} for k, a in ACTIVATIONS.items()}
    assert params == {"identity": {}, "relu": {}, "leaky_relu": {"negative_slope": 0.01},
                      "tanh": {}, "sigmoid": {}, "gelu": {"approximate": "none"}, "silu": {},
                      "elu": {"alpha": 1.0}, "softplus": {"beta": 1.0, "threshold": 20.0}}
    for k in CLASS:
        assert ACTIVATIONS[k].epilogue == k, k


@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_specs_round_trip_and_name_the_epilogue(kind, params):
    act = get_activation({"name": kind, **params})
    full = {p.name: params.get(p.name, p.default) for p in ACTIVATIONS[kind].params}
    assert act.kwargs == full
    expect = {"name": kind, **full} if full else kind
    assert act.spec == expect and act.epilogue == expect
    assert get_activation(act.spec) is act  # cached: binding per call is a lookup
    assert get_activation(act) is act
    if not full:
        assert get_activation(kind) is act


def test_identity_is_no_activation():
    assert get_activation(None) is None
    assert get_activation("identity") is None
    assert get_activation({"name": "identity"}) is None


@pytest.mark.parametrize("spec, match", [
    ("swish", "activation: unknown activation 'swish'"),
    (3, "activation: unknown activation 3"),
    ({"negative_slope": 0.1}, "activation: unknown activation"),
    ({"name": "gelu", "alpha": 1.0}, "activation: gelu has no parameter 'alpha'"),
    ({"name": "relu", "inplace": True}, "activation: relu has no parameter 'inplace'"),
    ({"name": "gelu", "approximate": "fast"}, "activation: approximate: expected 'none' or 'tanh'"),
    ({"name": "leaky_relu", "negative_slope": math.nan}, "activation: negative_slope"),
    ({"name": "elu", "alpha": -1.0}, "activation: alpha: expected a finite number >= 0"),
    ({"name": "softplus", "beta": 0.0}, "activation: beta: expected a finite nonzero number"),
    ({"name": "softplus", "threshold": math.inf}, "activation: threshold"),
    ({"name": "leaky_relu", "negative_slope": "0.1"}, "activation: negative_slope"),
])
def test_bad_specs_name_the_argument(spec, match):
    with pytest.raises(ValueError, match=match):
        get_activation(spec)
    x = np.ones((2, 3), np.float32)
    W = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="linear: " + match):
        F.linear(x, W, activation=spec)


# ------------------------------------------------------------------ forward --


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_forward_is_the_kernel_and_near_the_reference(rng, isa, threads, kind, params, shape):
    """F, nn and Tensor methods give ``kernels.<stem>_forward(x, **params)``'s bits; the
    input is untouched unless in place.

    Against the float64 reference: |y - ref| <= 2^-16 (|ref| + |x|). That is a sanity
    bound (the kernels' ulp accuracy is tests/test_<stem>.py's business): a correct
    float32 kernel errs by a few ulp of |ref|, or of |x| where its formula cancels
    (gelu and silu far left, softplus near its threshold), i.e. some 2^-21 (|ref| + |x|)
    at most; 2^-16 is 32x that. The bitwise comparison is what detects a wrong
    parameter."""
    x = data(rng, shape, kind, params)
    x0 = x.copy()
    want = kernel_forward(kind, params, x)
    ref = ref_forward(kind, params, x)
    assert np.all(np.abs(want - ref) <= 2.0 ** -16 * (np.abs(ref) + np.abs(x)))
    got = [getattr(F, kind)(x, **params), getattr(F, kind)(Tensor(x), **params),
           module(kind, params)(x), module(kind, params)(Tensor(x, requires_grad=True))]
    if kind in ("tanh", "sigmoid", "relu"):
        got.append(getattr(Tensor(x), kind)())
    for y in got:
        assert isinstance(y, Tensor)
        assert_bitwise(y.data, want, kind)
    assert_bitwise(x, x0, "input untouched")
    if kind in INPLACE:
        t = Tensor(x.copy())
        y = module(kind, params, inplace=True)(t)
        assert y is t and t._version == 1
        assert_bitwise(t.data, want, "in place")


# ----------------------------------------------------------------- backward --


def _fd_tolerance(w, fd):
    """|g - fd| <= 2^-16 (|fd| + |w|) + 1e-7 for g = w f'(x) from the float32 kernels.

    Derivation: the backward kernel rounds a few operations on dout = w and a
    derivative evaluated from the saved float32 x or y (y itself within an ulp): its
    error is c u |w| (|f'| + 1) with c of order 10 (the "+1": 1 - y^2, y (1 - y) and
    y + alpha lose up to 2u |w| absolutely); central differences of the float64
    reference at eps = 1e-6 err by ~1e-9 (tests/helpers.py), far from kinks (data
    keeps 0.05 away). 2^-16 = 256u covers c with a margin; a wrong formula or
    parameter is off by orders more (0.01 |w| for a slope 0.01 apart)."""
    return 2.0 ** -16 * (np.abs(fd) + np.abs(w)) + 1e-7


def _fd(kind, params, x, w):
    w64 = w.astype(np.float64)
    return fd_grad(lambda x64: float(np.sum(w64 * ref_forward(kind, params, x64))), x)


@pytest.mark.parametrize("how", ["module", "functional", "in_place_on_a_node"])
@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_backward_matches_finite_differences(rng, kind, params, how):
    """See :func:`_fd_tolerance`. "in_place_on_a_node": the activation overwrites a
    non-leaf (h = 1 * x), so an input-reading backward must read a copy kept before."""
    x = data(rng, (3, 5), kind, params, gap=0.05)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    if how == "module":
        y = module(kind, params)(t)
    elif how == "functional":
        y = getattr(F, kind)(t, **params)
    else:
        h = t * 1.0
        y = apply_activation(get_activation({"name": kind, **params}), h, inplace=True)
        assert y is h and h._version == 1
        assert_bitwise(h.data, kernel_forward(kind, params, x), "in place")
    assert y.grad_fn.name() == ACTIVATIONS[kind].op + "Backward"
    y.backward(w)
    fd = _fd(kind, params, x, w)
    err = np.abs(t.grad - fd)
    assert np.all(err <= _fd_tolerance(w, fd)), f"max err {err.max()}"


@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_in_place_equals_out_of_place_bitwise(rng, kind, params):
    """The same kernels on the same inputs: in place (with the input copied first when
    the backward reads it) gives the out-of-place bits, values and gradients."""
    x = data(rng, (6, 7), kind, params)
    w = rng.standard_normal((6, 7)).astype(np.float32)
    act = get_activation({"name": kind, **params})
    grads, outs = [], []
    for inplace in (False, True):
        t = Tensor(x.copy(), requires_grad=True)
        y = apply_activation(act, t * 1.0, inplace=inplace)
        y.backward(w)
        outs.append(y.data)
        grads.append(t.grad)
    assert_bitwise(outs[0], outs[1], "forward")
    assert_bitwise(grads[0], grads[1], "backward")


@pytest.mark.parametrize("kind", sorted(CLASS))
def test_in_place_on_a_leaf_that_requires_grad_raises(kind):
    t = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        apply_activation(get_activation(kind), t, inplace=True)
    with fastmlp.no_grad():  # allowed without recording, as in PyTorch
        apply_activation(get_activation(kind), t, inplace=True)
    assert t._version == 1


@pytest.mark.parametrize("kind", sorted(CLASS))
def test_overwriting_what_a_backward_reads_raises(rng, kind):
    """The version counter: after its saved Tensor (the input or the output, as
    ``saves`` says) is written in place, the step refuses to run."""
    x = Tensor(data(rng, (4, 3), kind, {}), requires_grad=True)
    h = x * 1.0
    y = getattr(F, kind)(h)
    saved = y if ACTIVATIONS[kind].saves == "output" else h
    F.relu(saved, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("kind", sorted(CLASS))
def test_in_place_after_a_consumer_raises(rng, kind):
    """An in-place activation on a Tensor an earlier op saved invalidates that op."""
    x = Tensor(data(rng, (4, 3), kind, {}), requires_grad=True)
    h = x * 1.0
    z = h * h  # saves h
    apply_activation(get_activation(kind), h, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


# ------------------------------------------------------- fusion with Linear --


def _linear_data(rng, kind, params, batch=5, n_in=4, n_out=3):
    """x, W, b, G with every pre-activation at least 1e-3 from a kink (resampled), so
    that finite differences (eps 1e-6 moves z by < 1e-5) never straddle one."""
    ks = kinks(kind, params)
    while True:
        x = rng.standard_normal((batch, n_in)).astype(np.float32)
        W = rng.uniform(-1.0, 1.0, (n_out, n_in)).astype(np.float32)
        b = rng.uniform(-1.0, 1.0, n_out).astype(np.float32)
        z = x.astype(np.float64) @ W.T.astype(np.float64) + b
        if all(np.abs(z - k).min() > 1e-3 for k in ks):
            break
    G = rng.standard_normal((batch, n_out)).astype(np.float32)
    return x, W, b, G


def _run(kind, params, x, W, b, G, how):
    """(output, x.grad, W.grad, b.grad) of act(x W^T + b) backward G, built ``how``."""
    lin = nn.Linear(W.shape[1], W.shape[0])
    lin.weight.data[...] = W
    lin.bias.data[...] = b
    t = Tensor(x.copy(), requires_grad=True)
    spec = {"name": kind, **params}
    act = module(kind, params)
    if how == "sequential":  # fused by Sequential
        y = nn.Sequential(lin, act)(t)
    elif how == "functional":  # F.linear(activation=...)
        y = F.linear(t, lin.weight, lin.bias, activation=spec)
    elif how == "in_place":  # the Linear's step takes the activation
        y = apply_activation(get_activation(spec), lin(t), inplace=True)
    else:  # unfused: Linear, then the activation's own step
        y = act(lin(t))
        assert y._op == ACTIVATIONS[kind].op
    if how != "unfused":
        assert y._op == "Linear" + ACTIVATIONS[kind].op
        assert type(y._backward).__name__ == "_LinearBackward"
    y.backward(G)
    return y.data, t.grad, lin.weight.grad, lin.bias.grad


@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_fused_equals_unfused_bitwise(rng, isa, threads, kind, params):
    """Fused and unfused run the same kernels on the same inputs (the epilogue and
    ``<stem>_forward`` agree bitwise per the kernels' contract; an input-reading
    activation's fused step keeps the GEMM's z and applies the kernel out of place)."""
    x, W, b, G = _linear_data(rng, kind, params, batch=37, n_in=19, n_out=23)
    want = _run(kind, params, x, W, b, G, "unfused")
    for how in ("sequential", "functional", "in_place"):
        got = _run(kind, params, x, W, b, G, how)
        for name, a, e in zip(("y", "dx", "dW", "db"), got, want):
            assert_bitwise(a, e, f"{how} {name}")
    # recording nothing, an input-reading activation runs in the epilogue: the same bits
    lin = nn.Linear(19, 23)
    lin.weight.data[...] = W
    lin.bias.data[...] = b
    with fastmlp.no_grad():
        y = nn.Sequential(lin, module(kind, params))(x)
    assert_bitwise(y.data, want[0], "no_grad")
    assert_bitwise(F.linear(x, W, b, activation={"name": kind, **params}).data, want[0], "arrays")


@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_fused_gradients_match_finite_differences(rng, kind, params):
    """d/dx, d/dW, d/db of sum(G * act(x W^T + b)), fused, against central differences
    of the float64 reference.

    Tolerance 2^-14 (A + |fd|) + 1e-7, A the same gradient with every factor in
    absolute value and f' replaced by |f'| + 1 (for dW: (|G| (|f'(z)| + 1))^T |x|).
    Each term G f'(z) x carries: z's error (a K = 4 term dot product plus the bias,
    (K + 1) u of its terms), moved through f'' (|f''| <= 1 for these functions and
    parameters) into f'; the backward kernel's c u (|f'| + 1) (see _fd_tolerance); the
    gradient GEMM's M = 5 term sum (M u); and the finite differences' ~1e-9. Together
    < 100u of A; 2^-14 = 1024u leaves a margin of 10."""
    x, W, b, G = _linear_data(rng, kind, params)
    _, dx, dW, db = _run(kind, params, x, W, b, G, "sequential")
    x64, W64, b64, G64 = (a.astype(np.float64) for a in (x, W, b, G))

    def loss(x_, W_, b_):
        return float(np.sum(G64 * ref_forward(kind, params, x_ @ W_.T + b_)))

    fdx = fd_grad(lambda v: loss(v, W64, b64), x64)
    fdW = fd_grad(lambda v: loss(x64, v, b64), W64)
    fdb = fd_grad(lambda v: loss(x64, W64, v), b64)
    # |f'(z)| + 1 from the reference's own derivative (its backward at dout = 1)
    z = x64 @ W64.T + b64
    saved = z if ACTIVATIONS[kind].saves == "input" else ref_forward(kind, params, z)
    fp = np.abs(getattr(reference, f"{kind}_backward")(np.ones_like(z), saved, **params)) + 1
    A = np.abs(G64) * fp
    for name, g, fd, mag in (("dx", dx, fdx, A @ np.abs(W64)), ("dW", dW, fdW, A.T @ np.abs(x64)),
                             ("db", db, fdb, A.sum(0))):
        err = np.abs(g - fd)
        tol = 2.0 ** -14 * (mag + np.abs(fd)) + 1e-7
        assert np.all(err <= tol), f"{name}: max err/tol {np.max(err / tol)}"


def test_input_saving_fused_step_keeps_the_pre_activation(rng):
    """In place on a Linear's output: the fused step's saved array is a copy of z (the
    output overwrote z), for every activation whose backward reads its input."""
    lin = nn.Linear(4, 3)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    for kind, a in ACTIVATIONS.items():
        if kind == "identity":
            continue
        z = lin(x).data.copy()
        h = lin(x)
        y = apply_activation(a.bind(), h, inplace=True)
        assert y is h and y._op == "Linear" + a.op
        saved = y._backward.act_saved
        if a.saves == "input":
            assert saved is not y.data
            assert_bitwise(saved, z, kind)
        else:
            assert saved is y.data


# --------------------------------------------------------------- nn modules --


REPRS = [
    (lambda: nn.ReLU(), "ReLU()"),
    (lambda: nn.ReLU(inplace=True), "ReLU(inplace=True)"),
    (lambda: nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
    (lambda: nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda: nn.Tanh(), "Tanh()"),
    (lambda: nn.Sigmoid(), "Sigmoid()"),
    (lambda: nn.GELU(), "GELU(approximate='none')"),
    (lambda: nn.GELU(approximate="tanh"), "GELU(approximate='tanh')"),
    (lambda: nn.SiLU(), "SiLU()"),
    (lambda: nn.SiLU(inplace=True), "SiLU(inplace=True)"),
    (lambda: nn.ELU(), "ELU(alpha=1.0)"),
    (lambda: nn.ELU(alpha=0.5, inplace=True), "ELU(alpha=0.5, inplace=True)"),
    (lambda: nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"),
    (lambda: nn.Softplus(2, 10), "Softplus(beta=2.0, threshold=10.0)"),
]


@pytest.mark.parametrize("make, text", REPRS, ids=[t for _, t in REPRS])
def test_repr_is_pytorchs(make, text):
    assert repr(make()) == text


@pytest.mark.parametrize("kind, params", CASES, ids=IDS)
def test_module_attributes_and_fused_role_carry_the_params(kind, params):
    m = module(kind, params)
    full = {p.name: params.get(p.name, p.default) for p in ACTIVATIONS[kind].params}
    for n, v in full.items():
        assert getattr(m, n) == v
    assert m.fused_role() == nn.FusedRole("activation", activation=kind, spec=full)
    assert hasattr(m, "inplace") == (kind in INPLACE)


def test_changed_attributes_are_what_runs(rng):
    m = nn.LeakyReLU(0.1)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    assert_bitwise(m(x).data, kernels.leaky_relu_forward(x, negative_slope=0.1))
    assert m.fused_role().spec == {"negative_slope": 0.1}
    m.negative_slope = 0.3
    assert_bitwise(m(x).data, kernels.leaky_relu_forward(x, negative_slope=0.3))
    assert m.fused_role().spec == {"negative_slope": 0.3}
    for bad in (math.nan, True):
        m.negative_slope = bad
        with pytest.raises(ValueError, match="LeakyReLU: negative_slope"):
            m(x)
        with pytest.raises(ValueError, match="LeakyReLU: negative_slope"):
            m.fused_role()


def test_subclass_declares_for_itself():
    class MyGELU(nn.GELU):
        def forward(self, input):
            return super().forward(input)

    assert MyGELU().fused_role().kind == "unsupported"


@pytest.mark.parametrize("call, match", [
    (lambda: nn.LeakyReLU(math.nan), "LeakyReLU: negative_slope: expected a finite number"),
    (lambda: nn.LeakyReLU("0.1"), "LeakyReLU: negative_slope: expected a real number"),
    (lambda: nn.ELU(alpha=-0.5), "ELU: alpha: expected a finite number >= 0"),
    (lambda: nn.ELU(alpha=math.inf), "ELU: alpha"),
    (lambda: nn.Softplus(beta=0), "Softplus: beta: expected a finite nonzero number"),
    (lambda: nn.Softplus(beta=math.nan), "Softplus: beta"),
    (lambda: nn.Softplus(threshold=math.nan), "Softplus: threshold"),
    (lambda: nn.GELU("fast"), "GELU: approximate: expected 'none' or 'tanh', got 'fast'"),
    (lambda: F.leaky_relu(np.ones(3), negative_slope=math.inf), "leaky_relu: negative_slope"),
    (lambda: F.elu(np.ones(3), alpha=-1), "elu: alpha"),
    (lambda: F.softplus(np.ones(3), beta=0.0), "softplus: beta"),
    (lambda: F.softplus(np.ones(3), threshold=-math.inf), "softplus: threshold"),
    (lambda: F.gelu(np.ones(3), approximate="erf"), "gelu: approximate"),
])
def test_bad_hyperparameters_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pytorch_signatures():
    import inspect
    sig = {n: str(inspect.signature(getattr(F, n))) for n in CLASS}
    assert sig == {
        "relu": "(input, inplace=False)",
        "leaky_relu": "(input, negative_slope=0.01, inplace=False)",
        "tanh": "(input)", "sigmoid": "(input)",
        "gelu": "(input, approximate='none')",
        "silu": "(input, inplace=False)",
        "elu": "(input, alpha=1.0, inplace=False)",
        "softplus": "(input, beta=1.0, threshold=20.0)",
    }
    mods = {c: list(inspect.signature(getattr(nn, c)).parameters) for c in CLASS.values()}
    assert mods == {"ReLU": ["inplace"], "LeakyReLU": ["negative_slope", "inplace"],
                    "Tanh": [], "Sigmoid": [], "GELU": ["approximate"], "SiLU": ["inplace"],
                    "ELU": ["alpha", "inplace"], "Softplus": ["beta", "threshold"]}


#: Sequential(Flatten, Linear, act, Linear, act2, Linear) pairs: every module once as the
#: first activation (with non-default options), followed by another
PAIRS = [
    (lambda: nn.ReLU(), lambda: nn.Tanh()),
    (lambda: nn.LeakyReLU(0.2), lambda: nn.GELU()),
    (lambda: nn.LeakyReLU(0.1, inplace=True), lambda: nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: nn.SiLU()),
    (lambda: nn.Sigmoid(), lambda: nn.ELU(alpha=0.5)),
    (lambda: nn.GELU(), lambda: nn.Softplus(beta=2.0, threshold=5.0)),
    (lambda: nn.GELU(approximate="tanh"), lambda: nn.LeakyReLU(-0.3)),
    (lambda: nn.SiLU(), lambda: nn.ReLU()),
    (lambda: nn.SiLU(inplace=True), lambda: nn.GELU(approximate="tanh")),
    (lambda: nn.ELU(), lambda: nn.Softplus()),
    (lambda: nn.ELU(alpha=2.0, inplace=True), lambda: nn.Tanh()),
    (lambda: nn.Softplus(), lambda: nn.SiLU()),
    (lambda: nn.Softplus(beta=0.5, threshold=1.0), lambda: nn.ELU()),
]
PAIR_IDS = [f"{a()!r}-{b()!r}" for a, b in PAIRS]


def pair_model(rng, a1, a2):
    """12-16-9-5 with a1 and a2 after the first two Linears, weights U(-0.4, 0.4) from rng."""
    m = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), a1(), nn.Linear(16, 9), a2(),
                      nn.Linear(9, 5))
    for p in m.parameters():
        p.data[...] = rng.uniform(-0.4, 0.4, p.data.shape)
    return m


@pytest.mark.parametrize("a1, a2", PAIRS, ids=PAIR_IDS)
def test_save_load_round_trip_of_a_sequential(rng, a1, a2, tmp_path):
    m = pair_model(rng, a1, a2)
    path = tmp_path / "m.npz"
    fastmlp.save(m, path)
    loaded = fastmlp.load(path)
    assert repr(loaded) == repr(m)
    x = rng.standard_normal((7, 3, 4)).astype(np.float32)
    assert_bitwise(loaded(x).data, m(x).data)
    for child, twin in zip(m.children(), loaded.children()):
        assert child.fused_role() == twin.fused_role()


def test_module_apply_visits_children_first_and_returns_self():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.GELU(), nn.Tanh()))
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "GELU", "Tanh", "Sequential", "Sequential"]


# ------------------------------------------------------------ fused epoch --


@pytest.mark.parametrize("a1, a2", PAIRS, ids=PAIR_IDS)
def test_plan_reads_the_declared_activations(rng, a1, a2):
    m = pair_model(rng, a1, a2)
    crit = nn.CrossEntropyLoss()
    plan = make_plan(m, crit, optim.SGD(m.parameters(), lr=0.1), np.zeros((4, 3, 4), np.float32))
    want = [get_activation({"name": a().fused_role().activation, **a().fused_role().spec}).epilogue
            for a in (a1, a2)] + [None]
    assert plan.activations == want


def _epochs(rng, a1, a2, opts, epochs=2, n=203, batch_size=32):
    X = rng.standard_normal((n, 3, 4)).astype(np.float32)
    y = rng.integers(0, 5, n)
    m1 = pair_model(rng, a1, a2)
    import copy
    m2 = copy.deepcopy(m1)
    o1 = opts[0](m1.parameters(), **opts[1])
    o2 = opts[0](m2.parameters(), **opts[1])
    crit = nn.CrossEntropyLoss()
    for e in range(epochs):
        l1 = train_epoch(m1, X, y, crit, o1, batch_size=batch_size, seed=7 + e)
        perm = np.random.default_rng(7 + e).permutation(n)
        l2 = python_epoch(m2, X, y, crit, o2, perm, batch_size)
        assert l1 == l2 and math.isfinite(l1)
    for (n1, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert_bitwise(p1.data, p2.data, n1)


@pytest.mark.parametrize("a1, a2", PAIRS, ids=PAIR_IDS)
def test_fused_epoch_equals_python_loop_bitwise(rng, isa, threads, a1, a2, caplog):
    """The C++ epoch runs the same kernels on the same inputs as the Python loop (the
    backward from the saved output or pre-activation as ``saves`` says): same bits,
    and it does run (no fallback logged)."""
    with caplog.at_level(logging.DEBUG, logger=LOG):
        _epochs(rng, a1, a2, (optim.SGD, dict(lr=0.05, momentum=0.9)))
    assert "Python loop" not in caplog.text


@pytest.mark.parametrize("pair", [1, 5, 9])
def test_fused_epoch_with_adam_equals_python_loop_bitwise(rng, pair, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOG):
        _epochs(rng, *PAIRS[pair], (optim.Adam, dict(lr=0.01)))
    assert "Python loop" not in caplog.text


def test_activation_not_after_a_linear_falls_back(rng, caplog):
    m = nn.Sequential(nn.Flatten(), nn.GELU(), nn.Linear(12, 5))
    X = rng.standard_normal((20, 3, 4)).astype(np.float32)
    y = rng.integers(0, 5, 20)
    with caplog.at_level(logging.DEBUG, logger=LOG):
        train_epoch(m, X, y, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1))
    assert "running the Python loop" in caplog.text and "GELU" in caplog.text


def test_binding_does_not_depend_on_what_was_bound_before():
    """The cache of bound activations keys on the arguments' types too: True equals 1.0
    as a dict key, but a bool is not a slope."""
    assert F.leaky_relu(np.ones(2, np.float32), negative_slope=1.0) is not None
    with pytest.raises(ValueError, match="leaky_relu: negative_slope: expected a real number"):
        F.leaky_relu(np.ones(2, np.float32), negative_slope=True)
    a = ACTIVATIONS["softplus"]
    assert a.bind(beta=2) is a.bind(beta=2.0) is a.bind(threshold=20.0, beta=2.0)
    with pytest.raises(ValueError, match=r"softplus has no parameter 'alpha' \(its parameters: "
                                         r"'beta', 'threshold'\)"):
        a.bind(alpha=1.0)
