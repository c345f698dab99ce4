"""Loss modules: ``CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``, ``L1Loss``... (PyTorch's
definitions and reductions).

Each loss declares what the fused epoch needs from it (:meth:`fused_role`: the
kernel and its options) and checks a whole epoch's targets up front
(:meth:`_Loss.epoch_targets`), for the fused path and the Python loop alike.
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import _args
from .._arrays import F32 as _F32
from ..autograd.tensor import as_array
from ..functional.loss import (_legacy_reduction, binary_cross_entropy_with_logits, cross_entropy,
                              huber_loss, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from .module import FusedRole, Module, _to_numpy

__all__ = ["CrossEntropyLoss", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss",
           "BCEWithLogitsLoss", "NLLLoss"]

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


class _ClassLoss(_Loss):
    """A loss of class-index targets with per-class ``weight`` (a float32 (C,) buffer or
    None) and ``ignore_index``: what :class:`CrossEntropyLoss` and :class:`NLLLoss` share."""

    def __init__(self, weight, size_average, ignore_index, reduce, reduction):
        super().__init__()
        self.reduction = _reduction_arg(size_average, reduce, reduction)
        w = None
        if weight is not None:
            w = np.array(as_array(_to_numpy(weight), "weight"), dtype=_F32, copy=True)
            if w.ndim != 1:
                raise ValueError(f"weight must be 1-D (one weight per class), got shape {w.shape}")
        self.register_buffer("weight", w)
        self.ignore_index = _args.integer(ignore_index, "ignore_index")

    def _class_spec(self, loss) -> dict:
        """The fused epoch's spec of this loss (kernel name ``loss``)."""
        w = self.weight
        return dict(loss=loss, reduction=self.reduction,
                    class_weight=None if w is None else np.ascontiguousarray(w, dtype=np.float32),
                    ignore_index=self.ignore_index)

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

    def _class_config(self) -> dict:
        # weight is also a buffer in the state dict; the constructor needs it to make one
        w = self.weight
        return {"weight": None if w is None else [float(v) for v in w],
                "ignore_index": self.ignore_index, "reduction": self.reduction}

    def _class_repr(self) -> list:
        parts = []
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        return parts


