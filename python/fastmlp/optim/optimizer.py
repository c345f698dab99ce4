"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

PyTorch's structure: ``param_groups`` (a list of dicts holding ``'params'``
and the options), ``state[p]`` (a dict per parameter), ``state_dict`` /
``load_state_dict`` in PyTorch's format (state keyed by parameter index), so
a torch state dict loads here and vice versa.

Each optimizer declares what it is (read by the fused epoch in
:mod:`fastmlp.train` and by the checks here): ``fused_kernel`` (the C++
update that applies it inside a fused epoch, or None), ``state_names`` (its
per-parameter state arrays), ``step_state`` (the state key counting a
parameter's updates, if any), :meth:`Optimizer.check_group` (its hyperparameter
checks, run once wherever a group is used) and :meth:`Optimizer.fused_param`
(one parameter's update, described for the fused kernel).
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from itertools import chain

import numpy as np

from .._args import flag, real
from .._arrays import F32 as _F32, is_f32_buffer
from ..autograd.grad_mode import enable_grad
from ..autograd.tensor import Tensor
from ..nn.module import _to_numpy

__all__ = ["Optimizer", "KernelOptimizer", "required", "check_nonnegative", "check_real",
           "check_flags"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def grad_array(p, g):
    """p's gradient as a float32 C-contiguous array of p's shape (validated, maybe converted)."""
    if type(g) is np.ndarray and g.dtype == _F32 and g.flags.c_contiguous \
            and g.shape == p.data.shape:
        return g
    a = np.asarray(g.data if isinstance(g, Tensor) else g)
    if a.shape != p.data.shape:
        raise ValueError(f"gradient of a parameter of shape {p.data.shape} has shape {a.shape}")
    return np.asarray(a, dtype=_F32, order="C")


def check_nonnegative(group, checks) -> None:
    """torch.optim's range checks: ``checks`` is ``((key, wording), ...)``; the first
    ``group[key]`` that is not ``>= 0`` (NaN included) raises ValueError(f"Invalid
    {wording}: {value} ..."), PyTorch's message, and one that is not a real number
    (a str, None, a bool) TypeError naming ``key``. Every optimizer's
    :meth:`Optimizer.check_group` is made of these, so the same checks run wherever a
    group is used: ``step()`` and the fused epoch, including groups edited after
    construction."""
    for key, wording in checks:
        v = group[key]
        f = v if type(v) is float else real(v, key, what=f"a real number >= 0 ({wording})")
        if not 0.0 <= f:
            raise ValueError(f"Invalid {wording}: {v} (expected {key} >= 0)")


def check_flags(group, keys) -> None:
    """Each ``group[key]`` is a bool (or NumPy bool, 0, 1): TypeError naming ``key``
    otherwise. The loop's kernels and the fused epoch then read the same value (a str
    such as ``"False"`` would be True to one and an error to the other)."""
    for key in keys:
        flag(group[key], key)


def check_real(group, key) -> float:
    """``group[key]`` as a float: a real number that is not NaN (TypeError / ValueError
    naming ``key``), for options with no range of their own (SGD's dampening)."""
    v = real(group[key], key)
    if v != v:
        raise ValueError(f"Invalid {key} value: nan (expected a number)")
    return v


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state dicts."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not is_f32_buffer(p.data):
                raise ValueError("optimizer parameters must hold writeable C-contiguous float32 "
                                 "arrays (they are updated in place)")
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", UserWarning, stacklevel=3)
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.check_group(group)
        self.param_groups.append(group)

    # -- declarations (see the module docstring) --
    #: the fused epoch's update kernel for this optimizer, or None (the Python loop runs)
    fused_kernel = None
    #: names of the per-parameter state arrays in ``state[p]``
    state_names = ()
    #: the ``state[p]`` key counting p's updates (a float), which the fused epoch
    #: advances by the steps it ran; None: this optimizer keeps no count
    step_state = None

    def check_group(self, group) -> None:
        """Raise ValueError for a hyperparameter of ``group`` this optimizer rejects.
        Run once wherever a group is used: construction, ``add_param_group``,
        ``load_state_dict``, every ``step`` and every fused epoch."""

    def fused_param(self, p, group) -> dict:
        """Parameter ``p``'s update in ``group``, described for the fused kernel
        ``fused_kernel`` (hyperparameters and state arrays, created here if missing and
        kept by the caller only if the epoch runs a step)."""
        raise NotImplementedError(f"{type(self).__name__} has no fused kernel")

    def fused_unavailable(self):
        """Why the fused epoch cannot apply this optimizer, or None when it can."""
        # Declared by this very class: a subclass may change anything, so it declares
        # for itself.
        if type(self).__dict__.get("fused_kernel") is None:
            return f"optimizer {type(self).__name__} has no fused kernel"
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.fill(0)

    # -- state dicts (PyTorch's format) --
    def state_dict(self) -> dict:
        """``{'state': {index: {'momentum_buffer': ndarray}}, 'param_groups': [{..., 'params':
        [indices]}]}`` -- PyTorch's layout; the arrays are copies."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray)
                                           else copy.deepcopy(v)) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict from :meth:`state_dict` (or from ``torch.optim.SGD.state_dict()``).

        Checks the group structure and every buffer's shape before changing anything.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(self.param_groups, saved_groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(sg["params"] for sg in saved_groups),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        new_state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                new_state[k] = copy.deepcopy(v)
                continue
            p = id_map[k]
            entry = {}
            for name, value in v.items():
                if value is None or isinstance(value, (int, float, bool, str)):
                    entry[name] = value
                    continue
                arr = np.asarray(_to_numpy(value))
                if arr.shape == p.data.shape and arr.dtype.kind in "fiu":
                    arr = np.array(arr, dtype=_F32, order="C", copy=True)
                elif arr.ndim == 0:
                    arr = arr.copy()
                else:
                    raise ValueError(f"state of parameter {k}: {name!r} has shape {arr.shape}, "
                                     f"the parameter has shape {p.data.shape}")
                entry[name] = arr
            new_state[p] = entry
        new_groups = []
        for g, sg in zip(self.param_groups, saved_groups):
            ng = {k: v for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            for name, default in self.defaults.items():
                ng.setdefault(name, default)
            self.check_group(ng)
            new_groups.append(ng)
        self.state = new_state
        self.param_groups = new_groups

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n" + f"Parameter Group {i}"
            for key in sorted(group.keys()):
                if key != "params":
                    s += "\n" + f"    {key}: {group[key]}"
        return s + "\n)"

    def step(self, closure=None):
        raise NotImplementedError




class KernelOptimizer(Optimizer):
    """An optimizer whose update is one fused kernel call per parameter, with named
    float32 state arrays of the parameter's shape and a float ``step`` count in
    ``state[p]`` (Adam, AdamW, RMSprop, Adagrad: PyTorch's layout).

    :meth:`step` and :meth:`fused_param` are written once here; a subclass declares
    ``state_names``, which of them a group's options use (:meth:`_used`), how a
    missing one starts (:meth:`_new_state`: zeros), the kernel's keyword
    hyperparameters (:meth:`_hyper`) and the kernel call (:meth:`_update`).
    """

    step_state = "step"

    def _used(self, group):
        """The state names ``group``'s options use, in ``state_names`` order."""
        return self.state_names

    def _new_state(self, p, group, name):
        """State array ``name`` of ``p`` before its first update (PyTorch: zeros)."""
        return np.zeros_like(p.data)

    def _hyper(self, group) -> dict:
        """The update kernel's keyword hyperparameters for ``group``, as Python scalars."""
        raise NotImplementedError

    def _update(self, p, grad, state, step, group) -> None:
        """Run the kernel on ``p.data`` with ``grad``, the arrays of ``state`` (all of
        ``_used(group)`` present) and this update's number ``step``."""
        raise NotImplementedError

    def _state_arrays(self, p, names):
        """``state[p]``'s arrays ``names`` (None where missing); ValueError when one is not
        a writeable C-contiguous float32 array of p's shape."""
        st = self.state.get(p) or {}
        out = []
        for name in names:
            a = st.get(name)
            if a is not None and not is_f32_buffer(a, p.data.shape):
                raise ValueError(f"{type(self).__name__}: {name} in optimizer.state is not a "
                                 f"writeable C-contiguous float32 array of shape {p.data.shape}")
            out.append(a)
        return out

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given.
        Every check (groups, parameters, gradients, state arrays) runs before any update."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        work = []
        for group in self.param_groups:
            self.check_group(group)
            names = self._used(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not is_f32_buffer(p.data):
                    raise ValueError(f"{type(self).__name__}: a parameter's .data is no longer "
                                     "a writeable C-contiguous float32 array (it must be "
                                     "updated in place)")
                g = grad_array(p, p.grad)
                arrays = self._state_arrays(p, names)
                step = float((self.state.get(p) or {}).get("step", 0.0)) + 1.0
                work.append((p, g, names, arrays, step, group))
        for p, g, names, arrays, step, group in work:
            st = self.state[p]
            st.setdefault("step", 0.0)
            for name, a in zip(names, arrays):
                if a is None:
                    st[name] = self._new_state(p, group, name)
            self._update(p, g, st, step, group)
            st["step"] = step
            p._bump_version()
        return loss

    def fused_param(self, p, group):
        """The kernel's options for ``p``, its update count ``step`` and the state arrays
        its options use (new ones, :meth:`_new_state`, where ``state[p]`` has none)."""
        e = self._hyper(group)
        e["step"] = float((self.state.get(p) or {}).get("step", 0.0))
        names = self._used(group)
        for name, a in zip(names, self._state_arrays(p, names)):
            e[name] = self._new_state(p, group, name) if a is None else a
        return e
