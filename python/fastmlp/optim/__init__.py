"""Optimizers with PyTorch's structure and semantics (``torch.optim``).

:mod:`.optimizer` (the ``Optimizer`` base and the declarations each optimizer
makes), :mod:`.sgd` (``SGD``), :mod:`.adam` (``Adam``, ``AdamW``), :mod:`.lr_scheduler` (PyTorch's schedulers).
Each parameter's update is one pass of a fused kernel from
:mod:`fastmlp.kernels`, in place: parameter arrays are never rebound.
"""
from . import lr_scheduler
from .optimizer import Optimizer, required
from .adam import Adam, AdamW
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler", "required"]
