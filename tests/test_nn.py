"""nn: Module machinery (registration, names, repr, modes, state dicts), Linear init and
input checks, and every module's gradient against central finite differences of the
float64 reference (fastmlp.reference)."""
from collections import OrderedDict

import numpy as np
import pytest

from fastmlp import functional as F
from fastmlp import nn, reference
from fastmlp.autograd import Tensor
from helpers import fd_grad, seed_net


# Tolerance for float32 gradients vs float64 finite differences: the float32 kernels
# round each product/sum to 2^-24 relative; with K <= 20 terms of O(1) the absolute error
# is < 20 * 6e-8 * O(1) ~ 1e-6, and the differences are accurate to ~1e-9. 1e-5 leaves room.
GRAD_TOL = dict(rtol=1e-4, atol=1e-5)


# --------------------------------------------------------- machinery --


def test_named_parameters_use_pytorch_names():
    net = seed_net("script")
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                      "fc2.bias"]
    assert [p.shape for p in net.parameters()] == [(128, 784), (128,), (10, 128), (10,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    seq = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2, bias=False))
    assert list(seq.state_dict()) == ["1.weight", "1.bias", "3.weight"]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    assert len(list(seq.modules())) == 5 and list(seq.children())[1] is seq[1]
    nested = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Linear(2, 2)), head=nn.Linear(2, 1)))
    assert list(nested.state_dict()) == ["body.0.weight", "body.0.bias", "head.weight",
                                         "head.bias"]


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2


def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(np.zeros(3, np.float32))
    m.child = nn.Linear(2, 2)
    m.plain = 5
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"]
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = np.zeros(3)
    m.w = None
    assert m.w is None and [n for n, _ in m.named_parameters()] == ["child.weight", "child.bias"]
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = 3
    del m.child
    assert list(m._modules) == [] and not hasattr(m, "child")

    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_repr_is_pytorch_like():
    assert repr(seed_net("script")) == (
        "Net(\n"
        "  (fc1): Linear(in_features=784, out_features=128, bias=True)\n"
        "  (fc2): Linear(in_features=128, out_features=10, bias=True)\n"
        ")")
    seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 10, bias=False), nn.ReLU())
    assert repr(seq) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=10, bias=False)\n"
        "  (2): ReLU()\n"
        ")")
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_train_eval_zero_grad(rng):
    net = seed_net("script")
    assert net.training and net.fc1.training
    assert net.eval() is net and not net.fc1.training
    net.train()
    assert net.fc2.training
    out = net(rng.standard_normal((2, 784)).astype(np.float32))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_sequential_container_ops():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c] and seq[-1] is c
    assert isinstance(seq[:2], nn.Sequential) and list(seq[:2]) == [a, b]
    seq.append(nn.ReLU())
    assert len(seq) == 4
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and seq[1] is c
    seq[2] = nn.Flatten()
    assert isinstance(seq[2], nn.Flatten)
    with pytest.raises(IndexError):
        seq[5]
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    assert len(list(ml.parameters())) == 4 and len(ml) == 2


def test_deepcopy_and_pickle(rng):
    import copy
    import pickle

    net = seed_net("script")
    x = rng.standard_normal((2, 784)).astype(np.float32)
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert clone.fc1.weight is not net.fc1.weight
        assert clone.fc1.weight is clone.fc1._parameters["weight"]  # registries stay in step
        assert isinstance(clone.fc1.weight, nn.Parameter)
        np.testing.assert_array_equal(clone(x).data, net(x).data)
        clone.fc1.weight.data[...] = 0
        assert net.fc1.weight.data.any()


# ------------------------------------------------------------- Linear --


def test_linear_init_matches_pytorch_distribution_and_seed():
    nn.manual_seed(123)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w, b = lin.weight.data, lin.bias.data
    assert w.shape == (300, 400) and b.shape == (300,)
    assert w.dtype == np.float32 and w.flags.c_contiguous
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-k, k): mean 0, std k/sqrt(3) (120000 samples: 4-sigma bands)
    assert abs(w.mean()) < 4 * bound / np.sqrt(3) / np.sqrt(w.size)
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    nn.manual_seed(123)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(again.weight.data, w)
    np.testing.assert_array_equal(again.bias.data, b)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_wrong_feature_count_names_the_layer(rng):
    net = seed_net("script")
    with pytest.raises(ValueError, match=r"Linear\(in_features=784, out_features=128\): "
                                         r"input has 700 features \(input shape \(4, 700\)\)"):
        net(rng.standard_normal((4, 700)).astype(np.float32))


