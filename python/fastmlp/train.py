"""Whole-epoch training: :func:`train_epoch`.

For an ``nn.Sequential`` of ``Flatten`` / ``Linear`` / ``ReLU`` trained with
``CrossEntropyLoss`` or ``MSELoss`` and ``optim.SGD``, the whole epoch runs
inside C++ with the GIL released (``csrc/train/train_step.cpp``): minibatch gather
from the permutation, forward with the fused bias+ReLU GEMM epilogue, loss and
its gradient, backward, SGD update; workspaces are allocated once, nothing is
allocated and no Python runs per step.

Anything else runs the equivalent Python loop (:func:`python_epoch`), the
PyTorch-style ``zero_grad / model(x) / criterion / backward / step`` loop over
the same batches in the same order. Both paths call the same kernels on the
same shapes, and every kernel's inputs are the same, so they give bitwise
identical weights (``tests/test_train_epoch.py``).
"""
from __future__ import annotations

import logging
import math
import numbers

import numpy as np

from . import _core

__all__ = ["train_epoch", "python_epoch"]

logger = logging.getLogger("fastmlp")


# ----------------------------------------------------------------- input --


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def _as_numpy(a, name):
    if hasattr(a, "data") and isinstance(getattr(a, "data"), np.ndarray) and hasattr(a, "grad"):
        a = a.data  # a fastmlp Tensor
    elif not isinstance(a, np.ndarray) and hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()  # a torch tensor
    a = np.asarray(a)
    if a.ndim < 1:
        raise ValueError(f"{name} must have a leading sample dimension, got a scalar")
    return a


def _prepare(X, y, norm=None):
    """X -> float32 C-contiguous (converted once), or, with ``norm``, uint8 C-contiguous
    images; y -> ndarray; same lengths."""
    X = _as_numpy(X, "X")
    y = _as_numpy(y, "y")
    if norm is not None and X.dtype != np.uint8:
        raise TypeError(f"X: with normalize, expected uint8 images, got dtype {X.dtype}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X: expected real numbers, got dtype {X.dtype}")
    if len(X) != len(y):
        raise ValueError(f"len(X) != len(y): X has {len(X)} samples, y has {len(y)}")
    dtype = np.uint8 if norm is not None else np.float32
    if X.dtype != dtype or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=dtype)
    return X, y


def _normalize_spec(normalize):
    """train_epoch's ``normalize`` -> None or (mean or None, std or None), checked."""
    if normalize is None or normalize is False:
        return None
    if normalize is True:
        return (None, None)
    if not isinstance(normalize, (tuple, list)) or len(normalize) != 2:
        raise TypeError(f"normalize: expected None, True or a (mean, std) pair, got {normalize!r}")
    spec = []
    for name, v in zip(("mean", "std"), normalize):
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"normalize: {name} must be a real number or None, got {v!r}")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"normalize: {name} must be finite, got {v}")
        spec.append(v)
    if spec[1] is not None and not spec[1] > 0:
        raise ValueError(f"normalize: std must be > 0, got {spec[1]}")
    return tuple(spec)


def _loss_kind(criterion):
    """'cross_entropy' / 'mse' / None (another criterion) from the criterion's class."""
    from . import nn

    ce, mse = getattr(nn, "CrossEntropyLoss", None), getattr(nn, "MSELoss", None)
    if ce is not None and isinstance(criterion, ce):
        return "cross_entropy"
    if mse is not None and isinstance(criterion, mse):
        return "mse"
    return None


def _class_weight(criterion):
    w = getattr(criterion, "weight", None)
    if w is None:
        return None
    return np.ascontiguousarray(_as_numpy(w, "weight"), dtype=np.float32)


