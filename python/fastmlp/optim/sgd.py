"""``SGD``: ``torch.optim.SGD`` over fastmlp's fused ``sgd_update`` kernel."""
from __future__ import annotations

import numpy as np

from .. import kernels
from .._arrays import F32 as _F32, is_f32_buffer
from ..autograd.grad_mode import enable_grad
from .optimizer import (Optimizer, check_flags, check_nonnegative, check_real, grad_array,
                        required)

__all__ = ["SGD"]


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
        self.check_group(defaults)
        super().__init__(params, defaults)

    fused_kernel = "sgd"
    state_names = ("momentum_buffer",)

    def check_group(self, group):
        """PyTorch's checks, and NaN and non-numbers rejected (check_nonnegative)."""
        if group["lr"] is not required:
            check_nonnegative(group, (("lr", "learning rate"),))
        check_nonnegative(group, (("momentum", "momentum value"),
                                  ("weight_decay", "weight_decay value")))
        check_real(group, "dampening")
        check_flags(group, ("nesterov", "maximize"))
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
            self.check_group(group)
            momentum = group["momentum"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                d = p.data
                if not (type(d) is np.ndarray and d.dtype == _F32 and d.flags.c_contiguous
                        and d.flags.writeable):  # is_f32_buffer(d), inlined: a hot loop
                    raise ValueError("SGD: a parameter's .data is no longer a writeable "
                                     "C-contiguous float32 array (it must be updated in place)")
                if not (type(g) is np.ndarray and g.dtype == d.dtype and g.flags.c_contiguous
                        and g.shape == d.shape):
                    g = grad_array(p, g)
                buf = self._momentum_buffer(p) if momentum != 0 else None
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
            p._version += 1  # Tensor._bump_version, inlined
        return loss

    def fused_param(self, p, group):
        """``sgd_update``'s options for ``p``, and its momentum buffer (a new, unfilled one
        with ``first_step=True`` when ``state[p]`` has none)."""
        momentum = float(group["momentum"])
        e = dict(lr=float(group["lr"]), momentum=momentum,
                 dampening=float(group["dampening"]),
                 weight_decay=float(group["weight_decay"]),
                 nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]))
        if momentum != 0.0:
            buf = self._momentum_buffer(p)
            if buf is None:
                e["momentum_buffer"], e["first_step"] = np.empty_like(p.data), True
            else:
                e["momentum_buffer"], e["first_step"] = buf, False
        return e

    def _momentum_buffer(self, p):
        """``state[p]``'s momentum buffer (None before p's first step), checked to be what
        ``sgd_update`` updates in place; ValueError otherwise."""
        st = self.state.get(p)
        buf = st.get("momentum_buffer") if st else None
        if buf is not None and not is_f32_buffer(buf, p.data.shape):
            raise ValueError("SGD: a momentum_buffer in optimizer.state is not a writeable "
                             f"C-contiguous float32 array of shape {p.data.shape}")
        return buf
