"""Tensor: data/dtype handling, NumPy interop, the tape (backward, no_grad, graph freeing),
the elementwise ops' gradients, and the Linear+ReLU fusion rules."""
import gc
import weakref

import numpy as np
import pytest

from fastmlp import functional as F
from fastmlp import nn, optim
from fastmlp.autograd import Tensor, enable_grad, no_grad, set_grad_enabled, is_grad_enabled, tensor
from helpers import U, fd_grad, seed_net


# ------------------------------------------------------------ basics --


def test_data_is_float32_c_contiguous_and_shared_when_possible(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    t = Tensor(a)
    assert t.data is a  # shared, like torch.from_numpy
    t64 = Tensor(a.astype(np.float64))
    assert t64.dtype == np.float32 and t64.data.flags.c_contiguous
    tf = Tensor(np.asfortranarray(a))
    assert tf.data.flags.c_contiguous and np.array_equal(tf.data, a)
    assert tensor(a).data is not a  # tensor() copies
    assert Tensor([[1, 2], [3, 4]]).dtype == np.float32
    with pytest.raises(TypeError):
        Tensor(np.array(["a"]))


def test_properties_and_conversions(rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    t = Tensor(a, requires_grad=True)
    assert t.shape == (5, 3) and t.ndim == 2 and t.dim() == 2 and t.numel() == 15
    assert t.size() == (5, 3) and t.size(1) == 3 and len(t) == 5
    assert t.numpy() is a and np.asarray(t) is a
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.is_leaf and t.grad_fn is None and t.device == "cpu"
    assert "requires_grad=True" in repr(t) and repr(t).startswith("tensor(")
    s = Tensor(np.float32(2.5))
    assert s.item() == 2.5 and float(s) == 2.5 and f"{s:.2f}" == "2.50"
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(s)
    d = t.detach()
    assert d.data is a and not d.requires_grad
    assert [r.shape for r in t] == [(3,)] * 5


def test_eval_loop_idioms(rng):
    """The NumPy protocol on a Tensor (np.argmax, np.max, np.sum, np.mean) gives NumPy's answers.

    The float32 sum of n = 320 standard normals is compared with the float64 sum within
    NumPy's pairwise-summation bound (ceil(log2 n) + 1) * u * sum|x| (u = 2**-24); a
    relative tolerance alone failed when the sum came near 0 (seen: 0.1139 off by 1.6e-6).
    The mean's bound is that divided by n. Checked over 200 seeds.
    """
    logits = rng.standard_normal((32, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 32)
    out = Tensor(logits)
    pred = out.argmax(1)
    assert isinstance(pred, np.ndarray) and np.array_equal(pred, logits.argmax(1))
    assert np.array_equal(np.argmax(out, 1), logits.argmax(1))
    assert np.array_equal(np.argmax(out, axis=1), logits.argmax(1))
    correct = (pred == labels).sum().item()
    assert correct == int((logits.argmax(1) == labels).sum())
    values, indices = out.max(1)
    assert np.array_equal(values, logits.max(1)) and np.array_equal(indices, logits.argmax(1))
    assert np.array_equal(out.max(dim=1).indices, logits.argmax(1))
    assert np.array_equal(np.max(out, axis=1), logits.max(1))  # NumPy protocol: values only
    assert out.max() == logits.max()
    assert np.array_equal(out == logits, np.ones_like(logits, dtype=bool))
    assert np.array_equal(labels == Tensor(labels), np.ones(32, dtype=bool))
    n = logits.size
    bound = (np.ceil(np.log2(n)) + 1) * U * np.abs(logits.astype(np.float64)).sum()
    assert abs(np.sum(out).item() - logits.sum(dtype=np.float64)) <= bound
    assert abs(np.mean(out).item() - logits.mean(dtype=np.float64)) <= bound / n + U


# ---------------------------------------------------------- backward --


def test_backward_non_scalar_needs_gradient(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError,
                       match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    assert x.grad is None
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        y.backward(np.ones((3, 4)))
    assert x.grad is None
    y.backward(np.ones((4, 3)))
    np.testing.assert_array_equal(x.grad, np.full((4, 3), 2.0, np.float32))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(3)).sum().backward()


def test_graph_is_freed_after_backward_unless_retained(rng):
    x = Tensor(rng.standard_normal(5), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * g1, rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_leaf_grad_accumulates(rng):
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    (x * 3.0).sum().backward()
    buf = x.grad
    (x * 3.0).sum().backward()
    assert x.grad is buf  # accumulated in place
    np.testing.assert_allclose(x.grad, np.full(4, 6.0))


def test_no_grad_records_nothing(rng):
    lin = nn.Linear(6, 4)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        out = F.relu(lin(x))
        y = lin(Tensor(x, requires_grad=True))
        with enable_grad():
            assert is_grad_enabled()
    assert is_grad_enabled()
    for t in (out, y):
        assert not t.requires_grad and t._backward is None and t._parents == ()

    @no_grad()
    def infer(inp):
        return lin(inp)

    assert not infer(x).requires_grad and is_grad_enabled()
    with set_grad_enabled(False):
        assert not lin(x).requires_grad
    assert lin(x).requires_grad


def test_inference_keeps_no_intermediates(rng):
    """Under no_grad an output holds no reference to the hidden activations."""
    model = seed_net(sizes=(8, 16, 4), flatten=False)
    x = rng.standard_normal((5, 8)).astype(np.float32)
    with no_grad():
        hidden = model[0](x)
        ref = weakref.ref(hidden)
        out = model[2](F.relu(hidden))
        del hidden
        gc.collect()
    assert ref() is None and out._parents == ()


# ------------------------------------------------------ op gradients --

OPS = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("bshape", [(3, 4), (4,), (1, 4), (3, 1)])
def test_binary_op_gradients_match_finite_differences(rng, op, bshape):
    ours, ref = OPS[op]
    a = rng.uniform(0.5, 2.0, (3, 4))
    b = rng.uniform(0.5, 2.0, bshape)
    G = rng.standard_normal((3, 4))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    ours(ta, tb).backward(G)
    ga = fd_grad(lambda v: np.sum(G * ref(v, b)), a)
    gb = fd_grad(lambda v: np.sum(G * ref(a, v)), b)
    # float32 forward/backward vs float64 differences: a few float32 ulps of values O(10)
    np.testing.assert_allclose(ta.grad, ga, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb.grad, gb, rtol=1e-5, atol=1e-5)


def test_scalar_and_reflected_ops(rng):
    a = rng.uniform(0.5, 2.0, 5)
    t = Tensor(a, requires_grad=True)
    y = (2.0 - t) * 3.0 + 1.0 / t - (-t) + t ** 2
    y.sum().backward()
    expect = -3.0 - 1.0 / a**2 + 1.0 + 2 * a
    np.testing.assert_allclose(t.grad, expect, rtol=1e-5, atol=1e-5)
    # an ndarray on the left defers to the Tensor (the result tracks gradients)
    t2 = Tensor(a, requires_grad=True)
    z = np.ones(5, np.float32) * t2
    assert isinstance(z, Tensor) and z.requires_grad


def test_same_tensor_twice(rng):
    a = rng.standard_normal(4)
    t = Tensor(a, requires_grad=True)
    (t * t + t).sum().backward()
    np.testing.assert_allclose(t.grad, 2 * a + 1, rtol=1e-6, atol=1e-6)


def test_reductions_reshape_index_gradients(rng):
    a = rng.standard_normal((3, 4, 2))
    G = rng.standard_normal((3, 2))
    t = Tensor(a, requires_grad=True)
    t.sum(1).backward(G)
    np.testing.assert_allclose(t.grad, np.broadcast_to(G[:, None, :], a.shape), rtol=1e-6)
    t = Tensor(a, requires_grad=True)
    t.mean().backward()
    np.testing.assert_allclose(t.grad, np.full(a.shape, 1 / a.size), rtol=1e-6)
    t = Tensor(a, requires_grad=True)
    t.reshape(6, 4).sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones(a.shape, np.float32))
    t = Tensor(a, requires_grad=True)
    idx = np.array([0, 2, 0])
    t[idx].sum().backward()
    expect = np.zeros(a.shape)
    expect[0] = 2
    expect[2] = 1
    np.testing.assert_array_equal(t.grad, expect)


# ------------------------------------------------------------ fusion --


def test_relu_of_a_linear_is_fused_when_asked_in_place(rng):
    """Fusion is explicit: relu(..., inplace=True) on a Linear's output takes the relu into the
    Linear's step (same Tensor); without inplace it is an ordinary out-of-place op, whatever the
    interpreter's reference counts."""
    lin = nn.Linear(7, 5)
    x = rng.standard_normal((4, 7)).astype(np.float32)
    ref = np.maximum(lin(x).data, 0)
    h = lin(x)
    out = F.relu(h, inplace=True)
    assert out is h and out._op == "LinearRelu"
    assert type(out._backward).__name__ == "_LinearBackward"
    assert out._backward.act_saved is out.data and out._backward.act.name == "relu"
    np.testing.assert_array_equal(out.data, ref)
    via_module = nn.ReLU(inplace=True)(lin(x))
    assert via_module._op == "LinearRelu"
    np.testing.assert_array_equal(via_module.data, ref)
    for t in (F.relu(lin(x)), nn.ReLU()(lin(x)), lin(x).relu()):
        assert t._op == "Relu"
        np.testing.assert_array_equal(t.data, ref)
    with no_grad():
        no_grad_out = F.relu(lin(x), inplace=True)
    np.testing.assert_array_equal(no_grad_out.data, ref)
    assert F.linear(x, lin.weight, lin.bias, activation="relu")._op == "LinearRelu"


def test_relu_overwrites_only_when_asked(rng):
    lin = nn.Linear(7, 5)
    x = rng.standard_normal((64, 7)).astype(np.float32)
    h = lin(x)
    before = h.data.copy()
    assert (before < 0).any()
    for r in (F.relu(h), nn.ReLU()(h), h.relu()):
        assert r is not h and r._op == "Relu"
        np.testing.assert_array_equal(h.data, before)  # pre-activation intact
        np.testing.assert_array_equal(r.data, np.maximum(before, 0))
    r = F.relu(h, inplace=True)
    assert r is h and h._version == 1
    np.testing.assert_array_equal(h.data, np.maximum(before, 0))


def test_linear_activation_names_are_checked(rng):
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="activation.*'swish'.*'relu'"):
        F.linear(np.ones((1, 3), np.float32), lin.weight, lin.bias, activation="swish")


# ------------------------------------------------- in-place writes: versions --


def _lin_out(rng):
    lin = nn.Linear(6, 4)
    x = Tensor(rng.standard_normal((5, 6)), requires_grad=True)
    return lin, x, lin(x)


def test_inplace_relu_after_a_consumer_that_saved_it_raises_at_backward(rng):
    lin, x, h = _lin_out(rng)
    z = h * 2.0
    z2 = h * h  # saves h's data
    F.relu(h, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z2.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()  # the gradient would flow through the relu it never saw


def test_inplace_relu_after_a_consumer_of_the_tensor_raises_at_backward(rng):
    lin, x, h = _lin_out(rng)
    s = h.sum()  # saves no data, but its gradient must bypass the later relu
    F.relu(h, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.backward()


def test_inplace_relu_twice_on_a_saved_output_raises(rng):
    lin, x, h = _lin_out(rng)
    y = F.relu(h)  # saves y itself
    F.relu(y, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_relu_on_a_leaf_that_requires_grad_raises_at_once(rng):
    p = nn.Parameter(rng.standard_normal((3, 4)))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(p, inplace=True)
    with no_grad():
        F.relu(p, inplace=True)  # allowed outside grad mode, as in PyTorch
    assert (p.data >= 0).all()


def test_optimizer_step_between_forward_and_backward_raises(rng):
    lin, x, out = _lin_out(rng)
    for p in lin.parameters():
        p.grad = np.ones_like(p.data)
    optim.SGD(lin.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_inplace_relu_on_another_op_output_gives_the_out_of_place_gradient(rng):
    """An in-place relu on a non-Linear node stacks its step on top: same gradients, bitwise."""
    a = rng.standard_normal((6, 5)).astype(np.float32)
    G = rng.standard_normal((6, 5)).astype(np.float32)
    grads = []
    for inplace in (False, True):
        x = Tensor(a.copy(), requires_grad=True)
        h = x * 3.0
        r = F.relu(h, inplace=inplace)
        assert (r is h) == inplace
        r.backward(G)
        grads.append(x.grad)
    np.testing.assert_array_equal(grads[0], grads[1])


def test_fused_and_unfused_relu_give_identical_gradients(rng):
    """relu(fc(x), inplace=True) fused in place, the Sequential epilogue, and an unfused relu
    agree bitwise."""
    nn.manual_seed(3)
    fc1, fc2 = nn.Linear(9, 13), nn.Linear(13, 4)
    x = Tensor(rng.standard_normal((6, 9)), requires_grad=True)
    G = rng.standard_normal((6, 4)).astype(np.float32)
    results = []
    for mode in ("fused", "sequential", "unfused"):
        for p in (fc1.weight, fc1.bias, fc2.weight, fc2.bias):
            p.grad = None
        x.grad = None
        if mode == "fused":
            out = fc2(F.relu(fc1(x), inplace=True))
        elif mode == "sequential":
            out = nn.Sequential(fc1, nn.ReLU(), fc2)(x)
        else:
            h = fc1(x)
            out = fc2(F.relu(h))
        out.backward(G)
        results.append([out.data.copy(), x.grad, fc1.weight.grad, fc1.bias.grad,
                        fc2.weight.grad, fc2.bias.grad])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_first_layer_input_gradient_is_not_computed(rng, monkeypatch):
    """Backward of a Linear whose input needs no gradient runs exactly two GEMMs fewer."""
    import importlib

    functional = importlib.import_module("fastmlp.functional.linear")  # the module, not F.linear
    model = seed_net(sizes=(8, 6, 3), flatten=False)
    x = rng.standard_normal((5, 8)).astype(np.float32)
    calls = []
    real = functional._sgemm

    def spy(a, b, *args, **kw):
        calls.append((a.shape, b.shape, kw.get("trans_a", False), kw.get("trans_b", False)))
        return real(a, b, *args, **kw)

    monkeypatch.setattr(functional, "_sgemm", spy)
    out = model(x)
    assert len(calls) == 2  # one GEMM per Linear (bias and ReLU in the epilogue)
    calls.clear()
    out.sum().backward()
    # dW for both layers, dX only for the second layer's input
    assert sorted(calls) == sorted([((5, 3), (5, 6), True, False), ((5, 3), (3, 6), False, False),
                                    ((5, 6), (5, 8), True, False)])
