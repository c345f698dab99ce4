"""Array predicates and conversions shared by every layer of the package.

The one place that says what a kernel may write into ("a writeable,
C-contiguous float32 ndarray") and how other values become float32 arrays.
Knows nothing of Tensor; :func:`fastmlp.autograd.tensor.as_array` adds that.
"""
from __future__ import annotations

import numpy as np

F32 = np.dtype(np.float32)


def is_f32_buffer(a, shape=None) -> bool:
    """True when ``a`` is a writeable C-contiguous float32 ndarray (of ``shape``, if given):
    what the kernels update in place."""
    return (type(a) is np.ndarray and a.dtype == F32 and a.flags.c_contiguous
            and a.flags.writeable and (shape is None or a.shape == shape))


def is_f32_array(a) -> bool:
    """True when ``a`` is a C-contiguous float32 ndarray (the kernels read it without a copy)."""
    return type(a) is np.ndarray and a.dtype == F32 and a.flags.c_contiguous


def f32_from(a, name=None) -> np.ndarray:
    """A real-valued array-like (not a Tensor) -> C-contiguous float32 ndarray, copying only
    when it is not one already. TypeError for non-numeric dtypes (naming ``name`` when
    given)."""
    if is_f32_array(a):
        return a
    if not isinstance(a, np.ndarray) and hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()  # a torch.Tensor (torch is never imported here)
    a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name + ': ' if name else ''}expected real numbers (array-like of float "
                        f"or int), got dtype {a.dtype}")
    return np.asarray(a, dtype=F32, order="C")


def unbroadcast(g: np.ndarray, shape) -> np.ndarray:
    """Sum a broadcast gradient back down to ``shape``."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd > 0:
        g = g.sum(axis=tuple(range(nd)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return np.asarray(g.reshape(shape), dtype=F32, order="C")
