"""Containers: ``Sequential`` (with Linear+activation fusion) and ``ModuleList``."""
from __future__ import annotations

from collections import OrderedDict

from ..functional.activation import activation_of_role
from .module import FusedRole, Module

__all__ = ["Sequential", "ModuleList"]


def _epilogue_after(m, nxt):
    """The bound activation to fuse into ``m``'s step when ``m`` is a linear layer and
    ``nxt`` an activation the GEMM epilogue applies; else None (both run on their own)."""
    if m.fused_role().kind != "linear":
        return None
    role = nxt.fused_role()
    if role.kind != "activation":
        return None
    act = activation_of_role(role)
    return act if act is not None and act.epilogue is not None else None


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children named 0, 1, ... in order."""

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


def _one_call(model, input):
    """fastmlp.infer.sequential_forward (imported on first use: infer imports nn)."""
    global _one_call
    from ..infer import sequential_forward
    _one_call = sequential_forward
    return sequential_forward(model, input)


class Sequential(_ModuleSequence):
    """Modules applied in order: ``Sequential(Linear(784, 128), ReLU(), Linear(128, 10))``.

    Children are named ``"0"``, ``"1"``, ... (or by an OrderedDict's keys).
    Supports ``len``, iteration, indexing (a slice gives a Sequential),
    item assignment/deletion, ``append``, ``insert`` and ``extend``. A
    ``Linear`` directly followed by an activation with a GEMM epilogue (ReLU,
    GELU, Tanh...: its fused role) runs as one fused step (see
    :mod:`fastmlp.functional.linear`).
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A subclass with its own forward is called as any Module (Module.__call__ runs
        # its forward); Sequential.__call__ below is for Sequential's own forward.
        if cls.forward is not Sequential.forward and "__call__" not in cls.__dict__:
            cls.__call__ = Module.__call__

    def __call__(self, input):
        # infer (issue 12): ``model(x)`` tries the one-call forward first, without the
        # frames of Module.__call__ and forward; else what Module.__call__ would run: an
        # instance's own ``forward`` attribute if set (the one-call path never plans for
        # such a model), else the layer-by-layer forward.
        y = _one_call(self, input)
        if y is not None:
            return y
        f = self.__dict__.get("forward")
        return f(input) if f is not None else self._forward_layers(input)

    def forward(self, input):
        # infer (issue 12): the whole forward in one call when no gradient is recorded
        y = _one_call(self, input)
        if y is not None:
            return y
        return self._forward_layers(input)

    def _forward_layers(self, input):
        """The layer-by-layer forward (each fused Linear+activation pair one step)."""
        mods = tuple(self._modules.values())
        n = len(mods)
        i = 0
        x = input
        while i < n:
            m = mods[i]
            act = _epilogue_after(m, mods[i + 1]) if i + 1 < n else None
            if act is not None:
                x = m.forward_fused(x, act)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def fused_role(self) -> FusedRole:
        if self._overrides(Sequential, "forward"):
            return super().fused_role()
        return FusedRole("sequence")

    def _save_config(self):
        return {}

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


class ModuleList(_ModuleSequence):
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


    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList is a container; iterate over it in forward()")

    def fused_role(self) -> FusedRole:
        return FusedRole("unsupported", why="module ModuleList is a container with no forward")

    def _save_config(self):
        return {}
