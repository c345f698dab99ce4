"""``nn.Dropout``: :func:`fastmlp.functional.dropout` as a layer, respecting train()/eval()."""
from __future__ import annotations

from ..functional.dropout import check_dropout_p, dropout
from .module import FusedRole, Module

__all__ = ["Dropout"]


class Dropout(Module):
    """``torch.nn.Dropout(p=0.5, inplace=False)``: in training mode zeroes each element
    with probability ``p`` and scales the others by ``1 / (1 - p)``; in eval mode (and for
    ``p == 0``) returns its input. Each training-mode call draws one seed from
    :data:`fastmlp.nn.init.generator` (``fastmlp.manual_seed``). The fused epoch runs it
    after a ``Linear`` or an activation with the same seeds, so the same bits.

    Differs from PyTorch: ``p == 1`` is a ValueError (``p`` must be in [0, 1)), and the
    mask comes from Philox4x32-10 (see :func:`fastmlp.kernels.dropout_forward`).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_dropout_p(p)
        self.inplace = bool(inplace)

    def forward(self, input):
        return dropout(input, self.p, self.training, self.inplace)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(Dropout):  # a subclass declares for itself
            return super().fused_role()
        # spec["inplace"]: it overwrites its input (the planner needs to know: the Python
        # loop refuses an in-place write over an activation's saved output).
        return FusedRole("dropout", p=self.p, spec={"inplace": self.inplace})

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def _save_config(self):
        return {"p": self.p, "inplace": self.inplace}
