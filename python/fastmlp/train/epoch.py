"""Whole-epoch training: :func:`train_epoch`.

When the planner (:mod:`.plan`) finds a plan in the model's, criterion's and
optimizer's declarations, the whole epoch runs inside C++ with the GIL
released (``csrc/train/train_step.cpp``): minibatch gather from the
permutation, forward with the fused bias+activation GEMM epilogue, loss and
its gradient, backward, the optimizer's fused update; workspaces are
allocated once, nothing is allocated and no Python runs per step.

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

from .. import _args, _core
from ..data import _normalization, normalize as _normalize
from ..functional.dropout import draw_seeds, seed_generator
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..nn.loss import _Loss
from ..nn.utils import clip_grad_norm_
from ..optim.optimizer import Optimizer
from .plan import Fallback, make_plan, optimizer_spec

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
    """X or y as an ndarray (a Tensor gives its data; torch tensors and lists convert)."""
    if isinstance(a, Tensor):
        a = a.data
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
    return _normalization(*normalize)


# ------------------------------------------------------------- running --


def _fused(plan, X, y, perm, batch_size, drop_last, optimizer, norm=None, clip=None, *,
           weight_sq=False, comm=None, sk_fit=None):
    """Run the plan's fused epoch; returns the mean step loss, and with ``weight_sq``
    (issue 11) also the per-step sums of the weights' squares (see _core.train_epoch).
    ``sk_fit`` (issue 11): scikit-learn's epoch loop, its results in that dict."""
    X2 = X.reshape(len(X), -1) if X.ndim != 2 else X
    if X2.shape[1] != plan.in_features:
        raise ValueError(
            f"X: the first Linear layer takes {plan.in_features} features, X has "
            f"{X2.shape[1]} per sample (shape {X.shape})")
    opt, commit = optimizer_spec(optimizer, plan.params)
    kw = dict(plan.loss)
    loss = kw.pop("loss")
    for key in ("label_smoothing", "delta", "beta"):  # as the loop's kernels convert them
        if key in kw:
            kw[key] = _args.real(kw[key], key)
    if "ignore_index" in kw:
        kw["ignore_index"] = _args.integer(kw["ignore_index"], "ignore_index")
    if "reduction" in kw:
        kw["reduction"] = _args.text(kw["reduction"], "reduction")
    dropouts, undraw = _dropout_seeds(plan.dropouts, len(perm), batch_size, drop_last)
    # a batch_size beyond the epoch's rows is one batch (none with drop_last): min keeps the
    # step count and every batch, and the core's int64 (its workspaces are sized by it)
    batch_size = min(batch_size, len(perm) + 1)
    try:
        loss_sum, steps, *sq = _core.train_epoch(plan.weights, plan.biases, plan.activations,
                                                 X2, y, perm, batch_size, drop_last, opt,
                                                 loss=loss, normalize=norm, dropouts=dropouts,
                                                 clip_grad_norm=clip, weight_sq_sums=weight_sq,
                                                 comm=comm, sk_fit=sk_fit,
                                                 **kw)
    except BaseException as e:
        undraw()
        done = getattr(e, "fastmlp_steps", None)  # interrupted between steps (Ctrl-C)
        if done:
            if dropouts is not None:  # the generator as after the completed steps' draws
                draw_seeds(done * sum(d is not None for d in dropouts))
            _finish_steps(plan, optimizer, commit, done)
        raise
    if comm is not None:
        from .. import distributed
        distributed._add_comm_time(comm["seconds"])
    _finish_steps(plan, optimizer, commit, steps)
    mean = loss_sum / steps if steps else math.nan
    return (mean, sq[0]) if weight_sq else mean


def _finish_steps(plan, optimizer, commit, steps):
    """After ``steps`` fused steps ran: the parameters' versions, the optimizer's counters
    and state as the loop's.

    An epoch a signal handler's exception (KeyboardInterrupt) stopped between steps thus
    leaves the model, the optimizer and the dropout generator exactly as a loop over the
    completed steps' batches would have (that loop interrupted between two steps)."""
    for p in plan.params:
        p._bump_version()
    if not steps:
        return
    commit(steps)
    optimizer.zero_grad()


