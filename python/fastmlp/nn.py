"""Neural-network modules with PyTorch's names, shapes and state-dict keys.

``Module`` (parameters, children, train/eval, state_dict/load_state_dict,
PyTorch-like repr), ``Parameter``, ``Linear``, ``ReLU``, ``Flatten``,
``Sequential``, ``ModuleList``, ``CrossEntropyLoss``, ``MSELoss``.

Parameters are :class:`Parameter` objects whose ``.data`` is a C-contiguous
float32 ndarray that optimizers and ``load_state_dict`` update *in place*:
code may keep references to ``module.weight.data`` across steps.

Initialisation uses a module-level NumPy generator; :func:`manual_seed` seeds
it (``fastmlp.manual_seed``). ``Linear`` draws its weight (out, in) and then its
bias (out,) from U(-1/sqrt(in), 1/sqrt(in)), PyTorch's distribution.
"""
from __future__ import annotations

import math
import sys
from collections import OrderedDict, namedtuple

import numpy as np

from . import functional as F
from .tensor import Tensor, _as_array

__all__ = [
    "Module",
    "Parameter",
    "Linear",
    "ReLU",
    "Flatten",
    "Sequential",
    "ModuleList",
    "Identity",
    "CrossEntropyLoss",
    "MSELoss",
    "manual_seed",
]

_F32 = np.dtype(np.float32)

# ---------------------------------------------------------------- seeding --

_rng = np.random.default_rng()


def manual_seed(seed) -> np.random.Generator:
    """Seed the generator that initialises new layers (as ``torch.manual_seed``).

    Any integer (negative ones are taken modulo 2**64). Returns the generator.
    """
    global _rng
    _rng = np.random.default_rng(int(seed) % 2**64)
    return _rng


# -------------------------------------------------------------- Parameter --


class Parameter(Tensor):
    """A Tensor that is a module parameter: ``requires_grad=True`` by default.

    ``Parameter(data)`` shares ``data`` when it is a C-contiguous float32 ndarray
    (or a Tensor), and converts it otherwise.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=_F32)
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.data, self.requires_grad, self.grad))

    def __deepcopy__(self, memo):
        p = Parameter(self.data.copy(), self.requires_grad)
        if self.grad is not None:
            p.grad = np.array(self.grad, copy=True)
        memo[id(self)] = p
        return p


def _rebuild_parameter(data, requires_grad, grad):
    p = Parameter(data, requires_grad)
    p.grad = grad
    return p


# ----------------------------------------------------------------- Module --

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _to_numpy(value):
    """A state-dict value (ndarray, Tensor, torch tensor, list...) as an ndarray."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()  # a torch.Tensor
    return np.asarray(value)