def test_linear_converts_float64_and_accepts_leading_dims(rng):
    lin = nn.Linear(5, 3)
    x = rng.standard_normal((2, 4, 5))
    out = lin(x)
    assert out.dtype == np.float32 and out.shape == (2, 4, 3)
    expect = reference.sgemm(x.reshape(8, 5).astype(np.float32), lin.weight.data, trans_b=True,
                             bias=lin.bias.data)
    np.testing.assert_allclose(out.data.reshape(8, 3), expect, rtol=1e-5, atol=1e-6)
    xt = Tensor(x, requires_grad=True)
    lin(xt).sum().backward()
    assert xt.grad.shape == (2, 4, 5)


# ---------------------------------------------------------- gradients --


def _linear_ref(x, W, b, relu=False):
    return reference.sgemm(x, W, trans_b=True, bias=b, activation="relu" if relu else None)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_match_finite_differences(rng, bias):
    lin = nn.Linear(7, 5, bias=bias)
    x = rng.standard_normal((6, 7))
    G = rng.standard_normal((6, 5))
    W = lin.weight.data.astype(np.float64)
    b = lin.bias.data.astype(np.float64) if bias else None
    xt = Tensor(x, requires_grad=True)
    lin(xt).backward(G)
    np.testing.assert_allclose(lin.weight.grad,
                               fd_grad(lambda v: np.sum(G * _linear_ref(x, v, b)), W), **GRAD_TOL)
    np.testing.assert_allclose(xt.grad,
                               fd_grad(lambda v: np.sum(G * _linear_ref(v, W, b)), x), **GRAD_TOL)
    if bias:
        np.testing.assert_allclose(lin.bias.grad,
                                   fd_grad(lambda v: np.sum(G * _linear_ref(x, W, v)), b),
                                   **GRAD_TOL)


def test_functional_linear_with_array_weights(rng):
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    W = rng.standard_normal((2, 4)).astype(np.float32)
    b = nn.Parameter(np.zeros(2, np.float32))
    out = F.linear(x, W, b)
    np.testing.assert_allclose(out.data, x.data @ W.T, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.ones((3, 2)) @ W, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b.grad, [3, 3])
    # a weight computed by another op (non-leaf) gets its gradient through the graph
    Wp = nn.Parameter(W)
    F.linear(x.detach(), Wp * 2.0).sum().backward()
    np.testing.assert_allclose(Wp.grad, 2 * np.ones((2, 3)) @ x.data, rtol=1e-5, atol=1e-6)


def test_linear_grad_accumulates_into_existing_grad(rng):
    lin = nn.Linear(4, 3)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    lin(x).sum().backward()
    g1w, g1b = lin.weight.grad.copy(), lin.bias.grad.copy()
    wbuf = lin.weight.grad
    lin(x).sum().backward()
    assert lin.weight.grad is wbuf  # beta=1 accumulation into the same array
    np.testing.assert_allclose(lin.weight.grad, 2 * g1w, rtol=1e-6)
    np.testing.assert_allclose(lin.bias.grad, 2 * g1b, rtol=1e-6)


