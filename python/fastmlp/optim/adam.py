"""``Adam`` and ``AdamW``: ``torch.optim.Adam`` / ``AdamW`` over fastmlp's fused
``adam_update`` / ``adamw_update`` kernels."""
from __future__ import annotations

import numpy as np

from .. import kernels
from .._arrays import is_f32_buffer
from ..autograd.grad_mode import enable_grad
from .optimizer import Optimizer, grad_array

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, exactly ``torch.optim.Adam`` (its single-tensor path, in float32).

    Per parameter with a gradient (others are skipped): ``state[p]["step"] += 1``, then
    one pass of :func:`fastmlp.kernels.adam_update` (or ``adamw_update`` for a group
    with ``decoupled_weight_decay=True``), whose docstring states the arithmetic::

        g = -grad if maximize else grad;  g += weight_decay * p   (AdamW: p *= 1 - lr*wd)
        exp_avg.lerp_(g, 1 - beta1);  exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) g g
        p -= lr / (1 - beta1**step) * exp_avg / (sqrt(s) / sqrt(1 - beta2**step) + eps)

    with ``s = max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)`` when ``amsgrad``,
    else ``exp_avg_sq``.

    ``state[p]``: ``"step"`` (the number of updates of p, a Python float: PyTorch keeps
    a 0-d float32 tensor; a 0-d array loaded from a torch state dict is read with
    ``float()`` and replaced by a float at the next step), ``"exp_avg"``,
    ``"exp_avg_sq"`` and, with amsgrad, ``"max_exp_avg_sq"`` (float32 arrays of p's
    shape, updated in place; zeros before the first step, like PyTorch's). A group that
    turns amsgrad on later gets a zero ``max_exp_avg_sq`` (PyTorch raises KeyError).

    All gradients and state arrays are validated before any parameter changes, so a
    failing step leaves the model untouched. ``differentiable`` and ``capturable``
    (autograd through the step, CUDA graphs) are not supported (ValueError);
    ``foreach`` and ``fused`` are accepted and ignored: every update is one fused pass.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        if differentiable:
            raise ValueError(f"{type(self).__name__}(differentiable=True) is not supported")
        if capturable:
            raise ValueError(f"{type(self).__name__}(capturable=True) is not supported "
                             "(CUDA graphs)")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        self.check_group(defaults)
        super().__init__(params, defaults)

    fused_kernel = "adam"
    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    step_state = "step"

    def check_group(self, group):
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        betas = group["betas"]
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= wd:
            raise ValueError(f"Invalid weight_decay value: {wd}")

    def _state_arrays(self, p, group):
        """p's exp_avg, exp_avg_sq and max_exp_avg_sq (None unless amsgrad) from state[p],
        each None when missing; ValueError when one is not a float32 buffer of p's shape."""
        st = self.state.get(p) or {}
        names = self.state_names if group["amsgrad"] else self.state_names[:2]
        out = []
        for name in names:
            a = st.get(name)
            if a is not None and not is_f32_buffer(a, p.data.shape):
                raise ValueError(f"{type(self).__name__}: {name} in optimizer.state is not a "
                                 f"writeable C-contiguous float32 array of shape {p.data.shape}")
            out.append(a)
        return out + [None] * (3 - len(out))

    def _hyper(self, group):
        """The kernels' hyperparameters of ``group`` (betas split as the kernels take them)."""
        beta1, beta2 = group["betas"]
        return dict(lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    amsgrad=bool(group["amsgrad"]), maximize=bool(group["maximize"]))

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
                if not is_f32_buffer(p.data):
                    raise ValueError(f"{type(self).__name__}: a parameter's .data is no longer "
                                     "a writeable C-contiguous float32 array (it must be "
                                     "updated in place)")
                g = grad_array(p, p.grad)
                st = self.state.get(p) or {}
                step = float(st.get("step", 0.0)) + 1.0
                work.append((p, g, self._state_arrays(p, group), step, group))
        for p, g, arrays, step, group in work:
            st = self.state[p]
            if "step" not in st:
                st["step"] = 0.0
            for name, a in zip(self.state_names, arrays):
                if a is None and (name != "max_exp_avg_sq" or group["amsgrad"]):
                    st[name] = np.zeros_like(p.data)
            update = kernels.adamw_update if group["decoupled_weight_decay"] else \
                kernels.adam_update
            update(p.data, g, st["exp_avg"], st["exp_avg_sq"], st.get("max_exp_avg_sq"),
                   step=step, **self._hyper(group))
            st["step"] = step
            p._bump_version()
        return loss

    def fused_param(self, p, group):
        """``adam_update``'s options for ``p``, its update count ``step`` and its state
        arrays (new zero ones where ``state[p]`` has none)."""
        e = self._hyper(group)
        st = self.state.get(p) or {}
        e["step"] = float(st.get("step", 0.0))
        for name, a in zip(self.state_names, self._state_arrays(p, group)):
            if name == "max_exp_avg_sq" and not group["amsgrad"]:
                continue
            e[name] = np.zeros_like(p.data) if a is None else a
        return e

    def fused_unavailable(self):
        why = super().fused_unavailable()
        if why is not None:
            return why
        decoupled = self.fused_kernel == "adamw"
        for i, g in enumerate(self.param_groups):
            if bool(g["decoupled_weight_decay"]) != decoupled:
                return (f"param_groups[{i}] has decoupled_weight_decay="
                        f"{g['decoupled_weight_decay']}, {type(self).__name__}'s fused kernel "
                        f"is {self.fused_kernel}_update")
        return None


class AdamW(Adam):
    """AdamW, exactly ``torch.optim.AdamW``: :class:`Adam` with
    ``decoupled_weight_decay=True`` (``p *= 1 - lr * weight_decay`` before the moments,
    :func:`fastmlp.kernels.adamw_update`) and ``weight_decay=1e-2`` by default."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    # AdamW declares for itself (a declaration holds for the class that makes it): its
    # kernel, and Adam's checks and fused description, which are AdamW's too.
    fused_kernel = "adamw"
    state_names = Adam.state_names
    step_state = Adam.step_state
    check_group = Adam.check_group
    fused_param = Adam.fused_param