class CrossEntropyLoss(_ClassLoss):
    """``torch.nn.CrossEntropyLoss`` for class-index targets.

    Input: logits (N, C) Tensor or array; target: (N,) integer labels (NumPy
    array, list...). Attributes ``weight`` (float32 (C,) ndarray or None, a
    buffer as in PyTorch), ``ignore_index``, ``label_smoothing``,
    ``reduction``. Loss and gradient are one fused kernel pass.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        ls = _args.real(label_smoothing, "label_smoothing")
        if not 0.0 <= ls <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = ls

    def forward(self, input, target):
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(CrossEntropyLoss):
            return super().fused_role()
        return FusedRole("loss", spec=dict(self._class_spec("cross_entropy"),
                                           label_smoothing=self.label_smoothing))

    def _save_config(self):
        return {**self._class_config(), "label_smoothing": self.label_smoothing}

    def extra_repr(self) -> str:
        parts = self._class_repr()
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(parts)


class NLLLoss(_ClassLoss):
    """``torch.nn.NLLLoss``: ``-weight[t_i] * input[i, t_i]`` of log-probabilities (N, C)
    (e.g. a ``LogSoftmax`` output) at class indices (N,), reduced as
    :class:`CrossEntropyLoss` ("mean": over the kept rows' weights). Only 2-D input.

    The fused epoch runs it when the model ends with ``LogSoftmax`` over the classes (the
    log_softmax kernel, then nll_loss; backward nll_loss's gradient then
    log_softmax_backward: the Python loop's kernels, so the same bits).
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    def forward(self, input, target):
        return nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)

    def fused_role(self) -> FusedRole:
        if not self._declared_by(NLLLoss):
            return super().fused_role()
        return FusedRole("loss", spec=self._class_spec("nll"))

    def _save_config(self):
        return self._class_config()

    def extra_repr(self) -> str:
        return ", ".join(self._class_repr())


def _float_targets(y, n_out, what):
    """Real-valued targets ``y`` as float32 C-contiguous, of the model's output shape
    ``(N, n_out)`` when ``n_out`` is known; ``what`` names them in errors."""
    if y.dtype.kind not in "fiub":
        raise TypeError(f"y: expected real-valued {what} targets, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if n_out is not None and (y.ndim != 2 or y.shape[1] != n_out):
        raise ValueError(
            f"y: expected {what} targets of shape ({len(y)}, {n_out}) (the model's output "
            f"shape), got {y.shape}")
    return y


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
        return _float_targets(super().epoch_targets(y, n_out), n_out, "MSE")

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
    ``_function`` with the options ``_options()``. The fused epoch runs it with the kernel
    each subclass declares in its ``fused_role`` (``_elementwise_role``), on float targets
    of the model's output shape (N, C), as MSELoss."""

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
                                            f"kernel (the Python loop runs it)")

    def _elementwise_role(self, cls, loss) -> FusedRole:
        """``cls``'s declaration: the fused kernel ``loss`` with ``_options()``; a subclass of
        ``cls`` declares for itself (the unsupported role above)."""
        if not self._declared_by(cls):
            return _ElementwiseLoss.fused_role(self)
        return FusedRole("loss", spec=dict(loss=loss, reduction=self.reduction, **self._options()))

    def epoch_targets(self, y, n_out):
        return _float_targets(super().epoch_targets(y, n_out), n_out, type(self).__name__)

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

    def fused_role(self) -> FusedRole:
        return self._elementwise_role(L1Loss, "l1")


class HuberLoss(_ElementwiseLoss):
    """``torch.nn.HuberLoss``: ``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``;
    ``delta`` > 0 (ValueError otherwise, as PyTorch)."""

    _function = staticmethod(huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = _args.real(delta, "delta")
        if not self.delta > 0:
            raise ValueError(f"delta must be > 0, got {delta}")

    def _options(self):
        return {"delta": self.delta}

    _save_config = _ElementwiseLoss._elementwise_config

    def fused_role(self) -> FusedRole:
        return self._elementwise_role(HuberLoss, "huber")


class SmoothL1Loss(_ElementwiseLoss):
    """``torch.nn.SmoothL1Loss``: ``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta/2``;
    ``beta`` >= 0 (ValueError otherwise, as PyTorch), 0 is the L1 loss."""

    _function = staticmethod(smooth_l1_loss)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = _args.real(beta, "beta")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")

    def _options(self):
        return {"beta": self.beta}

    _save_config = _ElementwiseLoss._elementwise_config

    def fused_role(self) -> FusedRole:
        return self._elementwise_role(SmoothL1Loss, "smooth_l1")


def _f32_copy(a, name=None):
    """None, or a float32 copy of the array-like (or Tensor) ``a`` (argument ``name``): a
    loss's buffer."""
    return None if a is None else np.array(as_array(_to_numpy(a), name), dtype=_F32, copy=True)


class BCEWithLogitsLoss(_ElementwiseLoss):
    """``torch.nn.BCEWithLogitsLoss``: binary cross-entropy of ``sigmoid(input)`` against
    ``target`` (same shapes), PyTorch's stable form. ``weight`` and ``pos_weight`` are
    float32 buffers (None or arrays whose shape is a trailing part of the input's, e.g.
    ``(C,)``)."""

    _function = staticmethod(binary_cross_entropy_with_logits)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _f32_copy(weight, "weight"))
        self.register_buffer("pos_weight", _f32_copy(pos_weight, "pos_weight"))

    def _options(self):
        return {"weight": self.weight, "pos_weight": self.pos_weight}

    def fused_role(self) -> FusedRole:
        if not self._declared_by(BCEWithLogitsLoss):
            return super().fused_role()
        for name in ("weight", "pos_weight"):
            a = getattr(self, name)
            if a is not None and a.ndim > 1:
                return FusedRole("unsupported", why=(
                    f"BCEWithLogitsLoss {name} of shape {a.shape}: the fused epoch takes () or "
                    f"(C,) (the Python loop runs it)"))
        return FusedRole("loss", spec=dict(loss="bce_with_logits", reduction=self.reduction,
                                           class_weight=self.weight, pos_weight=self.pos_weight))

    def _save_config(self):
        # the buffers are in the state dict too; the constructor needs them to make them
        def listed(a):
            return None if a is None else a.tolist()

        return {"weight": listed(self.weight), "reduction": self.reduction,
                "pos_weight": listed(self.pos_weight)}

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""
