"""``Module`` and ``Parameter``: the base of every layer, and the declarations layers make.

``Module`` (parameters, children, train/eval, state_dict/load_state_dict,
PyTorch-like repr), ``Parameter``. Parameters are :class:`Parameter` objects
whose ``.data`` is a C-contiguous float32 ndarray that optimizers and
``load_state_dict`` update *in place* (bumping the version counter): code may
keep references to ``module.weight.data`` across steps.

Every module declares what it is: :meth:`Module.fused_role` (read by
``nn.Sequential``'s Linear+activation fusion and the fused-epoch planner) and
:meth:`Module._save_config` (read by ``fastmlp.save``/``load``). No code
elsewhere branches on a module's type.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._arrays import F32 as _F32
from ..autograd.tensor import Tensor

__all__ = ["Module", "Parameter", "FusedRole", "saveable_types", "saved_type_name"]


@dataclass(frozen=True)
class FusedRole:
    """A module's declared part in a fused plan.

    ``kind``: ``"linear"`` (has ``weight``, ``bias`` and ``forward_fused(x, act)``),
    ``"activation"`` (``activation`` names its :data:`fastmlp.functional.ACTIVATIONS`
    entry, ``spec`` holds its parameters, e.g. ``{"negative_slope": 0.01}``),
    ``"flatten"`` (flattens all but the batch dimension), ``"identity"``,
    ``"sequence"`` (runs its children in order), ``"loss"`` (``spec`` is what the
    fused kernel needs), ``"dropout"`` (``p``: its probability; active only while the
    module is training), ``"log_softmax"`` (``spec["dim"]``; the fused epoch takes it as the
    model's last module, before the loss), ``"softmax"`` (``spec["dim"]``; only the one-call
    forward of :mod:`fastmlp.infer` takes it, as the last module; ``why`` says why the fused
    epoch does not) or ``"unsupported"`` (``why`` says why).
    """

    kind: str
    activation: Optional[str] = None
    why: str = ""
    spec: dict = field(default_factory=dict)
    p: Optional[float] = None


# saved type name -> Module class, filled by Module.__init_subclass__ from the declarations
_SAVEABLE: dict = {}

# infer (issue 12): counts attribute assignments and removals on every Module (children,
# parameters, options, ``training``); a plan cached from the declarations (fastmlp.infer)
# is stale once it moved.
_MUTATIONS = [0]


def saved_type_name(cls) -> str:
    """The name a file records for module class ``cls``: the bare class name for
    fastmlp's own modules, ``module.qualname`` for anyone else's."""
    if cls.__module__.startswith("fastmlp.nn."):
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def saveable_types() -> dict:
    """Saved type name -> class, for every module class that declares ``_save_config``."""
    return dict(_SAVEABLE)


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
        _MUTATIONS[0] += 1
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
        _MUTATIONS[0] += 1
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
            _MUTATIONS[0] += 1  # e.g. an instance's own forward removed (fastmlp.infer)
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
                p._bump_version()
            else:
                np.copyto(m._buffers[attr], value, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    # -- declarations read by nn.Sequential, the fused planner and fastmlp.save --
    def fused_role(self) -> "FusedRole":
        """What this module is to ``nn.Sequential``'s fusion and to the fused epoch
        (:mod:`fastmlp.train`). The default: no fused kernel, which makes
        ``train_epoch`` run the Python loop and log this reason."""
        return FusedRole("unsupported", why=f"module {type(self).__name__} has no fused kernel")

    def _save_config(self):
        """The constructor keyword arguments that rebuild this module (JSON values), or
        None when it cannot be rebuilt from a file. Declaring it in a class (not
        inheriting it) registers the class with :func:`fastmlp.save`/``load``; children
        are saved and re-added by name, parameters and buffers go in the state dict."""
        return None

    @classmethod
    def _saved_shapes(cls, config):
        """``{name: shape}`` of the parameters and buffers this class, built from
        ``config`` (``_save_config``'s dict, read from a file), holds, computed without
        building it (ValueError for a config that does not describe one): ``fastmlp.load``
        compares them with the file's arrays first, so a tampered size allocates nothing.
        None: unknown (the module is built, then checked); a class with parameters
        declares it."""
        return None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_save_config" in cls.__dict__:
            _SAVEABLE[saved_type_name(cls)] = cls

    def _overrides(self, base, name: str) -> bool:
        """True when this object's class replaces ``base``'s method ``name`` (a
        declaration made by ``base`` then no longer describes what it runs)."""
        return getattr(type(self), name) is not getattr(base, name)

    def _declared_by(self, cls) -> bool:
        """True when this object is exactly a ``cls``: a declaration made by ``cls``
        holds for it. A subclass may change anything, so it declares for itself."""
        return type(self) is cls

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
