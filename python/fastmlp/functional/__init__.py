"""Functional ops on Tensors (or NumPy arrays): ``torch.nn.functional``'s names and signatures.

One module per op family: :mod:`.linear`, :mod:`.activation` (the
activation registry), :mod:`.loss`, :mod:`.shape`. Each op runs kernels from
:mod:`fastmlp.kernels` forward and records one backward step (see
:mod:`fastmlp.autograd.engine`) when an input needs a gradient and grad mode
is on. Inputs that are not float32 are converted (``as_array``); every
output is a :class:`~fastmlp.autograd.Tensor`.

This package also gives ``Tensor`` its op methods (``t.relu()``,
``t.flatten()``, ``t.softmax(dim)``, ``t.log_softmax(dim)``): the ops register
themselves on Tensor, so the autograd
core imports no op.
"""
from ..autograd.tensor import Tensor
from .activation import ACTIVATIONS, Activation, get_activation, relu
from .dropout import dropout
# activations (issue 10)
from .activation import BoundActivation, elu, gelu, leaky_relu, sigmoid, silu, softplus, tanh
from .linear import linear
from .loss import (binary_cross_entropy_with_logits, cross_entropy, huber_loss, l1_loss, mse_loss,
                   smooth_l1_loss)
from .shape import flatten
# softmax, log_softmax, nll_loss (issue 10)
from .loss import nll_loss
from .softmax import log_softmax, softmax

__all__ = ["linear", "relu", "flatten", "cross_entropy", "mse_loss", "l1_loss", "huber_loss",
           "smooth_l1_loss", "binary_cross_entropy_with_logits", "ACTIVATIONS", "Activation", "get_activation"]
__all__ += ["dropout"]  # functional/dropout.py
__all__ += ["softmax", "log_softmax", "nll_loss"]  # functional/softmax.py, loss.py
# activations (issue 10)
__all__ += ["leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus", "BoundActivation"]


def _tensor_relu(self):
    """``relu(self)`` (out of place), as ``torch.Tensor.relu``."""
    return relu(self)


def _tensor_flatten(self, start_dim=0, end_dim=-1):
    """``flatten(self, start_dim, end_dim)``, as ``torch.Tensor.flatten``."""
    return flatten(self, start_dim, end_dim)


Tensor.relu = _tensor_relu
Tensor.flatten = _tensor_flatten


def _tensor_softmax(self, dim=None, dtype=None):
    """``softmax(self, dim)``, as ``torch.Tensor.softmax``."""
    return softmax(self, dim, 4, dtype)


def _tensor_log_softmax(self, dim=None, dtype=None):
    """``log_softmax(self, dim)``, as ``torch.Tensor.log_softmax``."""
    return log_softmax(self, dim, 4, dtype)


Tensor.softmax = _tensor_softmax
Tensor.log_softmax = _tensor_log_softmax


# activations (issue 10)
def _tensor_tanh(self):
    """``tanh(self)`` (out of place), as ``torch.Tensor.tanh``."""
    return tanh(self)


def _tensor_sigmoid(self):
    """``sigmoid(self)`` (out of place), as ``torch.Tensor.sigmoid``."""
    return sigmoid(self)


Tensor.tanh = _tensor_tanh
Tensor.sigmoid = _tensor_sigmoid
