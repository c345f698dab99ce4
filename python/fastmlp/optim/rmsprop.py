"""``RMSprop``: ``torch.optim.RMSprop`` over fastmlp's fused ``rmsprop_update`` kernel."""
from __future__ import annotations

from .. import kernels
from .optimizer import KernelOptimizer, check_flags, check_nonnegative

__all__ = ["RMSprop"]


class RMSprop(KernelOptimizer):
    """RMSprop, exactly ``torch.optim.RMSprop`` (its single-tensor path, in float32).

    Per parameter with a gradient (others are skipped): ``state[p]["step"] += 1``, then
    one pass of :func:`fastmlp.kernels.rmsprop_update`, whose docstring states the
    arithmetic::

        g = -grad if maximize else grad;  g += weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) g g
        centered: grad_avg.lerp_(g, 1 - alpha); avg = sqrt(square_avg - grad_avg^2) + eps
        else:     avg = sqrt(square_avg) + eps
        momentum > 0: buf = momentum * buf + g / avg; p -= lr * buf
        else:         p -= lr * g / avg

    ``state[p]``: ``"step"`` (a Python float; PyTorch keeps a 0-d tensor, which loads
    here and is replaced by a float at the next step), ``"square_avg"`` and, with
    ``momentum > 0``, ``"momentum_buffer"`` and, with ``centered``, ``"grad_avg"``
    (float32 arrays of p's shape, updated in place; zeros before the first step, like
    PyTorch's). A group that turns momentum or centered on later gets zero buffers
    (PyTorch raises KeyError).

    All gradients and state arrays are validated before any parameter changes.
    ``differentiable`` and ``capturable`` are not supported (ValueError); ``foreach`` is
    accepted and ignored: every update is one fused pass.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if differentiable:
            raise ValueError("RMSprop(differentiable=True) is not supported")
        if capturable:
            raise ValueError("RMSprop(capturable=True) is not supported (CUDA graphs)")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        self.check_group(defaults)
        super().__init__(params, defaults)

    fused_kernel = "rmsprop"
    state_names = ("square_avg", "momentum_buffer", "grad_avg")
    step_state = "step"

    def check_group(self, group):
        check_nonnegative(group, (("lr", "learning rate"), ("eps", "epsilon value"),
                                  ("momentum", "momentum value"),
                                  ("weight_decay", "weight_decay value"),
                                  ("alpha", "alpha value")))
        check_flags(group, ("centered", "maximize"))

    def _used(self, group):
        """The state names ``group``'s options use, in ``state_names`` order."""
        return [n for n, on in zip(self.state_names,
                                   (True, group["momentum"] > 0, bool(group["centered"]))) if on]

    @staticmethod
    def _hyper(group):
        return dict(lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                    centered=bool(group["centered"]), maximize=bool(group["maximize"]))

    def _update(self, p, grad, state, step, group):
        kernels.rmsprop_update(p.data, grad, state["square_avg"], state.get("momentum_buffer"),
                               state.get("grad_avg"), **self._hyper(group))
