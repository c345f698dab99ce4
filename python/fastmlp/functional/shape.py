"""Shape ops: ``flatten`` (``torch.flatten``): a view, no copy."""
from __future__ import annotations

from ..autograd.tensor import Tensor, as_array

__all__ = ["flatten"]


def _wrap_dim(d, ndim, name):
    n = max(ndim, 1)
    d = int(d)
    if not -n <= d < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            f" for {name}")
    return d + n if d < 0 else d


def flatten(input, start_dim=0, end_dim=-1):
    """``torch.flatten``: merge dims ``start_dim..end_dim`` into one (a view, no copy).

    A 0-d input gives shape (1,). Returns a Tensor (the input itself when
    nothing changes).
    """
    if isinstance(input, Tensor):
        t = input
        d = input.data
    else:
        t = None
        d = as_array(input)
    shape = d.shape
    nd = d.ndim
    if nd == 2 and start_dim in (1, -1) and end_dim in (1, -1):  # the usual flatten(x, 1)
        return t if t is not None else Tensor(d)
    s = _wrap_dim(start_dim, nd, "start_dim")
    e = _wrap_dim(end_dim, nd, "end_dim")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if nd == 0:
        new_shape = (1,)
    else:
        n = 1
        for k in shape[s:e + 1]:
            n *= k
        new_shape = shape[:s] + (n,) + shape[e + 1:]
    if new_shape == shape:
        return t if t is not None else Tensor(d)
    out = d.reshape(new_shape)
    if t is None:
        return Tensor(out)
    return Tensor._result(out, (t,), lambda g, keep: (g.reshape(shape),), "Flatten")