class Module:
    """Base class of every layer and model (``torch.nn.Module``'s interface).

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute
    registers it (in ``_parameters`` / ``_modules``, in assignment order);
    ``named_parameters()`` and ``state_dict()`` name them by attribute path,
    e.g. ``fc1.weight``. Subclasses call ``super().__init__()`` first and
    define ``forward``; calling the module runs ``forward``.
    """

    training: bool

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()

    # -- registration --
    # Registered objects live in _parameters/_modules/_buffers *and* in the
    # instance __dict__ (for fast attribute access); the methods below keep
    # the two in step.
    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name)
            params[name] = value
            d[name] = value
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(fastmlp.nn.Parameter or None expected)")
            params[name] = None
            d[name] = None
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name)
            modules[name] = value
            d[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (fastmlp.nn.Module or None expected)")
            modules[name] = None
            d[name] = None
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, np.ndarray):
                value = np.asarray(_to_numpy(value))
            buffers[name] = value
            d[name] = value
            return
        object.__setattr__(self, name, value)

    def _forget(self, name):
        d = self.__dict__
        for reg in ("_parameters", "_modules", "_buffers"):
            r = d.get(reg)
            if r is not None and name in r:
                del r[name]
        d.get("_non_persistent_buffers_set", set()).discard(name)
        d.pop(name, None)

    def __delattr__(self, name):
        d = self.__dict__
        if any(name in d.get(r, ()) for r in ("_parameters", "_modules", "_buffers")):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: look in the registries (in
        # case one was edited directly), then fail like Python does.
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def register_parameter(self, name: str, param) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(name, self, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(fastmlp.nn.Parameter or None required)")
        self._forget(name)
        self._parameters[name] = param
        self.__dict__[name] = param

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(name, self, "module")
        self._forget(name)
        self._modules[name] = module
        self.__dict__[name] = module

    register_module = add_module

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a non-parameter array saved in the state dict (unless ``persistent=False``)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(name, self, "buffer")
        self._forget(name)
        value = None if tensor is None else np.asarray(_to_numpy(tensor))
        self._buffers[name] = value
        self.__dict__[name] = value
        if not persistent:
            self._non_persistent_buffers_set.add(name)

    # -- traversal --
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, getter, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for k, v in getter(m):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield mprefix + ("." if mprefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """(name, Parameter) pairs: ``fc1.weight``, ``fc1.bias``, ... (shared ones once)."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            child = mod._modules.get(item) if isinstance(mod, Module) else None
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = child
        return mod

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients --
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to None, or zeros in place)."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.fill(0)

    def to(self, *args, **kwargs):
        """Accepted for PyTorch compatibility (CPU float32 only): returns self."""
        return self

    def cpu(self):
        return self

    def float(self):
        return self

    # -- state dict --
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Ordered ``name -> np.ndarray`` (copies) of every parameter and persistent buffer,
        with PyTorch's keys (``fc1.weight``, ``0.bias``...). ``keep_vars=True`` gives the
        Parameter objects themselves instead of copies."""
        if destination is None:
            destination = OrderedDict()
        for mprefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            dot = mprefix + ("." if mprefix else "")
            for k, p in m._parameters.items():
                if p is not None:
                    destination[dot + k] = p if keep_vars else p.data.copy()
            for k, b in m._buffers.items():
                if b is not None and k not in m._non_persistent_buffers_set:
                    destination[dot + k] = b if keep_vars else np.array(b, copy=True)
        return destination

    def _state_targets(self):
        """name -> (owner module, attribute, kind) for every state-dict entry."""
        out = OrderedDict()
        for mprefix, m in self.named_modules():
            dot = mprefix + ("." if mprefix else "")
            for k, p in m._parameters.items():
                if p is not None:
                    out[dot + k] = (m, k, "param")
            for k, b in m._buffers.items():
                if b is not None and k not in m._non_persistent_buffers_set:
                    out[dot + k] = (m, k, "buffer")
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers, in place.

        Values may be NumPy arrays or anything ``np.asarray`` converts (lists,
        fastmlp Tensors, torch tensors). Everything is checked before anything
        is written: a shape mismatch (always) or, with ``strict=True``, missing
        or unexpected keys raise RuntimeError naming the keys, and the module is
        left unchanged. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        targets = self._state_targets()
        keys = list(state_dict.keys())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in keys if k not in targets]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.append("Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        staged = []
        for key, (m, attr, kind) in targets.items():
            if key not in state_dict:
                continue
            try:
                value = np.asarray(_to_numpy(state_dict[key]))
            except Exception as e:  # noqa: BLE001 - report which key could not be read
                errors.append(f'While copying the parameter named "{key}", could not convert '
                              f"the value to an array: {e}.")
                continue
            current = m._parameters[attr].data if kind == "param" else m._buffers[attr]
            if value.shape != current.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{value.shape} from checkpoint, the shape in current model is "
                              f"{current.shape}.")
                continue
            if value.dtype.kind not in "fiub" and not (kind == "buffer"
                                                      and value.dtype == current.dtype):
                errors.append(f'While copying the parameter named "{key}", expected a real '
                              f"numeric array, got dtype {value.dtype}.")
                continue
            staged.append((m, attr, kind, value))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for m, attr, kind, value in staged:
            if kind == "param":
                p = m._parameters[attr]
                if assign:
                    p.data = np.array(value, dtype=_F32, order="C", copy=True)
                else:
                    np.copyto(p.data, value, casting="unsafe")
            else:
                np.copyto(m._buffers[attr], value, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    # -- repr --
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({k}): " + _addindent(repr(m), 2) for k, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"


def _check_name(name, module, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} name should be a string. Got {type(name).__name__}")
    if name == "" or "." in name:
        raise KeyError(f'{what} name can\'t be empty or contain ".", got: {name!r}')
    if hasattr(type(module), name):
        raise KeyError(f"attribute '{name}' already exists")


# ------------------------------------------------------------------ layers --


class Linear(Module):
    """``y = x W^T + b``: weight (out_features, in_features), bias (out_features,).

    Forward is one ``sgemm`` (bias fused) into a fresh output. Followed by a
    ReLU (in a ``Sequential``, or ``fastmlp.relu(linear(x))``), the pair runs
    as one fused step (see :mod:`fastmlp.functional`). A wrong feature count
    raises ValueError naming this layer and the shapes.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Linear: {name} must be a non-negative integer, got {v!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=_F32))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=_F32))
        else:
            self.register_parameter("bias", None)
        self._name = f"Linear(in_features={self.in_features}, out_features={self.out_features})"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight then bias from U(-1/sqrt(in), 1/sqrt(in)) (in place)."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        w = self.weight.data
        w[...] = _rng.uniform(-bound, bound, size=w.shape)
        if self.bias is not None:
            b = self.bias.data
            b[...] = _rng.uniform(-bound, bound, size=b.shape)

    def forward(self, input):
        return F._linear(input, self.weight, self.bias, False, self._name)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """``max(x, 0)``. Right after a ``Linear`` it is fused into it (see the Linear docs)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def __call__(self, input, *args, **kwargs):
        if args or kwargs or type(self).forward is not ReLU.forward:
            return self.forward(input, *args, **kwargs)
        return F._relu(input, sys.getrefcount(input), self.inplace, "ReLU")

    def forward(self, input):
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def _relu_module_temp(make):
    ReLU()(make())


def _relu_module_named(make):
    x = make()
    ReLU()(x)


F._calibrate("ReLU", _relu_module_temp, _relu_module_named)


class Flatten(Module):
    """``torch.nn.Flatten``: flattens dims ``start_dim..end_dim`` (default: all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


# -------------------------------------------------------------- containers --


class Sequential(Module):
    """Modules applied in order: ``Sequential(Linear(784, 128), ReLU(), Linear(128, 10))``.

    Children are named ``"0"``, ``"1"``, ... (or by an OrderedDict's keys).
    Supports ``len``, iteration, indexing (a slice gives a Sequential),
    item assignment/deletion, ``append``, ``insert`` and ``extend``. A
    ``Linear`` directly followed by a ``ReLU`` runs as one GEMM with a fused
    bias+ReLU epilogue.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def forward(self, input):
        mods = tuple(self._modules.values())
        n = len(mods)
        i = 0
        x = input
        while i < n:
            m = mods[i]
            if type(m) is Linear and i + 1 < n and type(mods[i + 1]) is ReLU:
                x = F._linear(x, m.weight, m.bias, True, m._name)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def _index(self, idx):
        n = len(self._modules)
        idx = int(idx)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[self._index(idx)]
        self.add_module(key, module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                self._forget(key)
        else:
            self._forget(list(self._modules.keys())[self._index(idx)])
        # keep the numbering contiguous (as PyTorch does)
        items = list(self._modules.items())
        for key, _ in items:
            self._forget(key)
        for i, (_, m) in enumerate(items):
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module):
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        mods = list(self._modules.values())
        mods.insert(index, module)
        for key in list(self._modules.keys()):
            self._forget(key)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self


class ModuleList(Module):
    """A list of modules, registered (``0``, ``1``, ...) so their parameters are found."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return list(self._modules.values())[idx]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[idx]
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList is a container; iterate over it in forward()")


# ------------------------------------------------------------------ losses --

_REDUCTIONS = ("none", "mean", "sum")


def _reduction_arg(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return F._legacy_reduction(size_average, reduce)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


class CrossEntropyLoss(Module):
    """``torch.nn.CrossEntropyLoss`` for class-index targets.

    Input: logits (N, C) Tensor or array; target: (N,) integer labels (NumPy
    array, list...). Attributes ``weight`` (float32 (C,) ndarray or None, a
    buffer as in PyTorch), ``ignore_index``, ``label_smoothing``,
    ``reduction``. Loss and gradient are one fused kernel pass.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        self.reduction = _reduction_arg(size_average, reduce, reduction)
        ls = float(label_smoothing)
        if not 0.0 <= ls <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        w = None
        if weight is not None:
            w = np.array(_as_array(_to_numpy(weight)), dtype=_F32, copy=True)
            if w.ndim != 1:
                raise ValueError(f"weight must be 1-D (one weight per class), got shape {w.shape}")
        self.register_buffer("weight", w)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = ls

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        parts = []
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(parts)


class MSELoss(Module):
    """``torch.nn.MSELoss``: mean (or sum, or none) of ``(input - target)**2``; same shapes."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction_arg(size_average, reduce, reduction)

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""
