"""``RMSprop``: ``torch.optim.RMSprop`` over fastmlp's fused ``rmsprop_update`` kernel."""
from __future__ import annotations

import numpy as np

from .. import kernels
from .._arrays import is_f32_buffer
from ..autograd.grad_mode import enable_grad
from .optimizer import Optimizer, check_nonnegative, grad_array

__all__ = ["RMSprop"]


def _check_state(opt, p, names):
    """``state[p]``'s arrays ``names`` (None where missing); ValueError when one is not a
    writeable C-contiguous float32 array of p's shape. Shared by RMSprop and Adagrad."""
    st = opt.state.get(p) or {}
    out = []
    for name in names:
        a = st.get(name)
        if a is not None and not is_f32_buffer(a, p.data.shape):
            raise ValueError(f"{type(opt).__name__}: {name} in optimizer.state is not a "
                             f"writeable C-contiguous float32 array of shape {p.data.shape}")
        out.append(a)
    return out


def _param_data(opt, p):
    if not is_f32_buffer(p.data):
        raise ValueError(f"{type(opt).__name__}: a parameter's .data is no longer a writeable "
                         "C-contiguous float32 array (it must be updated in place)")


class RMSprop(Optimizer):
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

    def _used(self, group):
        """The state names ``group``'s options use, in ``state_names`` order."""
        return [n for n, on in zip(self.state_names,
                                   (True, group["momentum"] > 0, bool(group["centered"]))) if on]

    @staticmethod
    def _hyper(group):
        return dict(lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                    centered=bool(group["centered"]), maximize=bool(group["maximize"]))

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
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
                _param_data(self, p)
                g = grad_array(p, p.grad)
                st = self.state.get(p) or {}
                step = float(st.get("step", 0.0)) + 1.0
                work.append((p, g, names, _check_state(self, p, names), step, group))
        for p, g, names, arrays, step, group in work:
            st = self.state[p]
            if "step" not in st:
                st["step"] = 0.0
            for name, a in zip(names, arrays):
                if a is None:
                    st[name] = np.zeros_like(p.data)
            kernels.rmsprop_update(p.data, g, st["square_avg"], st.get("momentum_buffer"),
                                   st.get("grad_avg"), **self._hyper(group))
            st["step"] = step
            p._bump_version()
        return loss

    def fused_param(self, p, group):
        """``rmsprop_update``'s options for ``p``, its update count ``step`` and the state
        arrays its options use (new zero ones where ``state[p]`` has none)."""
        e = self._hyper(group)
        st = self.state.get(p) or {}
        e["step"] = float(st.get("step", 0.0))
        names = self._used(group)
        for name, a in zip(names, _check_state(self, p, names)):
            e[name] = np.zeros_like(p.data) if a is None else a
        return e
