"""Optimizers with PyTorch's structure and semantics (``torch.optim``).

:mod:`.optimizer` (the ``Optimizer`` base and the declarations each optimizer
makes; ``KernelOptimizer``: the one step() of the one-kernel-per-parameter optimizers), :mod:`.sgd` (``SGD``), :mod:`.adam` (``Adam``, ``AdamW``),
:mod:`.rmsprop` (``RMSprop``), :mod:`.adagrad` (``Adagrad``), :mod:`.lr_scheduler` (PyTorch's schedulers).
Each parameter's update is one pass of a fused kernel from
:mod:`fastmlp.kernels`, in place: parameter arrays are never rebound.
"""
from . import lr_scheduler
from .optimizer import KernelOptimizer, Optimizer, required
from .adam import Adam, AdamW
from .sgd import SGD
from .rmsprop import RMSprop
from .adagrad import Adagrad

__all__ = ["Optimizer", "KernelOptimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler", "required"]