def _dropout_seeds(ps, n, batch_size, drop_last):
    """The fused epoch's ``dropouts`` for per-layer probabilities ``ps`` (None: no dropout),
    and ``undraw()``, which puts the generator back if the epoch does not run.

    The seeds are the ones the Python loop's dropout calls would draw from
    :data:`fastmlp.nn.init.generator`: one per step per active dropout, step-major and
    in layer order within a step (the order of the forward pass)."""
    active = [l for l, p in enumerate(ps) if p is not None]
    if not active:
        return None, lambda: None
    gen = seed_generator()
    state = gen.bit_generator.state
    n_steps = n // batch_size if drop_last else -(-n // batch_size)
    seeds = draw_seeds(n_steps * len(active)).reshape(n_steps, len(active))
    out = [None] * len(ps)
    for j, l in enumerate(active):
        out[l] = {"p": ps[l], "seeds": np.ascontiguousarray(seeds[:, j])}

    def undraw():
        gen.bit_generator.state = state

    return out, undraw


def python_epoch(model, X, y, criterion, optimizer, perm, batch_size, drop_last=False, *,
                 transform=None, clip_grad_norm=None, comm=None) -> float:
    """The Python training loop over ``perm`` in batches (the reference for the fused path).

    Exactly ``fastmlp.data.DataLoader``'s batches and the PyTorch loop::

        for inputs, labels in batches:      # inputs = transform(X[idx]) when given
            optimizer.zero_grad(); loss = criterion(model(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)  # when given
            optimizer.step(); running_loss += loss.item()

    Returns ``running_loss / n_steps`` (nan when there is no step).

    ``comm`` (an mpi4py communicator of more than one rank): data-parallel, see
    :func:`_distributed_epoch`.
    """
    if comm is not None and comm.Get_size() > 1:
        return _distributed_epoch(model, X, y, criterion, optimizer, perm, batch_size, drop_last,
                                  transform, clip_grad_norm, comm)
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
        if type(loss) is not Tensor or loss.data.size != 1:
            loss = _scalar_loss(loss, criterion)
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        running_loss += loss.item()
    return running_loss / n_steps if n_steps else math.nan


def _distributed_epoch(model, X, y, criterion, optimizer, perm, batch_size, drop_last, transform,
                       clip_grad_norm, comm) -> float:
    """The Python loop, data-parallel (:mod:`fastmlp.distributed`): ``perm`` and
    ``batch_size`` are global; per step this rank runs forward and backward on its slice
    of the batch into one contiguous gradient buffer (the parameters' ``.grad`` are its
    views), scales it and the slice's loss by its share of the global batch's normaliser,
    sums the buffer over the ranks with one in-place Allreduce, then clips (when asked)
    and steps: every rank applies the same update. Returns the mean of the global
    batches' losses."""
    from .. import distributed as dist
    params = [p for p in model.parameters() if p.requires_grad]
    buf = dist.GradBuffer(params)
    rank, world = comm.Get_rank(), comm.Get_size()
    n = len(perm)
    n_steps = n // batch_size if drop_last else -(-n // batch_size)
    running_loss, seconds = 0.0, 0.0
    for s in range(0, n_steps * batch_size, batch_size):
        gidx = perm[s:min(s + batch_size, n)]
        lo, hi = dist.rank_slice(len(gidx), rank, world)
        idx = gidx[lo:hi]
        optimizer.zero_grad()
        buf.attach()
        share = dist.loss_normaliser(criterion, y[idx])
        total = dist.loss_normaliser(criterion, y[gidx])
        if len(idx) and share != 0:
            inputs, labels = np.ascontiguousarray(X[idx]), np.ascontiguousarray(y[idx])
            if transform is not None:
                inputs = transform(inputs)
            loss = criterion(model(inputs), labels)
            loss.backward()
            buf.flat[-1] = loss.item()
            if share != total:
                buf.flat *= np.float32(share / total)
        else:  # no rows (or none kept) here: a zero share; the kernels' 0/0 when none anywhere
            buf.flat[-1] = math.nan if total == 0 else 0.0
        seconds += buf.allreduce(comm)
        if clip_grad_norm is not None:
            clip_grad_norm_(params, clip_grad_norm)
        optimizer.step()
        running_loss += float(buf.flat[-1])
    dist._add_comm_time(seconds)
    return running_loss / n_steps if n_steps else math.nan


def _output_width(model, X, transform=None):
    """Columns of the model's output, from a no-grad forward of one sample (None if it fails)."""
    if len(X) == 0:
        return None
    with no_grad():
        out = model(X[:1] if transform is None else transform(X[:1]))
    out = np.asarray(out.data if isinstance(out, Tensor) else out)
    return out.shape[-1] if out.ndim >= 2 else None


