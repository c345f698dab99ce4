"""Activation modules: each is its :data:`fastmlp.functional.ACTIVATIONS` entry as a layer.

A module names its registry kind (``activation = "leaky_relu"``) and keeps
the kind's hyperparameters as attributes of the same names
(``self.negative_slope``), as PyTorch's modules do; forward binds the kind
with them (checked, cached) and applies it. Its fused role carries the same
values (``FusedRole("activation", activation=name, spec=params)``), which
``nn.Sequential``'s fusion and the fused planner read through
:func:`fastmlp.functional.activation.activation_of_role`.

Where PyTorch accepts any hyperparameter value we check it at construction
(ValueError naming the argument): ``ELU(alpha < 0)`` (its output-reading
backward would be wrong), ``Softplus(beta=0)``, non-finite values, a GELU
``approximate`` other than ``'none'``/``'tanh'``. Values are kept as floats, so
``LeakyReLU(1)`` shows ``negative_slope=1.0``.
"""
from __future__ import annotations

from ..functional.activation import ACTIVATIONS, apply_activation
from .module import FusedRole, Module

__all__ = ["ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "Softplus"]


class _Activation(Module):
    """An elementwise activation: ``activation`` names its registry entry.

    Subclasses set ``activation`` and take their options in ``__init__``, passing
    them here by the registry's parameter names (``inplace`` only when the PyTorch
    module has it); forward, the fused role and the saved config come from here.
    Each subclass declares ``_save_config = _Activation._config`` in its own body:
    that registers it with ``fastmlp.save``/``load`` (a declaration is the class's own).
    """

    activation: str = ""

    def __init__(self, inplace=None, **params):
        super().__init__()
        kind = ACTIVATIONS[self.activation]
        bound = kind.bind(type(self).__name__, **params)
        for name, value in bound.params:
            setattr(self, name, value)
        if inplace is not None:
            self.inplace = bool(inplace)

    def _declared(self):
        """(bound activation, fused role) for the current attribute values: the registry
        kind bound with them, cached until an attribute changes (read per step)."""
        kind = ACTIVATIONS[self.activation]
        values = tuple([(type(v), v) for v in [getattr(self, p.name) for p in kind.params]])
        cached = self.__dict__.get("_declared_cache")
        if cached is not None and cached[0] == values:
            return cached[1]
        bound = kind.bind(type(self).__name__, **{p.name: getattr(self, p.name)
                                                  for p in kind.params})
        declared = (bound, FusedRole("activation", activation=self.activation, spec=bound.kwargs))
        self.__dict__["_declared_cache"] = (values, declared)
        return declared

    def _bound(self):
        return self._declared()[0]

    def forward(self, input):
        return apply_activation(self._declared()[0], input, getattr(self, "inplace", False))

    def fused_role(self) -> FusedRole:
        if "activation" not in type(self).__dict__:  # a subclass declares for itself
            return super().fused_role()
        return self._declared()[1]

    def _config(self) -> dict:
        """The constructor's keyword arguments: the parameters, then ``inplace`` if any."""
        config = self._bound().kwargs
        if "inplace" in self.__dict__:
            config["inplace"] = self.inplace
        return config

    def _inplace_str(self) -> str:
        return ", inplace=True" if getattr(self, "inplace", False) else ""


class ReLU(_Activation):
    """``max(x, 0)`` (``torch.nn.ReLU``). Right after a ``Linear`` in a ``Sequential`` it
    runs in the Linear's GEMM epilogue; ``inplace=True`` rectifies its input in place."""

    activation = "relu"

    def __init__(self, inplace: bool = False):
        super().__init__(inplace)

    _save_config = _Activation._config

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Activation):
    """``x if x > 0 else negative_slope * x`` (``torch.nn.LeakyReLU``)."""

    activation = "leaky_relu"

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__(inplace, negative_slope=negative_slope)

    _save_config = _Activation._config

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{self._inplace_str()}"


class Tanh(_Activation):
    """``tanh(x)`` (``torch.nn.Tanh``)."""

    activation = "tanh"

    def __init__(self):
        super().__init__()

    _save_config = _Activation._config


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` (``torch.nn.Sigmoid``)."""

    activation = "sigmoid"

    def __init__(self):
        super().__init__()

    _save_config = _Activation._config


class GELU(_Activation):
    """``x * Phi(x)`` (``torch.nn.GELU``): ``approximate='none'`` (erf) or ``'tanh'``."""

    activation = "gelu"

    def __init__(self, approximate: str = "none"):
        super().__init__(approximate=approximate)

    _save_config = _Activation._config

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """``x * sigmoid(x)`` (``torch.nn.SiLU``)."""

    activation = "silu"

    def __init__(self, inplace: bool = False):
        super().__init__(inplace)

    _save_config = _Activation._config

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ELU(_Activation):
    """``x if x > 0 else alpha * (exp(x) - 1)`` (``torch.nn.ELU``); ``alpha >= 0``."""

    activation = "elu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace, alpha=alpha)

    _save_config = _Activation._config

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{self._inplace_str()}"


class Softplus(_Activation):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``
    (``torch.nn.Softplus``); ``beta`` nonzero."""

    activation = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__(beta=beta, threshold=threshold)

    _save_config = _Activation._config

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"