def _check_targets(kind, criterion, y, n_classes):
    """Up-front target checks (before any weight changes); returns y ready for the kernels."""
    reduction = getattr(criterion, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise ValueError(
            f"train_epoch needs a scalar loss: criterion reduction must be 'mean' or 'sum', "
            f"got {reduction!r}")
    if kind == "cross_entropy":
        if y.dtype.kind not in "iu":
            raise TypeError(f"y: expected integer class indices, got dtype {y.dtype}")
        if y.ndim != 1:
            raise ValueError(f"y: expected class indices of shape (N,), got shape {y.shape}")
        if n_classes is not None and len(y):
            ignore = int(getattr(criterion, "ignore_index", -100))
            yi = y.astype(np.int64, copy=False) if y.dtype != np.uint64 else y
            bad = ((yi < 0) | (yi >= n_classes)) & (yi != ignore)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"y: label {y[i]} at index {i} is out of range [0, {n_classes}) for "
                    f"{n_classes} output classes (and is not ignore_index={ignore})")
        return np.ascontiguousarray(y, dtype=np.int64)
    if kind == "mse":
        if y.dtype.kind not in "fiub":
            raise TypeError(f"y: expected real-valued MSE targets, got dtype {y.dtype}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if n_classes is not None and (y.ndim != 2 or y.shape[1] != n_classes):
            raise ValueError(
                f"y: expected MSE targets of shape ({len(y)}, {n_classes}) (the model's output "
                f"shape), got {y.shape}")
        return y
    return y


# ------------------------------------------------------------ the plan --


class _Fallback(Exception):
    """The fused path cannot run this; the message says why."""


def _plan(model, criterion, optimizer, X, flattened=False):
    """What the fused core needs, or raise _Fallback(reason). ``flattened``: the batches
    reach the model as (n, features) whatever X's shape (normalize= flattens them)."""
    from . import nn, optim

    kind = _loss_kind(criterion)
    if kind is None:
        raise _Fallback(f"criterion {type(criterion).__name__} is not CrossEntropyLoss or MSELoss")
    if type(optimizer) is not getattr(optim, "SGD", None):
        raise _Fallback(f"optimizer {type(optimizer).__name__} is not optim.SGD")
    Seq = getattr(nn, "Sequential", None)
    if Seq is None or not isinstance(model, Seq) or type(model).forward is not Seq.forward:
        raise _Fallback(f"model {type(model).__name__} is not an nn.Sequential")
    if type(criterion) not in (getattr(nn, "CrossEntropyLoss", None), getattr(nn, "MSELoss", None)):
        raise _Fallback(f"criterion {type(criterion).__name__} is a subclass of {kind!r}'s loss")

    linears, relu = [], []
    seen_linear = False
    flatten_first = False
    prev = None
    for m in model.children():
        t = type(m)
        if t is nn.Linear:
            linears.append(m)
            relu.append(False)
            seen_linear = True
        elif t is nn.ReLU:
            if prev is not nn.Linear:
                raise _Fallback("a ReLU that does not directly follow a Linear")
            relu[-1] = True
        elif t is nn.Flatten:
            if (getattr(m, "start_dim", 1), getattr(m, "end_dim", -1)) != (1, -1):
                raise _Fallback("Flatten with start_dim/end_dim other than (1, -1)")
            if not seen_linear:
                flatten_first = True
        else:
            raise _Fallback(f"module {t.__name__} (only Linear, ReLU and Flatten are fused)")
        prev = t
    if not linears:
        raise _Fallback("the model has no Linear layer")

    weights, biases = [], []
    params = []  # Parameter objects in the core's order W0, b0, W1, ...
    for lin in linears:
        w, b = lin.weight, lin.bias
        for p in (w, b):
            if p is None:
                continue
            d = p.data
            if not (isinstance(d, np.ndarray) and d.dtype == np.float32 and d.flags.c_contiguous
                    and d.flags.writeable):
                raise _Fallback("a parameter is not a writeable C-contiguous float32 array")
            if not getattr(p, "requires_grad", True):
                raise _Fallback("a parameter has requires_grad=False")
            params.append(p)
        weights.append(w.data)
        biases.append(None if b is None else b.data)
    if len({id(p) for p in params}) != len(params) or \
            len({id(p.data) for p in params}) != len(params):
        raise _Fallback("a parameter is shared between layers")

    in_features = weights[0].shape[1]
    if X.ndim < 2:
        raise _Fallback(f"X is {X.ndim}-D (expected (N, features...))")
    if X.ndim != 2 and not flatten_first and not flattened:
        raise _Fallback(f"X is {X.ndim}-D and the model does not start with Flatten")

    # optimizer options per parameter
    group_of = {}
    for g in optimizer.param_groups:
        for p in g["params"]:
            group_of[id(p)] = g
    sgd = []
    for p in params:
        g = group_of.get(id(p))
        if g is None:
            sgd.append(dict(lr=0.0, update=False))
            continue
        opts = dict(lr=float(g["lr"]), momentum=float(g.get("momentum", 0.0)),
                    dampening=float(g.get("dampening", 0.0)),
                    weight_decay=float(g.get("weight_decay", 0.0)),
                    nesterov=bool(g.get("nesterov", False)), maximize=bool(g.get("maximize", False)))
        sgd.append(opts)
    return dict(kind=kind, weights=weights, biases=biases, relu=relu, params=params, sgd=sgd,
                in_features=in_features, n_classes=weights[-1].shape[0])


# ------------------------------------------------------------- running --


def _momentum_state(optimizer, p):
    """(buffer ndarray or None) currently in optimizer.state[p]."""
    st = optimizer.state.get(p) if hasattr(optimizer.state, "get") else None
    if not st:
        return None
    buf = st.get("momentum_buffer")
    if buf is None:
        return None
    return buf


def _fused(plan, X, y, perm, batch_size, drop_last, criterion, optimizer, norm=None):
    X2 = X.reshape(len(X), -1) if X.ndim != 2 else X
    if X2.shape[1] != plan["in_features"]:
        raise ValueError(
            f"X: the first Linear layer takes {plan['in_features']} features, X has "
            f"{X2.shape[1]} per sample (shape {X.shape})")
    entries, new_bufs = [], []
    for p, opts in zip(plan["params"], plan["sgd"]):
        e = dict(opts)
        if opts.get("update", True) and opts["momentum"] != 0.0:
            buf = _momentum_state(optimizer, p)
            if buf is None:
                buf = np.empty_like(p.data)
                new_bufs.append((p, buf))
                e["first_step"] = True
            else:
                arr = buf.data if not isinstance(buf, np.ndarray) else buf
                if not (isinstance(arr, np.ndarray) and arr.dtype == np.float32
                        and arr.flags.c_contiguous and arr.shape == p.data.shape):
                    raise _Fallback("a momentum buffer is not a float32 array of its parameter's shape")
                buf = arr
                e["first_step"] = False
            e["momentum_buffer"] = buf
        entries.append(e)
    kw = dict(loss=plan["kind"], reduction=getattr(criterion, "reduction", "mean"), normalize=norm)
    if plan["kind"] == "cross_entropy":
        kw.update(class_weight=_class_weight(criterion),
                  ignore_index=int(getattr(criterion, "ignore_index", -100)),
                  label_smoothing=float(getattr(criterion, "label_smoothing", 0.0)))
    activations = ["relu" if r else None for r in plan["relu"]]
    loss_sum, steps = _core.train_epoch(plan["weights"], plan["biases"], activations, X2, y, perm,
                                        batch_size, drop_last, dict(kind="sgd", params=entries),
                                        **kw)
    if steps:
        for p, buf in new_bufs:
            optimizer.state[p]["momentum_buffer"] = buf
        optimizer.zero_grad()
    return loss_sum / steps if steps else math.nan


def python_epoch(model, X, y, criterion, optimizer, perm, batch_size, drop_last=False, *,
                 transform=None) -> float:
    """The Python training loop over ``perm`` in batches (the reference for the fused path).

    Exactly ``fastmlp.data.DataLoader``'s batches and the PyTorch loop::

        for inputs, labels in batches:      # inputs = transform(X[idx]) when given
            optimizer.zero_grad(); loss = criterion(model(inputs), labels)
            loss.backward(); optimizer.step(); running_loss += loss.item()

    Returns ``running_loss / n_steps`` (nan when there is no step).
    """
    n = len(perm)
    n_steps = n // batch_size if drop_last else -(-n // batch_size)
    running_loss = 0.0
    for s in range(0, n_steps * batch_size, batch_size):
        idx = perm[s:min(s + batch_size, n)]
        inputs, labels = np.ascontiguousarray(X[idx]), np.ascontiguousarray(y[idx])
        if transform is not None:
            inputs = transform(inputs)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return running_loss / n_steps if n_steps else math.nan


def _output_width(model, X, transform=None):
    """Columns of the model's output, from a no-grad forward of one sample (None if it fails)."""
    from .tensor import no_grad

    if len(X) == 0:
        return None
    with no_grad():
        out = model(X[:1] if transform is None else transform(X[:1]))
    out = np.asarray(out.data if hasattr(out, "data") and hasattr(out, "grad") else out)
    return out.shape[-1] if out.ndim >= 2 else None


def _order(perm, shuffle, seed, n):
    """The sample order of an epoch: ``perm`` as given (checked), else drawn from ``seed``."""
    if perm is None:
        return np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    order = np.asarray(perm)
    if order.ndim != 1 or (order.size and order.dtype.kind not in "iu"):
        raise TypeError(f"perm: expected a 1-D array of sample indices, got "
                        f"{order.ndim}-D {order.dtype}")
    order = order.astype(np.int64, copy=False)
    if order.size and (order.min() < 0 or order.max() >= n):
        bad = int(order[(order < 0) | (order >= n)][0])
        raise ValueError(f"perm: index {bad} out of range for {n} samples")
    return order


def train_epoch(model, X, y, criterion, optimizer, *, batch_size=64, shuffle=True, seed=None,
                drop_last=False, perm=None, normalize=None) -> float:
    """Train ``model`` for one epoch over ``(X, y)``; returns the mean of the step losses.

    Same result as the loop (given the same permutation)::

        perm = np.random.default_rng(seed).permutation(len(X)) if shuffle else arange
        for each batch idx = perm[s : s + batch_size] (the last one short unless drop_last):
            optimizer.zero_grad(); loss = criterion(model(X[idx]), y[idx])
            loss.backward(); optimizer.step()
        return sum of loss.item() / number of steps

    ``perm``: the order to visit samples in (any length, repeats allowed),
    instead of drawing one from ``shuffle``/``seed``; consecutive slices of one
    permutation passed as ``perm`` train exactly like one call over it.

    The loop above is what runs unless the model is an ``nn.Sequential`` of
    ``Flatten`` / ``Linear`` / ``ReLU`` (ReLU right after a Linear), the
    criterion ``CrossEntropyLoss`` or ``MSELoss`` and the optimizer
    ``optim.SGD`` (any options and param groups): then the whole epoch runs
    in C++ with the GIL released, with bitwise the same weights and optimizer
    state. Why the Python loop was used is logged at DEBUG level on the
    ``"fastmlp"`` logger.

    ``X``: (N, features...) real numbers, converted once to float32. ``y``:
    (N,) integer class indices for cross-entropy, (N, outputs) for MSE.
    Raises ValueError (``len(X) != len(y)``, ``batch_size < 1``, a feature
    count the first layer does not take, a label out of range) or TypeError
    before any weight changes. After a fused epoch the parameters' ``.grad``
    are None (the Python loop leaves the last batch's gradients), and the
    momentum buffers are in ``optimizer.state[p]["momentum_buffer"]``, so a
    following Python ``optimizer.step()`` continues identically.

    ``normalize``: ``(mean, std)`` (each a number or None) or ``True`` (both
    None): ``X`` holds uint8 images (N, pixels...) and every batch is
    ``fastmlp.data.normalize(X[idx], mean, std)``: x / 255, then ``- mean``,
    then ``/ std``, flattened to (n, pixels). The fused path converts the rows
    as it gathers them, so the weights are bitwise those of training on
    ``normalize(X, mean, std)``, while the epoch reads a quarter of the bytes
    and X needs no float32 copy. TypeError when X is not uint8; ValueError
    for ``std <= 0`` or a non-finite mean or std.
    """
    batch_size = _check_batch_size(batch_size)
    norm = _normalize_spec(normalize)
    X, y = _prepare(X, y, norm)
    drop_last = bool(drop_last)
    kind = _loss_kind(criterion)
    try:
        plan = _plan(model, criterion, optimizer, X, flattened=norm is not None)
    except _Fallback as why:
        reason = str(why)
        plan = None
    if plan is not None:
        y = _check_targets(kind, criterion, y, plan["n_classes"])
        order = _order(perm, shuffle, seed, len(X))
        try:
            return _fused(plan, X, y, order, batch_size, drop_last, criterion, optimizer, norm)
        except _Fallback as why:
            reason = str(why)
    logger.debug("fastmlp.train_epoch: running the Python loop: %s", reason)
    transform = None
    if norm is not None:
        from .data import normalize as _normalize

        def transform(images):
            return _normalize(images, *norm)
    if kind is not None:
        y = _check_targets(kind, criterion, y, _output_width(model, X, transform))
    order = _order(perm, shuffle, seed, len(X))
    return python_epoch(model, X, y, criterion, optimizer, order, batch_size, drop_last,
                        transform=transform)
