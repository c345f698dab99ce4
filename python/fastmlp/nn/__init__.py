"""Neural-network modules with PyTorch's names, shapes and state-dict keys.

One module per family, as ``torch/nn/modules/``: :mod:`.module` (``Module``,
``Parameter``, the declarations every layer makes), :mod:`.linear`,
:mod:`.activation`, :mod:`.flatten` (``Flatten``, ``Identity``),
:mod:`.container` (``Sequential``, ``ModuleList``), :mod:`.loss`, :mod:`.softmax`,
:mod:`.init` (the initialisation generator, :func:`manual_seed`, and
``torch.nn.init``'s initialisers: ``nn.init.xavier_uniform_``...) and
:mod:`.utils` (``nn.utils.clip_grad_norm_``, ``parameters_to_vector``...).
"""
from . import init, utils
from .activation import ReLU
from .activation import ELU, GELU, LeakyReLU, SiLU, Sigmoid, Softplus, Tanh  # activations (issue 10)
from .container import ModuleList, Sequential
from .dropout import Dropout
from .flatten import Flatten, Identity
from .init import manual_seed
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, SmoothL1Loss
# softmax modules, NLLLoss (issue 10)
from .loss import NLLLoss
from .softmax import LogSoftmax, Softmax
from .module import FusedRole, Module, Parameter

__all__ = [
    "Module",
    "Parameter",
    "Linear",
    "ReLU",
    "Flatten",
    "Sequential",
    "ModuleList",
    "Identity",
    "CrossEntropyLoss",
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "SmoothL1Loss",
    "BCEWithLogitsLoss",
    "manual_seed",
    "FusedRole",
    "Dropout",
    # softmax modules, NLLLoss (issue 10)
    "Softmax",
    "LogSoftmax",
    "NLLLoss",
]
# activations (issue 10)
__all__ += ["LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "Softplus"]
