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


# -------------------------------------------------- kernels and their twins --


def signature_params(name):
    """The parameter lists of fastmlp.kernels.<name> and of fastmlp.reference.<name>, for
    the tests that a kernel takes its reference twin's parameters first."""
    ours = list(inspect.signature(getattr(kernels, name)).parameters.values())
    ref = list(inspect.signature(getattr(reference, name)).parameters.values())
    return ours, ref