def _order(perm, shuffle, seed, n):
    """The sample order of an epoch: ``perm`` as given (checked), else drawn from ``seed``."""
    if perm is None:
        if isinstance(seed, (str, bytes, bool, float, numbers.Integral)):  # else numpy's own
            _args.integer(seed, "seed", 0, math.inf, what="None or an integer")
        return np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    order = np.asarray(perm)
    if order.ndim != 1 or (order.size and order.dtype.kind not in "iu"):
        raise TypeError(f"perm: expected a 1-D array of sample indices, got "
                        f"{order.ndim}-D {order.dtype}")
    if order.size and order.dtype.kind == "u" and order.max() >= n:  # before int64 wraps it
        raise ValueError(f"perm: index {int(order.max())} out of range for {n} samples")
    order = order.astype(np.int64, copy=False)
    if order.size and (order.min() < 0 or order.max() >= n):
        bad = int(order[(order < 0) | (order >= n)][0])
        raise ValueError(f"perm: index {bad} out of range for {n} samples")
    return order


def _check_roles(criterion, optimizer):
    """TypeError naming ``criterion`` / ``optimizer`` when they cannot be what the loop
    calls (``criterion(outputs, labels)``, ``optimizer.zero_grad()`` / ``.step()``)."""
    if not callable(criterion):
        raise TypeError(f"criterion: expected a loss module or a callable (outputs, labels) -> "
                        f"scalar Tensor, got {type(criterion).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a fastmlp.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")


def _scalar_loss(loss, criterion):
    """The loop's ``loss`` checked to be a scalar Tensor (what ``backward()`` needs)."""
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        what = (f"a Tensor of shape {loss.data.shape}" if isinstance(loss, Tensor)
                else type(loss).__name__)
        raise TypeError(f"criterion: {getattr(criterion, '__name__', type(criterion).__name__)}"
                        f" returned {what}, expected a scalar (1-element) Tensor")
    return loss


def _check_clip(clip_grad_norm):
    """train_epoch's ``clip_grad_norm`` -> None or a float max_norm >= 0."""
    if clip_grad_norm is None:
        return None
    if isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, numbers.Real):
        raise TypeError(f"clip_grad_norm: expected None or a real max_norm, got "
                        f"{clip_grad_norm!r}")
    v = float(clip_grad_norm)
    if not v >= 0:
        raise ValueError(f"clip_grad_norm: expected max_norm >= 0, got {v}")
    return v


def _check_clip_fusable(plan, optimizer):
    """Fallback unless every parameter is the optimizer's: a parameter outside it keeps
    accumulating its gradient across the loop's steps, and clip_grad_norm_ reads it."""
    mine = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if any(id(p) not in mine for p in plan.params):
        raise Fallback("clip_grad_norm with model parameters outside the optimizer (their "
                       "gradients accumulate across steps)")


