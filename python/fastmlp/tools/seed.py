"""The seed network of the issues, 784-128-10 (Linear, ReLU, Linear), once for every tool.

Two spellings, because they measure different paths:

- ``seed_net("sequential")``: ``nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
  nn.Linear(128, 10))``, the model ``fastmlp.train_epoch`` runs as one fused C++ epoch.
  ``fastmlp train`` builds it too, with its own ``hidden`` widths and no ``Flatten``.
- ``seed_net("script")``: the seed script's ``class Net(nn.Module)`` with ``fc1``, ``fc2``
  and ``forward`` = ``flatten``, ``F.relu(self.fc1(x))``, ``self.fc2``, run op by op
  through autograd (the ``fastmlp-loop`` bench side).

``seed_net("sequential", activation="gelu", dropout=0.1)`` swaps the ReLUs for another
activation module (``ACTIVATION_MODULES``: the registry's names, PyTorch's classes) and puts
``nn.Dropout(p)`` after each hidden activation (``fastmlp train --activation/--dropout``, the
bench's train variants).

``backend="torch"`` builds the same modules with ``torch.nn`` (``torch.flatten``,
``torch.relu``) for the PyTorch sides. Weights come from the backend's global generator
(``fastmlp.nn.manual_seed``, ``torch.manual_seed``) in the order the layers are created.
"""
from __future__ import annotations

__all__ = ["seed_net", "seed_optimizer", "activation_module", "fused_fallback_reason",
           "ACTIVATION_MODULES", "OPTIMIZERS", "SEED_IN", "SEED_HIDDEN", "SEED_CLASSES"]

SEED_IN, SEED_HIDDEN, SEED_CLASSES = 784, 128, 10

# fastmlp.functional.ACTIVATIONS name -> (nn class name, constructor keywords); the same
# class names in fastmlp.nn and torch.nn. "gelu_tanh" is GELU(approximate="tanh").
ACTIVATION_MODULES = {
    "identity": ("Identity", {}),
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {}),
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "gelu": ("GELU", {}),
    "gelu_tanh": ("GELU", {"approximate": "tanh"}),
    "silu": ("SiLU", {}),
    "elu": ("ELU", {}),
    "softplus": ("Softplus", {}),
}


def activation_module(name: str, backend: str = "fastmlp"):
    """A new activation module for ``name`` (a key of ``ACTIVATION_MODULES``) from
    ``backend``'s ``nn``. LookupError (with the reason) when this build has no such module;
    ValueError for an unknown name."""
    if name not in ACTIVATION_MODULES:
        raise ValueError(f"activation must be one of {sorted(ACTIVATION_MODULES)}, got {name!r}")
    nn = _backend(backend)[0]
    cls_name, kw = ACTIVATION_MODULES[name]
    cls = getattr(nn, cls_name, None)
    if cls is None:
        raise LookupError(f"{backend}.nn has no {cls_name} in this build")
    return cls(**kw)


def _backend(backend: str):
    """(nn, flatten, relu) of ``backend``."""
    if backend == "fastmlp":
        from fastmlp import functional as F
        from fastmlp import nn

        return nn, F.flatten, F.relu
    if backend == "torch":
        import torch

        return torch.nn, torch.flatten, torch.relu
    raise ValueError(f"backend must be 'fastmlp' or 'torch', got {backend!r}")


