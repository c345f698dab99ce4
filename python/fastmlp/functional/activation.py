"""Activations: one registry entry per activation, read by every layer that applies one.

An :class:`Activation` (the *kind*: one per name in :data:`ACTIVATIONS`) says,
once, everything the rest of the package needs: its forward and backward
kernels (``fastmlp.kernels.<name>_forward`` / ``_backward``), what its
backward reads (the forward's output or its input), whether the GEMM epilogue
can apply it (``kernels.sgemm(activation=...)``), and its hyperparameters
(:class:`Param`: name, default, check). ``kind.bind(**params)`` gives a
:class:`BoundActivation`: the kind with checked values, whose ``forward`` /
``backward`` call the kernels with them and whose ``spec`` is the
``None | name | {"name": ..., **params}`` form that ``kernels.sgemm`` and
``_core.train_epoch`` take.

Everything reads the same declaration: the ``F`` functions bind the kind with
their arguments; an ``nn`` activation module keeps the hyperparameters as its
attributes (named as the Params) and declares ``FusedRole("activation",
activation=name, spec=params)``; :func:`get_activation` turns that role's
``{"name": ..., **params}`` (or ``F.linear``'s ``activation=``) into the bound
activation that ``nn.Sequential``'s fusion, ``F.linear`` and the fused planner
use. Adding an activation is one entry here (plus its kernels and an ``F``
function and module).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Optional

from .. import kernels
from ..autograd.grad_mode import _grad_mode
from ..autograd.tensor import Tensor, as_array

__all__ = ["Activation", "BoundActivation", "Param", "ACTIVATIONS", "get_activation",
           "apply_activation", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu",
           "softplus"]


# -------------------------------------------------------- hyperparameters --


def _real(name, v) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v}")
    return v


def _finite(name, v) -> float:
    """Any finite real number."""
    return _real(name, v)


def _nonnegative(name, v) -> float:
    v = _real(name, v)
    if v < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {v}")
    return v


def _nonzero(name, v) -> float:
    v = _real(name, v)
    if v == 0:
        raise ValueError(f"{name}: expected a finite nonzero number, got {v}")
    return v


def _gelu_approximate(name, v) -> str:
    if v not in ("none", "tanh"):
        raise ValueError(f"{name}: expected 'none' or 'tanh', got {v!r}")
    return v


@dataclass(frozen=True)
class Param:
    """One hyperparameter of an activation: the keyword its kernels, its ``F`` function
    and its module's attribute all use, its default, and ``check(name, value)``, which
    returns the value normalised (float, str) or raises ValueError naming ``name``."""

    name: str
    default: object
    check: Callable


# --------------------------------------------------------------- the kinds --


@dataclass(frozen=True)
class Activation:
    """One activation function, as every layer of the package sees it (the kind).

    ``forward(x, **params, out=None)``: the kernel computing ``out = f(x)`` (``out`` may be ``x``).
    ``backward(dout, saved, **params, dx=None)``: ``dx = dout * f'(.)`` from ``saved``
    (``dx`` may be ``dout``).
    ``saves``: what ``saved`` is: ``"output"`` (f(x)) or ``"input"`` (x).
    ``epilogue``: the name ``kernels.sgemm(activation=...)`` takes, or None when the
    GEMM cannot apply it (then it runs as a separate pass after the GEMM).
    ``params``: its hyperparameters (:class:`Param`), in the kernels' keyword order.
    ``op``: the name in ``grad_fn`` (``LeakyRelu`` -> ``LeakyReluBackward``), as PyTorch's.
    """

    name: str
    forward: Callable
    backward: Callable
    saves: str = "output"
    epilogue: Optional[str] = None
    params: tuple = ()
    op: str = ""

    def bind(self, where: Optional[str] = None, **params) -> "BoundActivation":
        """This kind with ``params`` (defaults for those not given), each checked; a
        ValueError names the parameter (prefixed by ``where`` when given) or an unknown
        one. Bound activations are cached by their arguments, so binding per call is a
        dictionary lookup."""
        if not params:  # the defaults: the per-step path of ReLU and friends
            hit = _BOUND.get(self.name)
            if hit is not None:
                return hit
        # the raw arguments with their types (True == 1.0 as a key, but bool is refused)
        key = (self.name, tuple(sorted((k, type(v).__name__, v) for k, v in params.items())))
        try:
            hit = _BOUND.get(key)
        except TypeError:  # an unhashable value: let the checks name it
            hit = None
        if hit is not None:
            return hit
        known = [p.name for p in self.params]
        for k in params:
            if k not in known:
                expected = ", ".join(repr(n) for n in known) if known else "none"
                raise ValueError(f"{where + ': ' if where else ''}{self.name} has no parameter "
                                 f"{k!r} (its parameters: {expected})")
        values = tuple((p.name, p.check(f"{where + ': ' if where else ''}{p.name}",
                                        params.get(p.name, p.default)))
                       for p in self.params)
        if len(_BOUND) >= 4096:  # a sweep over many values: keep the cache bounded
            _BOUND.clear()
        # one instance per checked value set, whichever way it was spelled
        bound = _BOUND.setdefault((self.name, values), BoundActivation(self, values))
        try:
            _BOUND[key] = bound
        except TypeError:
            pass
        if not params:
            _BOUND[self.name] = bound
        return bound


@dataclass(frozen=True)
class BoundActivation:
    """An :class:`Activation` with its hyperparameters' values: what layers apply.

    ``forward(x, out=None)`` / ``backward(dout, saved, dx=None)`` call the kind's kernels
    with ``params`` (pass ``out``/``dx`` by keyword). ``spec``: ``name`` when the kind
    has no parameters, else ``{"name": name, **params}`` (``kernels.sgemm``'s and
    ``_core.train_epoch``'s ``activation`` format); ``epilogue``: the same for the
    GEMM's epilogue name, or None when the GEMM cannot apply it.
    """

    kind: Activation
    params: tuple  # ((name, value), ...) in kind.params order, checked
    # the kind's, copied here as plain attributes (read per layer per step)
    name: str = field(init=False, compare=False, repr=False)
    saves: str = field(init=False, compare=False, repr=False)
    op: str = field(init=False, compare=False, repr=False)
    forward: Callable = field(init=False, compare=False, repr=False)
    backward: Callable = field(init=False, compare=False, repr=False)
    spec: object = field(init=False, compare=False, repr=False)
    epilogue: object = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        kw = dict(self.params)
        k = self.kind
        s = object.__setattr__
        s(self, "name", k.name)
        s(self, "saves", k.saves)
        s(self, "op", k.op)
        s(self, "forward", partial(k.forward, **kw) if kw else k.forward)
        s(self, "backward", partial(k.backward, **kw) if kw else k.backward)
        s(self, "spec", {"name": k.name, **kw} if kw else k.name)
        s(self, "epilogue", None if k.epilogue is None else
          ({"name": k.epilogue, **kw} if kw else k.epilogue))

    @property
    def kwargs(self) -> dict:
        """The hyperparameters as keyword arguments (a fresh dict)."""
        return dict(self.params)


# name (the defaults), (name, raw arguments) or (name, checked values) -> BoundActivation
_BOUND: dict = {}

_K = kernels
ACTIVATIONS = {a.name: a for a in (
    # identity is the absence of an activation: get_activation maps it to None
    Activation("identity", _K.identity_forward, _K.identity_backward, "input", None,
               op="Identity"),
    Activation("relu", _K.relu_forward, _K.relu_backward, "output", "relu", op="Relu"),
    Activation("leaky_relu", _K.leaky_relu_forward, _K.leaky_relu_backward, "input",
               "leaky_relu", (Param("negative_slope", 0.01, _finite),), op="LeakyRelu"),
    Activation("tanh", _K.tanh_forward, _K.tanh_backward, "output", "tanh", op="Tanh"),
    Activation("sigmoid", _K.sigmoid_forward, _K.sigmoid_backward, "output", "sigmoid",
               op="Sigmoid"),
    Activation("gelu", _K.gelu_forward, _K.gelu_backward, "input", "gelu",
               (Param("approximate", "none", _gelu_approximate),), op="Gelu"),
    Activation("silu", _K.silu_forward, _K.silu_backward, "input", "silu", op="Silu"),
    # the backward reads the output (PyTorch's is_result form): right only for alpha >= 0
    Activation("elu", _K.elu_forward, _K.elu_backward, "output", "elu",
               (Param("alpha", 1.0, _nonnegative),), op="Elu"),
    Activation("softplus", _K.softplus_forward, _K.softplus_backward, "input", "softplus",
               (Param("beta", 1.0, _nonzero), Param("threshold", 20.0, _finite)),
               op="Softplus"),
)}


def get_activation(spec, where: str = "activation") -> Optional[BoundActivation]:
    """The bound activation ``spec`` names, or None for no activation.

    ``spec``: None, a name in :data:`ACTIVATIONS` (default parameters), a dict
    ``{"name": name, **params}``, or a :class:`BoundActivation`. ``"identity"`` gives
    None. ValueError naming ``where`` (and the known names, or the parameter) otherwise.
    """
    if spec is None:
        return None
    if isinstance(spec, BoundActivation):
        return None if spec.name == "identity" else spec
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
    else:
        name, params = spec, {}
    act = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if act is None:
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"{where}: unknown activation {spec!r}; expected None, one of "
                         f"{known}, or a dict {{'name': one of them, **its parameters}}")
    bound = act.bind(where, **params)
    return None if name == "identity" else bound


def activation_of_role(role) -> Optional[BoundActivation]:
    """The bound activation an ``"activation"`` :class:`~fastmlp.nn.FusedRole` declares
    (``role.activation`` names the kind, ``role.spec`` holds its parameters)."""
    return get_activation({"name": role.activation, **role.spec} if role.spec
                          else role.activation)


# --------------------------------------------------------------- autograd --


def _activation_backward(act: BoundActivation, saved):
    bw = act.backward

    def backward(g, keep):
        return (bw(g, saved, dx=g),)

    return backward


def apply_activation(act: BoundActivation, input, inplace: bool = False, op: Optional[str] = None):
    """``act`` applied to ``input`` (a Tensor or array-like), recording its backward step.

    The step reads what ``act.saves`` says. Out of place, "output" saves the new
    Tensor and "input" the input's data (both version-checked at ``backward()``).

    In place (``inplace=True`` on a Tensor): the data is overwritten and its version
    bumped. On a leaf that requires grad this is a RuntimeError (as in PyTorch). An
    activation whose backward reads its input first keeps a copy of the input (as
    PyTorch's in-place ops keep their ``original_self``). On a Linear's output whose
    step applies no activation yet, the step becomes the fused Linear+activation one;
    any other node gets the activation's step on top. Either way every step recorded
    earlier that uses this Tensor sees its version change and refuses to run
    (RuntimeError at ``backward()``), instead of a wrong gradient.
    """
    if op is None:
        op = act.op
    fwd = act.forward
    if not isinstance(input, Tensor):
        x = as_array(input)
        if inplace and x is input:
            fwd(x, out=x)
            return Tensor(x)
        return Tensor(fwd(x))
    d = input.data
    keeps_output = act.saves == "output"
    if not inplace:
        y = fwd(d)
        out = Tensor._result(y, (input,), _activation_backward(act, y if keeps_output else d), op)
        if keeps_output and out._backward is not None:
            out._saved += ((out, 0),)
        return out
    recording = input.requires_grad and _grad_mode.enabled
    if recording and input._backward is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    graph = input.requires_grad and input._backward is not None
    saved = d if keeps_output or not graph else d.copy()  # the input, before it is overwritten
    fwd(d, out=d)
    input._bump_version()
    if graph:
        fuse = getattr(input._backward, "fuse_activation", None)
        if fuse is not None and fuse(act, saved):
            input._op += op  # e.g. "LinearRelu"
        else:
            # Put the activation's step on top: the node so far moves to a new Tensor.
            prev = Tensor.__new__(Tensor)
            prev.data, prev.grad, prev.requires_grad = d, None, True
            prev._backward, prev._parents, prev._saved = (input._backward, input._parents,
                                                          input._saved)
            prev._op, prev._version = input._op, input._version
            input._backward = _activation_backward(act, saved)
            input._parents = (prev,)
            input._saved = ()
            input._op = op
        if keeps_output:
            input._saved += ((input, input._version),)
    return input


# ------------------------------------------------- torch.nn.functional's --


def _apply(name, input, inplace=False, where=None, **params):
    return apply_activation(ACTIVATIONS[name].bind(where, **params), input, inplace)


def relu(input, inplace=False):
    """``max(input, 0)`` elementwise (``torch.relu`` / ``F.relu``).

    Out of place by default. ``inplace=True`` overwrites ``input`` and returns
    it (see :func:`apply_activation` for how the graph is kept correct); on a
    Linear's fresh output this makes the pair one fused step.
    """
    return apply_activation(ACTIVATIONS["relu"].bind(), input, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x if x > 0 else negative_slope * x`` (``F.leaky_relu``).

    ``negative_slope``: any finite number (else ValueError naming it). ``inplace=True``
    overwrites ``input``; the backward then reads a copy of the input kept before.
    """
    return _apply("leaky_relu", input, inplace, "leaky_relu", negative_slope=negative_slope)


def tanh(input):
    """``tanh(input)`` (``F.tanh`` / ``torch.tanh``); the backward reads the output."""
    return _apply("tanh", input)


def sigmoid(input):
    """``1 / (1 + exp(-input))`` (``F.sigmoid`` / ``torch.sigmoid``); the backward reads
    the output."""
    return _apply("sigmoid", input)


def gelu(input, approximate="none"):
    """``x * Phi(x)`` (``F.gelu``): ``approximate="none"`` the erf form, ``"tanh"``
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``. Another value: ValueError naming
    ``approximate`` (PyTorch raises RuntimeError)."""
    return _apply("gelu", input, False, "gelu", approximate=approximate)


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (``F.silu``). ``inplace=True`` overwrites ``input``; the
    backward then reads a copy of the input kept before."""
    return _apply("silu", input, inplace)


def elu(input, alpha=1.0, inplace=False):
    """``x if x > 0 else alpha * (exp(x) - 1)`` (``F.elu``).

    The backward reads the output (``dout * (y + alpha)`` where ``y <= 0``), PyTorch's
    ``is_result`` form, exact only for ``alpha >= 0``: a negative ``alpha`` (PyTorch
    accepts it out of place) is a ValueError naming ``alpha`` here.
    """
    return _apply("elu", input, inplace, "elu", alpha=alpha)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, or ``x`` where ``beta x > threshold``
    (``F.softplus``). ``beta`` must be finite and nonzero and ``threshold`` finite
    (ValueError naming the argument; PyTorch accepts ``beta=0`` and divides by it)."""
    return _apply("softplus", input, False, "softplus", beta=beta, threshold=threshold)