def train_epoch(model, X, y, criterion, optimizer, *, batch_size=64, shuffle=True, seed=None,
                drop_last=False, perm=None, normalize=None, clip_grad_norm=None,
                comm=None) -> float:
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
    ``Flatten`` / ``Linear`` / any activation of ``fastmlp.functional.ACTIVATIONS``
    (right after a Linear) / ``Dropout`` (right after a Linear or its activation),
    optionally ending with ``LogSoftmax(dim=1 or -1)``, the criterion
    ``CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``, ``L1Loss``, ``HuberLoss``,
    ``SmoothL1Loss`` or ``BCEWithLogitsLoss`` (weight and pos_weight of shape () or
    (C,)) and the optimizer ``optim.SGD``, ``optim.Adam``, ``optim.AdamW``,
    ``optim.RMSprop`` or ``optim.Adagrad`` (any options and param groups; an ``Adam``
    group with ``decoupled_weight_decay=True`` runs the loop), with or without
    ``clip_grad_norm``: then the whole epoch runs
    in C++ with the GIL released, with bitwise the same weights and optimizer
    state. Why the Python loop was used is logged at DEBUG level on the
    ``"fastmlp"`` logger.

    ``X``: (N, features...) real numbers, converted once to float32. ``y``:
    (N,) integer class indices for CrossEntropyLoss and NLLLoss, (N, outputs)
    real numbers for the other losses.
    Raises ValueError (``len(X) != len(y)``, ``batch_size < 1``, a feature
    count the first layer does not take, a label out of range) or TypeError
    before any weight changes. After a fused epoch the parameters' ``.grad``
    are None (the Python loop leaves the last batch's gradients), and the
    optimizer state is the loop's (SGD's ``momentum_buffer``; Adam's ``step``,
    ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``), so a following Python
    ``optimizer.step()`` continues identically.

    ``clip_grad_norm``: None, or a ``max_norm >= 0`` (ValueError otherwise): every
    step runs ``nn.utils.clip_grad_norm_(model.parameters(), max_norm)`` (norm_type 2,
    ``error_if_nonfinite=False``, PyTorch's default: a non-finite total norm is not an
    error, the gradients are scaled by its NaN or 0 coefficient as PyTorch does)
    between ``loss.backward()`` and ``optimizer.step()``. The fused path computes the
    norm with the same kernel (:func:`fastmlp.kernels.total_norm`), so it stays bitwise
    the loop; it runs the loop instead when a model parameter is not in the optimizer.

    ``normalize``: ``(mean, std)`` (each a number or None) or ``True`` (both
    None): ``X`` holds uint8 images (N, pixels...) and every batch is
    ``fastmlp.data.normalize(X[idx], mean, std)``: x / 255, then ``- mean``,
    then ``/ std``, flattened to (n, pixels). The fused path converts the rows
    as it gathers them, so the weights are bitwise those of training on
    ``normalize(X, mean, std)``, while the epoch reads a quarter of the bytes
    and X needs no float32 copy. TypeError when X is not uint8; ValueError
    for ``std <= 0`` or a non-finite mean or std.

    ``Dropout`` layers (right after a Linear or its activation; not in place
    after an activation) run in the fused epoch too: it draws the seeds the
    loop's dropout calls would draw from ``fastmlp.nn.init.generator``, up
    front and in the loop's order (step by step, layers in order), so the
    weights and the generator's state are bitwise the loop's. In eval mode a
    Dropout is an identity (no seed drawn), as in the loop.

    ``comm``: an mpi4py communicator: data-parallel training (:mod:`fastmlp.distributed`).
    Every rank calls this with the same model, data and arguments; ``batch_size`` and the
    permutation are global (with ``shuffle`` and no ``seed``/``perm``, rank 0 draws the
    seed and broadcasts it), each rank computes the gradient of its slice of every
    batch, one in-place Allreduce per step of one contiguous buffer of every gradient
    sums the ranks' shares, and every rank applies the same update: the weights are
    bitwise identical on every rank, and those of one process training on the same
    batches up to the float32 rounding of the batch sums' order. The fused path calls
    the allreduce from its C++ loop (GIL released). Returns the mean of the global
    batches' losses. Dropout masks are drawn per rank over its slice (the same seeds),
    so with dropout the result is not one process's.
    """
    batch_size = _check_batch_size(batch_size)
    _check_roles(criterion, optimizer)
    if comm is not None and comm.Get_size() == 1:
        comm = None
    if comm is not None and perm is None and shuffle and seed is None:
        seed = comm.bcast(np.random.SeedSequence().entropy if comm.Get_rank() == 0 else None)
    clip = _check_clip(clip_grad_norm)
    norm = _normalize_spec(normalize)
    X, y = _prepare(X, y, norm)
    drop_last = bool(drop_last)
    loss = criterion if isinstance(criterion, _Loss) else None
    try:
        plan = make_plan(model, criterion, optimizer, X, flattened=norm is not None)
        if clip is not None:
            _check_clip_fusable(plan, optimizer)
    except Fallback as why:
        reason = str(why)
        plan = None
    if plan is not None:
        y = loss.epoch_targets(y, plan.n_out)
        order = _order(perm, shuffle, seed, len(X))
        fused_comm = None
        if comm is not None:
            from .. import distributed
            try:
                fused_comm = distributed.fused_comm(comm)
            except (NotImplementedError, OSError) as why:
                plan, reason = None, f"distributed: {why}"
        if plan is not None:
            return _fused(plan, X, y, order, batch_size, drop_last, optimizer, norm, clip,
                          comm=fused_comm)
    logger.debug("fastmlp.train_epoch: running the Python loop: %s", reason)
    transform = None
    if norm is not None:
        def transform(images):
            return _normalize(images, *norm)
    if loss is not None:
        y = loss.epoch_targets(y, _output_width(model, X, transform))
    order = _order(perm, shuffle, seed, len(X))
    return python_epoch(model, X, y, criterion, optimizer, order, batch_size, drop_last,
                        transform=transform, clip_grad_norm=clip, comm=comm)
