"""One-call inference: a model's whole forward in one C++ call (issue 12).

A model the fused planner can read (an ``nn.Sequential`` of ``Flatten`` first,
``Linear`` layers, each optionally followed by an activation with a GEMM epilogue and
by a ``Dropout``, optionally ending with ``Softmax`` / ``LogSoftmax`` over the
outputs; :func:`fastmlp.train.plan.inference_layers`) runs its forward as ONE call of
the compiled core (``kernels.infer_forward``, GIL released): each layer is the
matrix-vector kernel (``kernels.gemv_forward``) for a few rows or the packed GEMM with
its bias + activation epilogue, hidden activations live in reused scratch, the head
runs in place, and no Tensor or tape is made per layer.

``nn.Sequential.forward`` takes this path by itself whenever no gradient would be
recorded (inside ``fastmlp.no_grad()``, or when neither the input nor any parameter
requires grad) and no dropout would draw (eval mode or ``p == 0``); otherwise, or for
an input the path does not take (see :func:`_rows`), it runs layer by layer as before.
:func:`predict` is the same forward on NumPy arrays (PyTorch has no equivalent: its
nearest is ``model.eval()`` then ``model(x)`` under ``torch.inference_mode()``).

Results: a batch of more than ``_core.gemv_max_rows()`` rows gives the bits of the
layer-by-layer forward (the same sgemm, epilogue and softmax kernels); a batch of at
most that many runs the matrix-vector kernel, whose summation order is not the GEMM's,
so its results may differ from the layer-by-layer forward (and from the same rows in
a larger batch) in the last bits. Within the matrix-vector regime a row's bits never
depend on the other rows (gemv_forward's contract; sgemm's does not promise it for
the larger batches), and in both they never depend on the thread count. A
C-contiguous float64 input is rounded to float32 a block of rows at a time as the first
layer reads it (``kernels.h`` infer_forward_f64; no float32 copy of the whole input): up
to ``_core.gemv_max_rows()`` rows the bits of the float32 input, beyond that each
block's sgemm (which may differ from one sgemm over all rows in the last bits).

A plan is cached on the model and rebuilt when any module attribute changes
(children, options, ``training``: ``nn.module._MUTATIONS``) or a parameter or its
array is replaced; in-place updates of the weights are seen as they are.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .autograd.grad_mode import _grad_mode
from .autograd.tensor import Tensor
from .nn import module as _module
from .train.plan import Fallback, inference_layers

__all__ = ["predict"]

_HEADS = {"softmax": "softmax", "log_softmax": "log_softmax"}
_MUTATIONS = _module._MUTATIONS  # the one counter list (read as _MUTATIONS[0])


class _Plan:
    """A model's one-call forward, or ``why`` it has none."""

    __slots__ = ("why", "mutations", "core", "flatten_first", "head_dim", "dropout_active",
                 "n_in", "n_out", "pairs", "fast")

    def __init__(self, model):
        self.mutations = _MUTATIONS[0]
        self.why = None
        self.fast = False  # sequential_forward may run it on (N, n_in) rows as they are
        self.pairs = ()
        if "forward" in model.__dict__:  # Module.__call__ would run the instance's own
            self.why = "the model has its own forward attribute"
            return
        try:
            layers, self.flatten_first, head, self.dropout_active = inference_layers(model)
        except Fallback as e:
            self.why = str(e)
            return
        params = [(lin.weight, lin.bias) for lin, _ in layers]
        arrays = [(w.data, None if b is None else b.data) for w, b in params]
        # Each parameter with its array, as (Tensor, ndarray) pairs: _plan()'s currency check (the
        # parameters themselves are module attributes: replacing one moves _MUTATIONS)
        # and sequential_forward's requires_grad check.
        self.pairs = tuple((t, t.data) for wb in params for t in wb if t is not None)
        for w, b in arrays:
            for a in (w, b):
                if a is not None and not (isinstance(a, np.ndarray) and a.dtype == np.float32
                                          and a.flags.c_contiguous):
                    self.why = "a parameter is not a C-contiguous float32 array"
                    return
        self.head_dim = None if head is None else head[1]
        try:
            self.core = _core.infer_plan([w for w, _ in arrays], [b for _, b in arrays],
                                         [act for _, act in layers],
                                         None if head is None else _HEADS[head[0]])
        except (TypeError, ValueError) as e:  # e.g. consecutive layers' sizes disagree
            self.why = str(e)
            return
        if head is not None and self.head_dim is None:
            self.why = "the Softmax/LogSoftmax has dim=None (PyTorch's implicit dim, with its warning)"
        self.n_in = self.core.in_features
        self.n_out = self.core.out_features
        self.fast = self.why is None and not self.dropout_active and \
            self.head_dim in (None, 1, -1)

    def rows(self, x):
        """``x`` as the (N, in_features) rows the core takes and the output's shape (None:
        the rows' own), or None when this path does not take it (the layer-by-layer
        forward then runs, and raises its own errors): 2-D input; 1-D input (one sample)
        without a Flatten; higher-D input behind a first Flatten; a head over the last
        dimension."""
        nd, hd = x.ndim, self.head_dim
        if nd == 1:
            if self.flatten_first or x.shape[0] != self.n_in or hd not in (None, 0, -1):
                return None
            return x.reshape(1, -1), (self.n_out,)
        if hd not in (None, 1, -1):
            return None
        if nd == 2:
            return (x, None) if x.shape[1] == self.n_in else None
        if nd > 2 and self.flatten_first:
            x2 = x.reshape(x.shape[0], -1)
            return (x2, None) if x2.shape[1] == self.n_in else None
        return None


    def __reduce__(self):  # copy.deepcopy / pickle of a model: the copy plans afresh
        return (_stale_plan, ())


