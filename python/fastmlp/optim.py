"""Optimizers with PyTorch's structure and semantics, over fastmlp's fused SGD kernel.

``SGD`` is ``torch.optim.SGD``: ``param_groups`` (a list of dicts holding
``'params'`` and the options), ``state[p]['momentum_buffer']`` (a float32
ndarray created on a parameter's first step, set to the gradient itself as
in PyTorch), ``zero_grad``, ``step``, and ``state_dict`` /
``load_state_dict`` in PyTorch's format (state keyed by parameter index),
so a torch SGD state dict loads here and vice versa (after
``np.asarray``/``torch.as_tensor`` of the buffers). Each parameter's update
is one pass of :func:`fastmlp.kernels.sgd_update`, in place: parameter
arrays are never rebound.

``fastmlp.optim.lr_scheduler`` has ``LRScheduler``, ``StepLR``,
``MultiStepLR``, ``ExponentialLR`` and ``LambdaLR`` (PyTorch's recursive
formulas, so the values match PyTorch's bit for bit).
"""
from __future__ import annotations

import copy
import sys
import types
import warnings
from bisect import bisect_right
from collections import Counter, defaultdict
from itertools import chain

import numpy as np

from . import kernels
from .tensor import Tensor, enable_grad

__all__ = ["Optimizer", "SGD", "lr_scheduler"]

_F32 = np.dtype(np.float32)


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _grad_array(p, g):
    """p's gradient as a float32 C-contiguous array of p's shape (validated, maybe converted)."""
    if type(g) is np.ndarray and g.dtype == _F32 and g.flags.c_contiguous \
            and g.shape == p.data.shape:
        return g
    a = np.asarray(g.data if isinstance(g, Tensor) else g)
    if a.shape != p.data.shape:
        raise ValueError(f"gradient of a parameter of shape {p.data.shape} has shape {a.shape}")
    return np.asarray(a, dtype=_F32, order="C")


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
            d = p.data
            if not (d.dtype == _F32 and d.flags.c_contiguous and d.flags.writeable):
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
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        pass

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
        from .nn import _to_numpy

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
            self._check_group(ng)
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


class SGD(Optimizer):
    """Stochastic gradient descent, exactly ``torch.optim.SGD``.

    Per parameter with a gradient (others are skipped), in float32::

        g = -grad if maximize else grad
        g = g + weight_decay * p
        if momentum != 0:
            buf = g (first step) or momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g

    All gradients are validated before any parameter changes, so a failing
    step leaves the model untouched.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise ValueError("SGD(differentiable=True) is not supported")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def _check_group(self, group):
        if group["lr"] is not required and group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # Check everything first, so that a bad gradient or buffer leaves all parameters as
        # they were; then update.
        state = self.state
        work = []
        for group in self.param_groups:
            self._check_group(group)
            momentum = group["momentum"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                d = p.data
                if not (type(d) is np.ndarray and d.dtype == _F32 and d.flags.c_contiguous
                        and d.flags.writeable):
                    raise ValueError("SGD: a parameter's .data is no longer a writeable "
                                     "C-contiguous float32 array (it must be updated in place)")
                if not (type(g) is np.ndarray and g.dtype == _F32 and g.flags.c_contiguous
                        and g.shape == d.shape):
                    g = _grad_array(p, g)
                buf = None
                if momentum != 0:
                    st = state.get(p)
                    buf = st.get("momentum_buffer") if st else None
                    if buf is not None and not (
                            type(buf) is np.ndarray and buf.dtype == _F32
                            and buf.shape == d.shape and buf.flags.c_contiguous
                            and buf.flags.writeable):
                        raise ValueError("SGD: a momentum_buffer in optimizer.state is not a "
                                         "writeable C-contiguous float32 array of shape "
                                         f"{d.shape}")
                work.append((p, d, g, buf, group))
        update = kernels.sgd_update
        for p, d, g, buf, group in work:
            momentum = group["momentum"]
            if momentum != 0:
                first = buf is None
                if first:
                    buf = np.empty_like(d)
                update(d, g, buf, lr=group["lr"], momentum=momentum,
                       dampening=group["dampening"], weight_decay=group["weight_decay"],
                       nesterov=group["nesterov"], maximize=group["maximize"],
                       first_step=first)
                if first:
                    state[p]["momentum_buffer"] = buf
            else:
                update(d, g, None, lr=group["lr"], momentum=0.0,
                       dampening=group["dampening"], weight_decay=group["weight_decay"],
                       nesterov=False, maximize=group["maximize"], first_step=True)
        return loss


# ------------------------------------------------------------ schedulers --


class LRScheduler:
    """Base class of learning-rate schedulers (``torch.optim.lr_scheduler.LRScheduler``).

    Construction records ``initial_lr`` in every param group and performs
    the initial step (``last_epoch`` becomes 0). Call :meth:`step` once per
    epoch, after ``optimizer.step()``.
    """

    def __init__(self, optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        raise NotImplementedError

    def get_last_lr(self):
        """The learning rates the last :meth:`step` set, one per param group."""
        return self._last_lr

    def step(self, epoch=None):
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn("The epoch parameter in `scheduler.step()` is deprecated",
                          UserWarning, stacklevel=2)
            self.last_epoch = epoch
            if hasattr(self, "_get_closed_form_lr"):
                values = self._get_closed_form_lr()
            else:
                values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each epoch in ``milestones``."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch]
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = initial lr * ``lr_lambda(epoch)`` (one function, or one per param group)."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if not isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = [lr_lambda] * n
        else:
            if len(lr_lambda) != n:
                raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * lmbda(self.last_epoch)
                for lmbda, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else f.__dict__.copy()
                               for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", None)
        self.__dict__.update(state_dict)
        if lambdas is not None:
            for idx, fn_state in enumerate(lambdas):
                if fn_state is not None:
                    self.lr_lambdas[idx].__dict__.update(fn_state)


# ``fastmlp.optim.lr_scheduler`` as a real submodule (importable by name).
lr_scheduler = types.ModuleType(__name__ + ".lr_scheduler",
                                "Learning-rate schedulers (PyTorch's formulas).")
for _cls in (LRScheduler, StepLR, MultiStepLR, ExponentialLR, LambdaLR):
    setattr(lr_scheduler, _cls.__name__, _cls)
lr_scheduler._LRScheduler = LRScheduler
lr_scheduler.__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LambdaLR"]
sys.modules[lr_scheduler.__name__] = lr_scheduler
del _cls
