"""Training: :func:`train_epoch` (fused in C++ when :mod:`.plan` finds a plan) and the
Python loop it is checked against, :func:`python_epoch`."""
from .epoch import python_epoch, train_epoch

__all__ = ["train_epoch", "python_epoch"]
