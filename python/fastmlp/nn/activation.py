"""Activation modules: each is its :data:`fastmlp.functional.ACTIVATIONS` entry as a layer."""
from __future__ import annotations

from ..functional.activation import ACTIVATIONS, apply_activation
from .module import FusedRole, Module

__all__ = ["ReLU"]


class _Activation(Module):
    """An elementwise activation: ``activation`` names its registry entry.

    Subclasses set ``activation`` (and take their options in ``__init__``);
    forward, the fused role and saving come from here.
    """

    activation: str = ""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input):
        return apply_activation(ACTIVATIONS[self.activation], input, self.inplace,
                                type(self).__name__.capitalize())

    def fused_role(self) -> FusedRole:
        if "activation" not in type(self).__dict__:  # a subclass declares for itself
            return super().fused_role()
        return FusedRole("activation", activation=self.activation)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Activation):
    """``max(x, 0)`` (``torch.nn.ReLU``). Right after a ``Linear`` in a ``Sequential`` it
    runs in the Linear's GEMM epilogue; ``inplace=True`` rectifies its input in place."""

    activation = "relu"

    def _save_config(self):
        return {"inplace": self.inplace}
