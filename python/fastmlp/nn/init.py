"""The generator that initialises new layers, and :func:`manual_seed` (``torch.manual_seed``).

Layers read :data:`generator` through this module when they draw, so a
reseed is seen by every layer created afterwards.
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator"]

generator = np.random.default_rng()


def manual_seed(seed) -> np.random.Generator:
    """Seed the generator that initialises new layers (as ``torch.manual_seed``).

    Any integer (negative ones are taken modulo 2**64). Returns the generator.
    """
    global generator
    generator = np.random.default_rng(int(seed) % 2**64)
    return generator
