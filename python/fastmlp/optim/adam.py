"""``Adam`` and ``AdamW``: ``torch.optim.Adam`` / ``AdamW`` over fastmlp's fused
``adam_update`` / ``adamw_update`` kernels."""
from __future__ import annotations

from .. import kernels
from .._args import real
from .optimizer import KernelOptimizer, check_flags, check_nonnegative

__all__ = ["Adam", "AdamW"]


class Adam(KernelOptimizer):
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
        """PyTorch's checks, and NaN and non-numbers rejected (check_nonnegative)."""
        check_nonnegative(group, (("lr", "learning rate"), ("eps", "epsilon value")))
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}")
        for i in (0, 1):
            if not 0.0 <= real(betas[i], f"betas[{i}]") < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]} "
                                 f"(expected 0 <= betas[{i}] < 1)")
        check_nonnegative(group, (("weight_decay", "weight_decay value"),))
        check_flags(group, ("amsgrad", "maximize", "decoupled_weight_decay"))

    def _used(self, group):
        return self.state_names if group["amsgrad"] else self.state_names[:2]

    def _hyper(self, group):
        """The kernels' hyperparameters of ``group`` (betas split as the kernels take them)."""
        beta1, beta2 = group["betas"]
        return dict(lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    amsgrad=bool(group["amsgrad"]), maximize=bool(group["maximize"]))

    def _update(self, p, grad, state, step, group):
        update = kernels.adamw_update if group["decoupled_weight_decay"] else kernels.adam_update
        update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
               step=step, **self._hyper(group))

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
