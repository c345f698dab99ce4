"""Loss modules: ``CrossEntropyLoss``, ``MSELoss``, ``L1Loss``... (PyTorch's definitions and reductions).

Each loss declares what the fused epoch needs from it (:meth:`fused_role`: the
kernel and its options) and checks a whole epoch's targets up front
(:meth:`_Loss.epoch_targets`), for the fused path and the Python loop alike.
"""
from __future__ import annotations

import inspect

import numpy as np

from .._arrays import F32 as _F32
from ..autograd.tensor import as_array
from ..functional.loss import (_legacy_reduction, binary_cross_entropy_with_logits, cross_entropy,
                              huber_loss, l1_loss, mse_loss, smooth_l1_loss)
from .module import FusedRole, Module, _to_numpy

__all__ = ["CrossEntropyLoss", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss",
           "BCEWithLogitsLoss"]

_REDUCTIONS = ("none", "mean", "sum")


def _reduction_arg(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


class _Loss(Module):
    """A loss module: ``reduction`` plus the declarations the fused epoch reads."""

    reduction: str

    def epoch_targets(self, y: np.ndarray, n_out) -> np.ndarray:
        """Check a whole epoch's targets ``y`` before any weight changes, for a model with
        ``n_out`` outputs (None: unknown); return them as the kernels take them.
        ValueError/TypeError name ``y`` and what was expected."""
        if self.reduction not in ("mean", "sum"):
            raise ValueError(
                f"train_epoch needs a scalar loss: criterion reduction must be 'mean' or 'sum', "
                f"got {self.reduction!r}")
        return y


class CrossEntropyLoss(_Loss):
    """``torch.nn.CrossEntropyLoss`` for class-index targets.

    Input: logits (N, C) Tensor or array; target: (N,) integer labels (NumPy
    array, list...). Attributes ``weight`` (float32 (C,) ndarray or None, a
    buffer as in PyTorch), ``ignore_index``, ``label_smoothing``,
    ``reduction``. Loss and gradient are one fused kernel pass.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        self.reduction = _reduction_arg(size_average, reduce, reduction)
        ls = float(label_smoothing)
        if not 0.0 <= ls <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        w = None
        if weight is not None:
            w = np.array(as_array(_to_numpy(weight)), dtype=_F32, copy=True)
            if w.ndim != 1:
                raise ValueError(f"weight must be 1-D (one weight per class), got shape {w.shape}")
        self.register_buffer("weight", w)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = ls

    def forward(self, input, target):
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(CrossEntropyLoss):
            return super().fused_role()
        w = self.weight
        return FusedRole("loss", spec=dict(
            loss="cross_entropy", reduction=self.reduction,
            class_weight=None if w is None else np.ascontiguousarray(w, dtype=np.float32),
            ignore_index=self.ignore_index, label_smoothing=self.label_smoothing))

    def epoch_targets(self, y, n_out):
        y = super().epoch_targets(y, n_out)
        if y.dtype.kind not in "iu":
            raise TypeError(f"y: expected integer class indices, got dtype {y.dtype}")
        if y.ndim != 1:
            raise ValueError(f"y: expected class indices of shape (N,), got shape {y.shape}")
        if n_out is not None and len(y):
            ignore = self.ignore_index
            yi = y.astype(np.int64, copy=False) if y.dtype != np.uint64 else y
            bad = ((yi < 0) | (yi >= n_out)) & (yi != ignore)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"y: label {y[i]} at index {i} is out of range [0, {n_out}) for "
                    f"{n_out} output classes (and is not ignore_index={ignore})")
        return np.ascontiguousarray(y, dtype=np.int64)

    def _save_config(self):
        # weight is also a buffer in the state dict; the constructor needs it to make one
        w = self.weight
        return {"weight": None if w is None else [float(v) for v in w],
                "ignore_index": self.ignore_index, "reduction": self.reduction,
                "label_smoothing": self.label_smoothing}

    def extra_repr(self) -> str:
        parts = []
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(parts)


class MSELoss(_Loss):
    """``torch.nn.MSELoss``: mean (or sum, or none) of ``(input - target)**2``; same shapes."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction_arg(size_average, reduce, reduction)

    def forward(self, input, target):
        return mse_loss(input, target, reduction=self.reduction)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(MSELoss):
            return super().fused_role()
        return FusedRole("loss", spec=dict(loss="mse", reduction=self.reduction))

    def epoch_targets(self, y, n_out):
        y = super().epoch_targets(y, n_out)
        if y.dtype.kind not in "fiub":
            raise TypeError(f"y: expected real-valued MSE targets, got dtype {y.dtype}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if n_out is not None and (y.ndim != 2 or y.shape[1] != n_out):
            raise ValueError(
                f"y: expected MSE targets of shape ({len(y)}, {n_out}) (the model's output "
                f"shape), got {y.shape}")
        return y

    def _save_config(self):
        return {"reduction": self.reduction}

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


def _same(a, b) -> bool:
    if a is None or b is None or isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b
    return a == b


class _ElementwiseLoss(_Loss):
    """A loss of ``d = input - target`` elementwise (same shapes), computed by the functional
    ``_function`` with the options ``_options()``. Not in the fused epoch yet: the Python
    loop trains with it."""

    _function = None  # F.l1_loss, ...

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction_arg(size_average, reduce, reduction)

    def _options(self) -> dict:
        return {}

    def forward(self, input, target):
        return type(self)._function(input, target, reduction=self.reduction, **self._options())

    def fused_role(self) -> FusedRole:
        return FusedRole("unsupported", why=f"the fused epoch has no {type(self).__name__} "
                                            f"kernel yet (the Python loop runs it)")

    def epoch_targets(self, y, n_out):
        y = super().epoch_targets(y, n_out)
        if y.dtype.kind not in "fiub":
            raise TypeError(f"y: expected real-valued targets, got dtype {y.dtype}")
        return np.ascontiguousarray(y, dtype=np.float32)

    def _elementwise_config(self):
        """What every subclass's ``_save_config`` returns (each declares it for itself)."""
        return {"reduction": self.reduction, **self._options()}

    def extra_repr(self) -> str:
        # what differs from the constructor's defaults, as PyTorch shows it
        defaults = {k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()}
        shown = {"reduction": self.reduction, **self._options()}
        return ", ".join(f"{k}={v!r}" for k, v in shown.items() if not _same(v, defaults.get(k)))


class L1Loss(_ElementwiseLoss):
    """``torch.nn.L1Loss``: mean (or sum, or none) of ``|input - target|``; same shapes."""

    _function = staticmethod(l1_loss)
    _save_config = _ElementwiseLoss._elementwise_config


class HuberLoss(_ElementwiseLoss):
    """``torch.nn.HuberLoss``: ``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``;
    ``delta`` > 0 (ValueError otherwise, as PyTorch)."""

    _function = staticmethod(huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = float(delta)
        if not self.delta > 0:
            raise ValueError(f"delta must be > 0, got {delta}")

    def _options(self):
        return {"delta": self.delta}

    _save_config = _ElementwiseLoss._elementwise_config


class SmoothL1Loss(_ElementwiseLoss):
    """``torch.nn.SmoothL1Loss``: ``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta/2``;
    ``beta`` >= 0 (ValueError otherwise, as PyTorch), 0 is the L1 loss."""

    _function = staticmethod(smooth_l1_loss)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = float(beta)
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")

    def _options(self):
        return {"beta": self.beta}

    _save_config = _ElementwiseLoss._elementwise_config


def _f32_copy(a):
    """None, or a float32 copy of the array-like (or Tensor) ``a``: a loss's buffer."""
    return None if a is None else np.array(as_array(_to_numpy(a)), dtype=_F32, copy=True)


class BCEWithLogitsLoss(_ElementwiseLoss):
    """``torch.nn.BCEWithLogitsLoss``: binary cross-entropy of ``sigmoid(input)`` against
    ``target`` (same shapes), PyTorch's stable form. ``weight`` and ``pos_weight`` are
    float32 buffers (None or arrays whose shape is a trailing part of the input's, e.g.
    ``(C,)``)."""

    _function = staticmethod(binary_cross_entropy_with_logits)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _f32_copy(weight))
        self.register_buffer("pos_weight", _f32_copy(pos_weight))

    def _options(self):
        return {"weight": self.weight, "pos_weight": self.pos_weight}

    def _save_config(self):
        # the buffers are in the state dict too; the constructor needs them to make them
        def listed(a):
            return None if a is None else a.tolist()

        return {"weight": listed(self.weight), "reduction": self.reduction,
                "pos_weight": listed(self.pos_weight)}

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""