def test_relu_and_flatten_gradients(rng):
    x = rng.standard_normal((3, 2, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
    G = rng.standard_normal((3, 2, 4))
    xt = Tensor(x, requires_grad=True)
    nn.ReLU()(xt).backward(G)
    np.testing.assert_allclose(
        xt.grad, fd_grad(lambda v: np.sum(G * reference.relu_forward(v)), x), **GRAD_TOL)
    xt = Tensor(x, requires_grad=True)
    out = nn.Flatten()(xt)
    assert out.shape == (3, 8)
    G2 = rng.standard_normal((3, 8))
    out.backward(G2)
    np.testing.assert_array_equal(xt.grad, G2.reshape(3, 2, 4).astype(np.float32))


def test_flatten_semantics():
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert F.flatten(x).shape == (120,)
    assert F.flatten(x, 1).shape == (2, 60)
    assert F.flatten(x, 1, 2).shape == (2, 12, 5)
    assert F.flatten(x, -2).shape == (2, 3, 20)
    assert F.flatten(np.float32(3.0)).shape == (1,)
    assert nn.Flatten(0, -1)(x).shape == (120,)
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        F.flatten(x, 2, 1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.flatten(x, 4)
    t = Tensor(x)
    assert F.flatten(t, 3) is t  # nothing to merge: the same tensor


def test_sequential_gradients_match_finite_differences(rng):
    nn.manual_seed(7)
    model = seed_net(sizes=(6, 5, 3))
    x = rng.standard_normal((4, 2, 3))
    G = rng.standard_normal((4, 3))
    W1, b1 = (p.data.astype(np.float64) for p in (model[1].weight, model[1].bias))
    W2, b2 = (p.data.astype(np.float64) for p in (model[3].weight, model[3].bias))

    def ref(x, W1, b1, W2, b2):
        h = _linear_ref(x.reshape(4, 6), W1, b1, relu=True)
        return np.sum(G * _linear_ref(h, W2, b2))

    xt = Tensor(x, requires_grad=True)
    model(xt).backward(G)
    np.testing.assert_allclose(xt.grad, fd_grad(lambda v: ref(v, W1, b1, W2, b2), x), **GRAD_TOL)
    np.testing.assert_allclose(model[1].weight.grad,
                               fd_grad(lambda v: ref(x, v, b1, W2, b2), W1), **GRAD_TOL)
    np.testing.assert_allclose(model[1].bias.grad,
                               fd_grad(lambda v: ref(x, W1, v, W2, b2), b1), **GRAD_TOL)
    np.testing.assert_allclose(model[3].weight.grad,
                               fd_grad(lambda v: ref(x, W1, b1, v, b2), W2), **GRAD_TOL)
    np.testing.assert_allclose(model[3].bias.grad,
                               fd_grad(lambda v: ref(x, W1, b1, W2, v), b2), **GRAD_TOL)


CE_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(label_smoothing=0.2),
    dict(weight="w", ignore_index=2, label_smoothing=0.1),
    dict(weight="w", reduction="none", ignore_index=1),
]


@pytest.mark.parametrize("case", CE_CASES, ids=[str(c) for c in CE_CASES])
def test_cross_entropy_loss_and_gradient(rng, case):
    N, C = 7, 4
    logits = rng.standard_normal((N, C)) * 2
    target = rng.integers(0, C, N)
    target[0] = 2
    kw = dict(case)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.2, 2.0, C)
    crit = nn.CrossEntropyLoss(**kw)
    assert crit.reduction == kw.get("reduction", "mean")
    G = rng.standard_normal(N) if kw.get("reduction") == "none" else 1.0
    xt = Tensor(logits, requires_grad=True)
    loss = crit(xt, list(target))  # labels as a list work too
    ref_loss, _ = reference.cross_entropy(logits.astype(np.float32), target, **kw)
    np.testing.assert_allclose(loss.data, ref_loss, rtol=1e-5, atol=1e-6)
    if kw.get("reduction") == "none":
        loss.backward(G)
    else:
        assert loss.shape == () and isinstance(loss.item(), float)
        loss.backward()
    fd = fd_grad(lambda v: np.sum(G * reference.cross_entropy(v, target, **kw)[0]), logits)
    np.testing.assert_allclose(xt.grad, fd, **GRAD_TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_and_gradient(rng, reduction):
    pred = rng.standard_normal((5, 3))
    target = rng.standard_normal((5, 3))
    G = rng.standard_normal((5, 3)) if reduction == "none" else 1.0
    pt, tt = Tensor(pred, requires_grad=True), Tensor(target, requires_grad=True)
    loss = nn.MSELoss(reduction=reduction)(pt, tt)
    np.testing.assert_allclose(loss.data, reference.mse_loss(pred, target, reduction=reduction)[0],
                               rtol=1e-5, atol=1e-6)
    loss.backward(G if reduction == "none" else None)
    f = lambda p, t: np.sum(G * reference.mse_loss(p, t, reduction=reduction)[0])  # noqa: E731
    np.testing.assert_allclose(pt.grad, fd_grad(lambda v: f(v, target), pred), **GRAD_TOL)
    np.testing.assert_allclose(tt.grad, fd_grad(lambda v: f(pred, v), target), **GRAD_TOL)


def test_loss_gradient_scaled_by_upstream(rng):
    logits = rng.standard_normal((4, 3))
    y = rng.integers(0, 3, 4)
    a = Tensor(logits, requires_grad=True)
    (nn.CrossEntropyLoss()(a, y) * 3.0).backward()
    b = Tensor(logits, requires_grad=True)
    nn.CrossEntropyLoss()(b, y).backward()
    np.testing.assert_allclose(a.grad, 3 * b.grad, rtol=1e-6)


def test_bad_labels_raise_and_change_nothing(rng):
    net = nn.Sequential(nn.Linear(4, 3))
    before = net.state_dict()
    x = rng.standard_normal((5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="out of range"):
        nn.CrossEntropyLoss()(net(x), np.array([0, 1, 2, 3, 0]))
    with pytest.raises(TypeError):
        nn.CrossEntropyLoss()(net(x), np.array([0.0, 1, 2, 1, 0]))
    with pytest.raises(ValueError):
        nn.MSELoss()(net(x), np.zeros((5, 2)))
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert all(p.grad is None for p in net.parameters())


def test_loss_options_validated():
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    crit = nn.CrossEntropyLoss(weight=[1, 2, 3], ignore_index=0, label_smoothing=0.1)
    assert crit.weight.dtype == np.float32 and crit.weight.shape == (3,)
    assert crit.ignore_index == 0 and crit.label_smoothing == pytest.approx(0.1)
    assert list(crit.state_dict()) == ["weight"]  # a buffer, as in PyTorch


# -------------------------------------------------------- state dicts --


def test_state_dict_is_a_copy_and_round_trips(rng):
    a, b = seed_net("script"), seed_net("script")
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    sd["fc1.weight"][:] = 0
    assert a.fc1.weight.data.any()  # a copy
    sd = a.state_dict()
    data_before = b.fc1.weight.data
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert b.fc1.weight.data is data_before  # loaded in place: references stay valid
    x = rng.standard_normal((3, 784)).astype(np.float32)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])


def test_load_state_dict_rejects_wrong_keys_and_shapes_unchanged():
    net = seed_net("script")
    before = net.state_dict()
    sd = seed_net("script").state_dict()
    bad = OrderedDict(sd)
    bad["fc3.weight"] = bad.pop("fc2.weight")
    with pytest.raises(RuntimeError, match=r'(?s)Unexpected key\(s\).*"fc3.weight".*'
                                           r'Missing key\(s\).*"fc2.weight"'):
        net.load_state_dict(bad)
    wrong = OrderedDict(sd)
    wrong["fc1.bias"] = np.zeros(127)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.bias: copying a param with "
                                           r"shape \(127,\)"):
        net.load_state_dict(wrong)
    for k, v in net.state_dict().items():  # nothing was written
        np.testing.assert_array_equal(v, before[k])
    res = net.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["fc2.weight"] and res.unexpected_keys == ["fc3.weight"]
    np.testing.assert_array_equal(net.fc1.weight.data, sd["fc1.weight"])
    with pytest.raises(RuntimeError, match="fc1.weight"):
        net.load_state_dict({**sd, "fc1.weight": np.array([["a"]])})


