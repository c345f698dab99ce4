"""``Adagrad``: ``torch.optim.Adagrad`` over fastmlp's fused ``adagrad_update`` kernel."""
from __future__ import annotations

import numpy as np

from .. import kernels
from .optimizer import KernelOptimizer, check_flags, check_nonnegative

__all__ = ["Adagrad"]


class Adagrad(KernelOptimizer):
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
        check_flags(group, ("maximize",))

    def _new_state(self, p, group, name):
        return np.full_like(p.data, float(group["initial_accumulator_value"]))

    def _init_state(self, p, group):
        """State of ``p`` at construction, as torch.optim.Adagrad creates it."""
        st = self.state[p]
        st.setdefault("step", 0.0)
        if "sum" not in st:
            st["sum"] = self._new_state(p, group, "sum")

    @staticmethod
    def _hyper(group):
        return dict(lr=float(group["lr"]), lr_decay=float(group["lr_decay"]),
                    weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                    maximize=bool(group["maximize"]))

    def _update(self, p, grad, state, step, group):
        kernels.adagrad_update(p.data, grad, state["sum"], step=step, **self._hyper(group))