def seed_net(kind: str = "sequential", *, hidden=(SEED_HIDDEN,), in_features: int = SEED_IN,
             classes: int = SEED_CLASSES, flatten: bool = True, backend: str = "fastmlp",
             activation: str = "relu", dropout: float = 0.0):
    """The seed network as a new module (see the module docstring).

    ``hidden``: the hidden widths (``"sequential"``: any number, an activation after each;
    ``"script"``: exactly one). ``flatten``: whether a ``Flatten`` comes first
    (``"sequential"`` only; the script's forward always flattens). ``activation`` (a key
    of ``ACTIVATION_MODULES``) and ``dropout`` (``nn.Dropout(p)`` after each hidden
    activation when ``p > 0``): ``"sequential"`` only. LookupError when the backend lacks
    the module asked for.
    """
    nn, flatten_fn, relu = _backend(backend)
    hidden = [int(h) for h in hidden]
    if kind == "sequential":
        widths = [in_features] + hidden + [classes]
        layers = [nn.Flatten()] if flatten else []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(activation_module(activation, backend))
                if dropout:
                    if getattr(nn, "Dropout", None) is None:
                        raise LookupError(f"{backend}.nn has no Dropout in this build")
                    layers.append(nn.Dropout(float(dropout)))
        return nn.Sequential(*layers)
    if kind != "script":
        raise ValueError(f"kind must be 'sequential' or 'script', got {kind!r}")
    if activation != "relu" or dropout:
        raise ValueError("the seed script's Net is Linear, ReLU, Linear: activation and "
                         "dropout are for kind='sequential'")
    if len(hidden) != 1 or not flatten:
        raise ValueError("the seed script's Net has one hidden layer and flattens its input")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(in_features, hidden[0])
            self.fc2 = nn.Linear(hidden[0], classes)

        def forward(self, x):
            x = flatten_fn(x, 1)
            x = relu(self.fc1(x))
            return self.fc2(x)

    return Net()


# optimizer name -> (optim class name, default lr): the seed recipe's SGD lr 0.01, else
# torch.optim's default lr for the class.
OPTIMIZERS = {
    "sgd": ("SGD", 0.01),
    "adam": ("Adam", 1e-3),
    "adamw": ("AdamW", 1e-3),
    "rmsprop": ("RMSprop", 1e-2),
}


def seed_optimizer(name: str, params, *, lr=None, backend: str = "fastmlp", **options):
    """``optim.<Class>(params, lr=lr or the default of OPTIMIZERS, **options)`` from
    ``backend`` (``"fastmlp"`` or ``"torch"``). Options left out keep the class's
    PyTorch defaults. LookupError when this build lacks the class."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    if backend == "fastmlp":
        from fastmlp import optim
    elif backend == "torch":
        import torch.optim as optim
    else:
        raise ValueError(f"backend must be 'fastmlp' or 'torch', got {backend!r}")
    cls_name, default_lr = OPTIMIZERS[name]
    cls = getattr(optim, cls_name, None)
    if cls is None:
        raise LookupError(f"{backend}.optim has no {cls_name} in this build")
    return cls(params, lr=default_lr if lr is None else lr, **options)


def fused_fallback_reason(model, criterion, optimizer, X, y, **train_kw):
    """Why ``fastmlp.train_epoch`` would run this combination as the Python loop (the
    reason it logs at DEBUG on the ``"fastmlp"`` logger), or None when it runs fused.

    Runs one epoch over the first ``batch_size`` samples on deep copies of the model
    and optimizer (the originals are untouched) and reads the log. The layer generator
    (``fastmlp.nn.init.generator``, which Dropout draws its seeds from) is restored after,
    so the training that follows draws what it would have drawn without this check.
    """
    import copy
    import logging

    from fastmlp import train_epoch
    from fastmlp.nn import init

    records = []

    class _Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger("fastmlp")
    handler, old_level = _Capture(logging.DEBUG), log.level
    model_c, opt_c = copy.deepcopy((model, optimizer))
    n = max(1, int(train_kw.get("batch_size", 64)))
    kw = dict(train_kw, shuffle=False)
    kw.pop("seed", None)
    gen = init.generator
    gen_state = gen.bit_generator.state
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        train_epoch(model_c, X[:n], y[:n], criterion, opt_c, **kw)
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
        init.generator = gen
        gen.bit_generator.state = gen_state
    why = [m for m in records if "Python loop" in m]
    return why[0].split("Python loop: ", 1)[-1] if why else None
