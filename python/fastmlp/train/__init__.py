"""Training: :func:`train_epoch` (fused in C++ when :mod:`.plan` finds a plan) and the
Python loop it is checked against, :func:`python_epoch`; :func:`loss_and_grad`, the
full-data loss and gradient in one fused call (full-batch solvers such as L-BFGS)."""
from .epoch import python_epoch, train_epoch
from .loss_grad import loss_and_grad

__all__ = ["train_epoch", "python_epoch", "loss_and_grad"]
