"""``Adagrad``: ``torch.optim.Adagrad`` over fastmlp's fused ``adagrad_update`` kernel."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd.grad_mode import enable_grad
from .optimizer import Optimizer, check_nonnegative, grad_array
from .rmsprop import _check_state, _param_data

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad, exactly ``torch.optim.Adagrad`` (its single-tensor path, dense gradients,
    in float32).

    Per parameter with a gradient (others are skipped): ``state[p]["step"] += 1``, then
    one pass of :func:`fastmlp.kernels.adagrad_update`, whose docstring states the
    arithmetic::

        g = -grad if maximize else grad;  g += weight_decay * p
        clr = lr / (1 + (step - 1) * lr_decay)
        sum += g g;  p -= clr * g / (sqrt(sum) + eps)

    ``state[p]``, created for every parameter at construction as PyTorch does:
    ``"step"`` (0.0, a Python float; a 0-d tensor from a torch state dict loads and is
    replaced by a float at the next step) and ``"sum"`` (float32, p's shape, filled with
    ``initial_accumulator_value``). A parameter added later by ``add_param_group`` gets
    its state at its first step (PyTorch raises KeyError there).

    All gradients and state arrays are validated before any parameter changes.
    ``differentiable`` is not supported (ValueError); ``foreach`` and ``fused`` are
    accepted and ignored: every update is one fused pass. Sparse gradients do not exist
    here.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        if differentiable:
            raise ValueError("Adagrad(differentiable=True) is not supported")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        self.check_group(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    fused_kernel = "adagrad"
    state_names = ("sum",)
    step_state = "step"

    def check_group(self, group):
        check_nonnegative(group, (("lr", "learning rate"), ("lr_decay", "lr_decay value"),
                                  ("weight_decay", "weight_decay value"),
                                  ("initial_accumulator_value",
                                   "initial_accumulator_value value"),
                                  ("eps", "epsilon value")))

    def _init_state(self, p, group):
        st = self.state[p]
        st.setdefault("step", 0.0)
        if "sum" not in st:
            st["sum"] = np.full_like(p.data, float(group["initial_accumulator_value"]))

    @staticmethod
    def _hyper(group):
        return dict(lr=float(group["lr"]), lr_decay=float(group["lr_decay"]),
                    weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                    maximize=bool(group["maximize"]))

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        work = []
        for group in self.param_groups:
            self.check_group(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                _param_data(self, p)
                g = grad_array(p, p.grad)
                _check_state(self, p, self.state_names)
                st = self.state.get(p) or {}
                work.append((p, g, float(st.get("step", 0.0)) + 1.0, group))
        for p, g, step, group in work:
            self._init_state(p, group)
            st = self.state[p]
            kernels.adagrad_update(p.data, g, st["sum"], step=step, **self._hyper(group))
            st["step"] = step
            p._bump_version()
        return loss

    def fused_param(self, p, group):
        """``adagrad_update``'s options for ``p``, its update count ``step`` and its
        ``sum`` (a new one filled with initial_accumulator_value where ``state[p]`` has
        none)."""
        e = self._hyper(group)
        st = self.state.get(p) or {}
        e["step"] = float(st.get("step", 0.0))
        (a,) = _check_state(self, p, self.state_names)
        e["sum"] = np.full_like(p.data, float(group["initial_accumulator_value"])) \
            if a is None else a
        return e