def test_load_state_dict_accepts_lists_and_float64():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": [[1, 2], [3, 4]], "bias": np.array([0.5, -0.5])})
    np.testing.assert_array_equal(lin.weight.data, [[1, 2], [3, 4]])
    assert lin.weight.data.dtype == np.float32


# ----------------------------------------------------- PyTorch interop --


def test_torch_state_dict_loads_and_outputs_match(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(),
                             torch.nn.Linear(8, 3))
    ours = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    ours.load_state_dict(tm.state_dict())
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    with torch.no_grad():
        expect = tm(torch.from_numpy(x)).numpy()
    # same float32 math in a different summation order: K <= 12 terms of O(1)
    np.testing.assert_allclose(ours(x).data, expect, rtol=1e-5, atol=1e-6)
    # and back: our state dict loads into torch
    tm2 = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 3))
    tm2.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    with torch.no_grad():
        np.testing.assert_array_equal(tm2(torch.from_numpy(x)).numpy(), expect)


@pytest.mark.parametrize("opts", [dict(lr=0.1), dict(lr=0.05, momentum=0.9, nesterov=True,
                                                      weight_decay=1e-3)])
def test_loss_trajectory_matches_torch(rng, opts):
    torch = pytest.importorskip("torch")
    from fastmlp import optim

    torch.manual_seed(1)
    tm = torch.nn.Sequential(torch.nn.Linear(20, 17), torch.nn.ReLU(), torch.nn.Linear(17, 5))
    ours = nn.Sequential(nn.Linear(20, 17), nn.ReLU(), nn.Linear(17, 5))
    ours.load_state_dict(tm.state_dict())
    topt = torch.optim.SGD(tm.parameters(), **opts)
    oopt = optim.SGD(ours.parameters(), **opts)
    tcrit, ocrit = torch.nn.CrossEntropyLoss(label_smoothing=0.1), \
        nn.CrossEntropyLoss(label_smoothing=0.1)
    for step in range(20):
        x = rng.standard_normal((16, 20)).astype(np.float32)
        y = rng.integers(0, 5, 16)
        topt.zero_grad()
        tl = tcrit(tm(torch.from_numpy(x)), torch.from_numpy(y))
        tl.backward()
        topt.step()
        oopt.zero_grad()
        ol = ocrit(ours(x), y)
        ol.backward()
        oopt.step()
        # Both float32 with different summation orders. Observed over 10 seeds x both option
        # sets: loss relative difference <= 2.3e-7, final |w - w_torch| <= 1.5e-7 (weights
        # ~0.2). Bounds ~20x that.
        assert ol.item() == pytest.approx(tl.item(), rel=5e-6), step
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-5, atol=3e-6)
