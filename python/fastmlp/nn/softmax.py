"""``Softmax`` and ``LogSoftmax`` (``torch.nn``'s, over one dimension)."""
from __future__ import annotations

from ..functional.softmax import log_softmax, softmax
from .module import FusedRole, Module

__all__ = ["Softmax", "LogSoftmax"]


class _SoftmaxBase(Module):
    """A softmax-like module over ``dim`` (None: PyTorch's implicit choice, with its warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = None if dim is None else int(dim)

    def _dim_config(self):
        """What each subclass's ``_save_config`` returns (each declares it for itself)."""
        return {"dim": self.dim}

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """``torch.nn.Softmax(dim=None)``: ``exp(x) / sum(exp(x))`` along ``dim``, stable.

    Not in the fused epoch: a softmax output trained on is the Python loop's (the fused
    epoch trains ``LogSoftmax`` + ``NLLLoss``, or logits with ``CrossEntropyLoss``)."""

    def forward(self, input):
        return softmax(input, self.dim, 4)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(Softmax):
            return super().fused_role()
        # "softmax": the one-call forward (fastmlp.infer) takes it as the model's last module;
        # the fused epoch does not (``why`` is its reason).
        return FusedRole("softmax", why="the fused epoch has no Softmax head (use LogSoftmax "
                                        "with NLLLoss, or CrossEntropyLoss on the logits)",
                         spec={"dim": self.dim})

    _save_config = _SoftmaxBase._dim_config


class LogSoftmax(_SoftmaxBase):
    """``torch.nn.LogSoftmax(dim=None)``: ``x - log(sum(exp(x)))`` along ``dim``, stable.

    Fused role ``"log_softmax"`` (``spec={"dim": dim}``): as the last module of an
    ``nn.Sequential`` over the outputs (dim 1, -1, or None, which is 1 for the 2-D batches),
    the fused epoch applies it before the loss (its forward and backward kernels, as here)."""

    def forward(self, input):
        return log_softmax(input, self.dim, 4)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(LogSoftmax):
            return super().fused_role()
        return FusedRole("log_softmax", spec={"dim": self.dim})

    _save_config = _SoftmaxBase._dim_config
