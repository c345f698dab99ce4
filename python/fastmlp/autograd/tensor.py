"""Tensor: a float32 NumPy array, its gradient, and the backward step that made it.

The autograd here is a *layer-level tape* (micrograd's idea on whole arrays):
every operation that produces a Tensor from inputs needing a gradient records
its parents and one backward function; :meth:`Tensor.backward` sorts the
graph topologically and runs those functions from the output back, adding
into the ``.grad`` of leaves (parameters). Nothing is recorded when no input
requires a gradient or inside :class:`no_grad`, so inference allocates
nothing beyond the outputs.

A Tensor's ``.data`` is always a C-contiguous float32 ``np.ndarray`` and its
``.grad`` is ``None`` or an ``np.ndarray`` of the same shape. ``Tensor(x)``
shares ``x``'s memory when ``x`` already is such an array (like
``torch.from_numpy``) and converts otherwise; :func:`tensor` always copies.

Every in-place write to a Tensor's data through fastmlp bumps its version
counter (``t._version``); a recorded backward step names the Tensors it will
read (``saved``) and the engine (:mod:`fastmlp.autograd.engine`) checks their
versions before running it. Ops on Tensors live in :mod:`fastmlp.functional`,
which also attaches the op methods (``Tensor.relu``, ``Tensor.flatten``): this
module imports no op.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._arrays import F32 as _F32, f32_from, unbroadcast as _unbroadcast
from . import engine
from .grad_mode import (_grad_mode, enable_grad, inference_mode, is_grad_enabled, no_grad,
                        set_grad_enabled)

__all__ = [
    "Tensor",
    "tensor",
    "from_numpy",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "as_array",
]


# ------------------------------------------------------------- helpers --


def as_array(x, name=None) -> np.ndarray:
    """x -> C-contiguous float32 ndarray, without a copy when it already is one.

    The one conversion every op, layer and optimizer uses: a Tensor gives its
    ``.data``; a torch tensor, a list or any real-valued array-like is
    converted; other dtypes raise TypeError.
    """
    if isinstance(x, Tensor):
        return x.data
    return f32_from(x, name)


class GradFn:
    """What ``Tensor.grad_fn`` returns for a non-leaf: names the op that made it."""

    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = name

    def name(self) -> str:
        return f"{self._name}Backward"

    def __repr__(self):
        return f"<{self.name()}>"


MaxResult = namedtuple("MaxResult", ["values", "indices"])


# -------------------------------------------------------------- Tensor --


class Tensor:
    """A float32 array with an optional gradient (see the module docstring).

    ``Tensor(data, requires_grad=False)``: ``data`` is anything ``np.asarray``
    takes (a NumPy array, a list, a torch tensor, another Tensor); it is
    shared when it already is a C-contiguous float32 ndarray, else converted.
    """

    __slots__ = ("data", "grad", "requires_grad", "_backward", "_parents", "_saved", "_op",
                 "_version", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators
    __hash__ = object.__hash__  # identity (comparisons below are elementwise)

    def __init__(self, data, requires_grad: bool = False):
        self.data = as_array(data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._backward = None
        self._parents = ()
        self._saved = ()
        self._op = None
        self._version = 0

    # -- construction of op outputs (used by functional) --
    @staticmethod
    def _result(data, parents, backward, op, saved=()):
        """An op's output: records the node only when grad mode is on and a parent needs grad.

        ``saved``: the Tensors (or None) whose data ``backward`` reads. Their
        versions, and the parents', are recorded now and checked before
        ``backward`` runs (a parent written in place since would route its
        gradient through the wrong steps).
        """
        t = Tensor.__new__(Tensor)
        t.data = data
        t.grad = None
        t._op = op
        t._version = 0
        if backward is not None and _grad_mode.enabled:
            parents = tuple(p for p in parents if p is not None and p.requires_grad)
            if parents:
                t.requires_grad = True
                t._backward = backward
                t._parents = parents
                t._saved = tuple([(s, s._version) for s in parents] +
                                 [(s, s._version) for s in saved if s is not None])
                return t
        t.requires_grad = False
        t._backward = None
        t._parents = ()
        t._saved = ()
        return t

    def _bump_version(self) -> None:
        """Record an in-place write to ``data`` (see the module docstring)."""
        self._version += 1

    # -- basic properties --
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def grad_fn(self):
        if self._backward is None:
            return None
        return GradFn(self._op or "Op")

    def size(self, dim=None):
        if dim is None:
            return self.data.shape
        return self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.data.shape[0]):
            yield self[i]

    # -- conversion --
    def numpy(self) -> np.ndarray:
        """The data array itself (shared memory, as ``torch.Tensor.numpy``)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        a = self.data
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self) -> float:
        if self.data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self.data.size} elements cannot be converted to Scalar")
        return float(self.data.reshape(-1)[0])

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return self.item()

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self.data.size} elements is ambiguous")
        return bool(self.data.reshape(-1)[0])

    def __format__(self, spec):
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def detach(self) -> "Tensor":
        """A new leaf sharing this data, cut from the graph."""
        t = Tensor.__new__(Tensor)
        t.data, t.grad, t.requires_grad = self.data, None, False
        t._backward, t._parents, t._saved, t._op = None, (), (), None
        t._version = 0
        return t

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not requires_grad and self._backward is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = bool(requires_grad)
        return self

    def cpu(self) -> "Tensor":
        return self

    def float(self) -> "Tensor":
        return self

    def to(self, *args, **kwargs) -> "Tensor":
        """Accepted for PyTorch compatibility (CPU float32 only): returns self."""
        return self

    def contiguous(self) -> "Tensor":
        return self

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(",
                               precision=4, suppress_small=False)
        extra = ""
        if self._backward is not None:
            extra = f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- autograd --
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires grad.

        ``gradient`` (the output's gradient) may be omitted only for a
        single-element tensor (taken as 1). The graph is freed afterwards
        unless ``retain_graph=True``.
        """
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
        if inputs is not None:
            raise NotImplementedError("backward(inputs=...) is not supported")
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = np.ones(self.data.shape, dtype=_F32)
        else:
            g = np.array(as_array(gradient), dtype=_F32, copy=True)
            if g.shape != self.data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: gradient has a shape of {g.shape} and output has a "
                    f"shape of {self.data.shape}")
        if self._backward is None:  # a leaf
            engine.accumulate(self, g)
            return
        engine.run_backward(self, g, bool(retain_graph))

    # -- elementwise arithmetic (differentiable) --
    def __neg__(self):
        return Tensor._result(-self.data, (self,), lambda g, keep: (np.negative(g, out=g),), "Neg")

    def __pos__(self):
        return self

    def __add__(self, other):
        return _binary(self, other, "add")

    def __radd__(self, other):
        return _binary(other, self, "add")

    def __sub__(self, other):
        return _binary(self, other, "sub")

    def __rsub__(self, other):
        return _binary(other, self, "sub")

    def __mul__(self, other):
        return _binary(self, other, "mul")

    def __rmul__(self, other):
        return _binary(other, self, "mul")

    def __truediv__(self, other):
        return _binary(self, other, "div")

    def __rtruediv__(self, other):
        return _binary(other, self, "div")

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError("Tensor ** x: only a scalar exponent is supported")
        e = float(exponent)
        x = self.data
        out = np.power(x, np.float32(e), dtype=_F32)

        def backward(g, keep):
            return (g * (np.float32(e) * np.power(x, np.float32(e - 1.0), dtype=_F32)),)

        return Tensor._result(out, (self,), backward, "Pow", saved=(self,))

    # comparisons: elementwise, returning NumPy bool arrays (no gradient)
    def __eq__(self, other):
        return self.data == _cmp_operand(other)

    def __ne__(self, other):
        return self.data != _cmp_operand(other)

    def __lt__(self, other):
        return self.data < _cmp_operand(other)

    def __le__(self, other):
        return self.data <= _cmp_operand(other)

    def __gt__(self, other):
        return self.data > _cmp_operand(other)

    def __ge__(self, other):
        return self.data >= _cmp_operand(other)

    # -- reductions --
    def sum(self, dim=None, keepdim=False, *, dtype=None, axis=None, out=None, keepdims=None):
        """Sum (differentiable). Also answers ``np.sum(t)``."""
        if out is not None or dtype is not None:
            return np.sum(self.data, axis=_axis(dim, axis), dtype=dtype, out=out,
                          keepdims=bool(keepdim or keepdims))
        ax = _axis(dim, axis)
        kd = bool(keepdim or keepdims)
        shape = self.data.shape
        res = np.asarray(self.data.sum(axis=ax, keepdims=kd), dtype=_F32)

        def backward(g, keep):
            gk = g if (kd or ax is None) else np.expand_dims(g, ax)
            return (np.array(np.broadcast_to(gk, shape), dtype=_F32, order="C"),)

        return Tensor._result(res, (self,), backward, "Sum")

    def mean(self, dim=None, keepdim=False, *, dtype=None, axis=None, out=None, keepdims=None):
        """Mean (differentiable). Also answers ``np.mean(t)``."""
        if out is not None or dtype is not None:
            return np.mean(self.data, axis=_axis(dim, axis), dtype=dtype, out=out,
                           keepdims=bool(keepdim or keepdims))
        s = self.sum(dim=dim, keepdim=keepdim, axis=axis, keepdims=keepdims)
        n = self.data.size // max(s.data.size, 1) if self.data.size else 0
        return s / np.float32(n) if n else s * np.float32(np.nan)

    def argmax(self, dim=None, keepdim=False, *, axis=None, out=None, keepdims=None):
        """Indices of the maxima as an int64 NumPy array (``t.argmax(1)``, ``np.argmax(t, 1)``)."""
        ax = _axis(dim, axis)
        return np.argmax(self.data, axis=ax, out=out, keepdims=bool(keepdim or keepdims))

    def argmin(self, dim=None, keepdim=False, *, axis=None, out=None, keepdims=None):
        ax = _axis(dim, axis)
        return np.argmin(self.data, axis=ax, out=out, keepdims=bool(keepdim or keepdims))

    def max(self, dim=None, keepdim=False, *, axis=None, out=None, keepdims=None, **kwargs):
        """``t.max()`` -> the max (NumPy scalar); ``t.max(dim)`` -> ``(values, indices)``
        NumPy arrays as PyTorch; NumPy-style calls (``np.max(t, axis=1)``) -> values only."""
        return _minmax(self, np.max, np.argmax, dim, keepdim, axis, out, keepdims, kwargs)

    def min(self, dim=None, keepdim=False, *, axis=None, out=None, keepdims=None, **kwargs):
        """Like :meth:`max`, for the minimum."""
        return _minmax(self, np.min, np.argmin, dim, keepdim, axis, out, keepdims, kwargs)

    # -- shape ops (differentiable) --
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.data.shape
        out = self.data.reshape(shape)
        return Tensor._result(out, (self,), lambda g, keep: (g.reshape(old),), "Reshape")

    view = reshape

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        src = self.data
        out = np.asarray(src[index], dtype=_F32, order="C")

        def backward(g, keep):
            z = np.zeros(src.shape, dtype=_F32)
            np.add.at(z, index, g)
            return (z,)

        return Tensor._result(out, (self,), backward, "Index")

    def clone(self) -> "Tensor":
        return Tensor._result(self.data.copy(), (self,), lambda g, keep: (g,), "Clone")


# ------------------------------------------------------------ op helpers --


def _axis(dim, axis):
    ax = axis if dim is None else dim
    if isinstance(ax, list):
        ax = tuple(ax)
    return ax


def _minmax(t, red, arg, dim, keepdim, axis, out, keepdims, kwargs):
    if axis is not None or out is not None or keepdims is not None or kwargs:  # NumPy protocol
        return red(t.data, axis=axis if dim is None else dim, out=out,
                   keepdims=bool(keepdims or keepdim), **kwargs)
    if dim is None:
        return red(t.data)
    return MaxResult(red(t.data, axis=dim, keepdims=bool(keepdim)),
                     arg(t.data, axis=dim, keepdims=bool(keepdim)))


def _cmp_operand(other):
    if isinstance(other, Tensor):
        return other.data
    return other


def _binary(a, b, op):
    at = a if isinstance(a, Tensor) else None
    bt = b if isinstance(b, Tensor) else None
    ad = at.data if at is not None else _as_operand(a)
    bd = bt.data if bt is not None else _as_operand(b)
    if op == "add":
        out = ad + bd
    elif op == "sub":
        out = ad - bd
    elif op == "mul":
        out = ad * bd
    else:
        out = ad / bd
    out = np.asarray(out, dtype=_F32, order="C")
    ashape, bshape = np.shape(ad), np.shape(bd)
    # the same filter Tensor._result applies to the parents, fixed now
    need_a = at is not None and at.requires_grad
    need_b = bt is not None and bt.requires_grad

    def backward(g, keep):
        ga = gb = None
        if op == "add":
            ga = _unbroadcast(g, ashape) if need_a else None
            gb = _unbroadcast(g, bshape) if need_b else None
        elif op == "sub":
            ga = _unbroadcast(g, ashape) if need_a else None
            gb = _unbroadcast(-g, bshape) if need_b else None
        elif op == "mul":
            ga = _unbroadcast(g * bd, ashape) if need_a else None
            gb = _unbroadcast(g * ad, bshape) if need_b else None
        else:
            ga = _unbroadcast(g / bd, ashape) if need_a else None
            gb = _unbroadcast(-g * ad / (bd * bd), bshape) if need_b else None
        if ga is not None and gb is ga:
            gb = gb.copy()
        res = []
        if need_a:
            res.append(np.asarray(ga, dtype=_F32, order="C"))
        if need_b:
            res.append(np.asarray(gb, dtype=_F32, order="C"))
        return res

    name = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}[op]
    saved = (at, bt) if op in ("mul", "div") else ()
    return Tensor._result(out, (at, bt), backward, name, saved=saved)


def _as_operand(x):
    """A non-Tensor operand of arithmetic: Python scalars stay weak, arrays become float32."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return np.float32(x)
    return as_array(x)


# ----------------------------------------------------------- factories --


def tensor(data, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a float32 *copy* of ``data`` (as ``torch.tensor``)."""
    return Tensor(np.array(as_array(data), dtype=_F32, copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (it must be C-contiguous float32; else converted)."""
    return Tensor(array)
