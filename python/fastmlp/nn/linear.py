"""``nn.Linear``: ``y = x W^T + b`` with PyTorch's shapes, initialisation and state-dict keys."""
from __future__ import annotations

import math

import numpy as np

from .._arrays import F32 as _F32
from ..functional.linear import _linear
from . import init
from .module import FusedRole, Module, Parameter

__all__ = ["Linear"]


class Linear(Module):
    """``y = x W^T + b``: weight (out_features, in_features), bias (out_features,).

    Forward is one ``sgemm`` (bias fused) into a fresh output. Followed by an
    activation in a ``Sequential`` (or ``F.linear(x, W, b, activation=...)``,
    or an in-place activation on its output) the pair runs as one fused step
    (see :mod:`fastmlp.functional.linear`). A wrong feature count raises
    ValueError naming this layer and the shapes. Weight then bias are drawn
    from U(-1/sqrt(in), 1/sqrt(in)), PyTorch's distribution, with
    :data:`fastmlp.nn.init.generator` (``fastmlp.manual_seed``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Linear: {name} must be a non-negative integer, got {v!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=_F32))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=_F32))
        else:
            self.register_parameter("bias", None)
        self._name = f"Linear(in_features={self.in_features}, out_features={self.out_features})"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight then bias from U(-1/sqrt(in), 1/sqrt(in)) (in place)."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        rng = init.generator
        for p in (self.weight, self.bias):
            if p is not None:
                p.data[...] = rng.uniform(-bound, bound, size=p.data.shape)
                p._bump_version()

    def forward(self, input):
        return _linear(input, self.weight, self.bias, None, self._name)

    def forward_fused(self, input, act):
        """``act(self(input))`` as one GEMM (``act``: an Activation with an epilogue)."""
        return _linear(input, self.weight, self.bias, act, self._name)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(Linear):
            return super().fused_role()
        return FusedRole("linear")

    def _save_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}

    @classmethod
    def _saved_shapes(cls, config):
        sizes = []
        for name in ("in_features", "out_features"):
            v = config.get(name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"Linear: {name} must be a non-negative integer, got {v!r}")
            sizes.append(v)
        shapes = {"weight": (sizes[1], sizes[0])}
        if config.get("bias", True):
            shapes["bias"] = (sizes[1],)
        return shapes

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
