"""Shape modules: ``Flatten`` and ``Identity``."""
from __future__ import annotations

from .. import _args
from ..functional.shape import flatten
from .module import FusedRole, Module

__all__ = ["Flatten", "Identity"]


class Flatten(Module):
    """``torch.nn.Flatten``: flattens dims ``start_dim..end_dim`` (default: all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = _args.integer(start_dim, "start_dim")
        self.end_dim = _args.integer(end_dim, "end_dim")

    def forward(self, input):
        return flatten(input, self.start_dim, self.end_dim)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(Flatten):
            return super().fused_role()
        if (self.start_dim, self.end_dim) != (1, -1):
            return FusedRole("unsupported", why="Flatten with start_dim/end_dim other than (1, -1)")
        return FusedRole("flatten")

    def _save_config(self):
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input

    def fused_role(self) -> FusedRole:
        return FusedRole("unsupported", why="module Identity has no fused kernel (yet)")

    def _save_config(self):
        return {}
