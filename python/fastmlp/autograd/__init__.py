"""Automatic differentiation: grad mode, :class:`Tensor`, and the backward engine.

A *layer-level tape*: every op that makes a Tensor from inputs needing a
gradient records one backward step (see :mod:`.engine` for its contract);
``Tensor.backward`` runs them from the output back to the leaves. The ops
themselves live in :mod:`fastmlp.functional`.
"""
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor, as_array, from_numpy, tensor

__all__ = ["Tensor", "tensor", "from_numpy", "as_array", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode"]