def _stale_plan():
    p = _Plan.__new__(_Plan)
    p.mutations = -1
    p.pairs = ()
    return p


_KEY = "_infer_plan"


def _plan(model) -> _Plan:
    """The model's cached plan (in its ``__dict__`` under ``_KEY``, written past
    ``Module.__setattr__`` so that caching is not itself a mutation), rebuilt when stale:
    when a module attribute moved (``_MUTATIONS``) or a parameter's array was replaced
    (in-place updates of the arrays are read as they are)."""
    d = model.__dict__
    p = d.get(_KEY)
    if p is None or p.mutations != _MUTATIONS[0]:
        p = d[_KEY] = _Plan(model)
    else:
        for t, a in p.pairs:
            if t.data is not a:
                p = d[_KEY] = _Plan(model)
                break
    return p


def sequential_forward(model, input):
    """``model(input)`` as the one-call forward (a Tensor), or None when it does not apply
    (a gradient would be recorded, a dropout would draw, the model or the input is not one
    the path takes). Called by ``nn.Sequential.__call__`` and ``forward``; the common case
    (a Tensor or a float ndarray of (N, in_features) rows, a current plan) is a handful of
    checks, :func:`_plan` and one core call."""
    p = _plan(model)
    if p.why is not None or p.dropout_active:
        return None
    grad = _grad_mode.enabled
    if isinstance(input, Tensor):
        if grad and input.requires_grad:
            return None
        x = input.data
    elif isinstance(input, np.ndarray):
        x = input
    else:
        return None
    if grad:
        for t, _ in p.pairs:
            if t.requires_grad:
                return None
    if p.fast and x.ndim == 2 and x.shape[1] == p.n_in and x.dtype.kind == "f":
        y = _core.infer_run(p.core, x)
    else:
        if x.dtype.kind != "f":
            return None
        r = p.rows(x)
        if r is None:
            return None
        y = _core.infer_run(p.core, r[0])
        if r[1] is not None:
            y = y.reshape(r[1])
    out = _new_tensor(Tensor)  # a Tensor without a node, built in place (no helper frame)
    out.data = y
    out.grad = None
    out.requires_grad = False
    out._backward = None
    out._parents = ()
    out._saved = ()
    out._op = None
    out._version = 0
    return out


_new_tensor = Tensor.__new__


def predict(model, X, out=None) -> np.ndarray:
    """The model's inference forward on a NumPy batch, in one call: a float32 ndarray.

    ``model``: a module the one-call forward takes (see the module docstring); ValueError
    with the planner's reason otherwise. ``X``: (N, in_features) (or (N, ...) behind a
    first ``Flatten``; a 1-D sample gives a 1-D result), any real dtype (converted to
    float32). ``out``: None, or a writeable C-contiguous float32 (N, out_features) array
    to write into (not sharing memory with X or the parameters); returned.

    Differs from ``model(X)``: dropout is skipped whatever ``model.training`` says (this
    is inference), no graph is recorded whatever the grad mode, and the result is an
    ndarray, not a Tensor. Same bits as ``model.eval()(X)`` under ``no_grad``.
    """
    plan = _plan(model)
    if plan.why is not None:
        raise ValueError(f"predict: {type(model).__name__} has no one-call forward: {plan.why}")
    x = X.data if isinstance(X, Tensor) else np.asarray(X)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"X: expected a real numeric array, got dtype {x.dtype}")
    r = plan.rows(x)
    if r is None:
        want = "(N, ...) flattened to" if plan.flatten_first else "(N,"
        raise ValueError(f"X: expected shape {want} {plan.n_in} features), got {x.shape}")
    if r[1] is not None:  # one sample: (n_out,) out of a (1, n_out) row
        if isinstance(out, np.ndarray) and out.shape == r[1]:
            _core.infer_run(plan.core, r[0], out.reshape(1, -1))
            return out
        return _core.infer_run(plan.core, r[0], out).reshape(r[1])
    return _core.infer_run(plan.core, r[0], out)
