"""The seed network of the issues, 784-128-10 (Linear, ReLU, Linear), once for every tool.

Two spellings, because they measure different paths:

- ``seed_net("sequential")``: ``nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
  nn.Linear(128, 10))``, the model ``fastmlp.train_epoch`` runs as one fused C++ epoch.
  ``fastmlp train`` builds it too, with its own ``hidden`` widths and no ``Flatten``.
- ``seed_net("script")``: the seed script's ``class Net(nn.Module)`` with ``fc1``, ``fc2``
  and ``forward`` = ``flatten``, ``F.relu(self.fc1(x))``, ``self.fc2``, run op by op
  through autograd (the ``fastmlp-loop`` bench side).

``backend="torch"`` builds the same modules with ``torch.nn`` (``torch.flatten``,
``torch.relu``) for the PyTorch sides. Weights come from the backend's global generator
(``fastmlp.nn.manual_seed``, ``torch.manual_seed``) in the order the layers are created.
"""
from __future__ import annotations

__all__ = ["seed_net", "SEED_IN", "SEED_HIDDEN", "SEED_CLASSES"]

SEED_IN, SEED_HIDDEN, SEED_CLASSES = 784, 128, 10


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
             classes: int = SEED_CLASSES, flatten: bool = True, backend: str = "fastmlp"):
    """The seed network as a new module (see the module docstring).

    ``hidden``: the hidden widths (``"sequential"``: any number, a ReLU after each;
    ``"script"``: exactly one). ``flatten``: whether a ``Flatten`` comes first
    (``"sequential"`` only; the script's forward always flattens).
    """
    nn, flatten_fn, relu = _backend(backend)
    hidden = [int(h) for h in hidden]
    if kind == "sequential":
        widths = [in_features] + hidden + [classes]
        layers = [nn.Flatten()] if flatten else []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)
    if kind != "script":
        raise ValueError(f"kind must be 'sequential' or 'script', got {kind!r}")
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
