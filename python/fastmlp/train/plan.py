"""The fused-epoch planner: what ``_core.train_epoch`` needs, read from the declarations.

A plan exists when the model's :meth:`~fastmlp.nn.Module.fused_role` is
``"sequence"`` and its children's roles are ``"flatten"`` (before the first
linear layer), ``"linear"`` and ``"activation"`` (right after a linear layer,
with a GEMM epilogue), optionally ending with ``"log_softmax"`` over the outputs (the
loss then reads its output); the criterion's role is ``"loss"``; and the optimizer
declares a ``fused_kernel``. Otherwise :class:`Fallback` says why, and the
Python loop runs. Nothing here branches on a class: every decision is a
declaration's.

A ``"dropout"`` role may follow a linear layer or its activation: the plan's
``dropouts`` gives its ``p`` per layer while the module is training (see
:func:`_dropouts`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .._arrays import is_f32_buffer
from ..functional.activation import activation_of_role
from ..nn.module import Module

__all__ = ["Fallback", "Plan", "make_plan", "inference_layers"]


class Fallback(Exception):
    """The fused path cannot run this; the message says why."""


@dataclass
class Plan:
    weights: list          # (out_l, in_l) float32 arrays, updated in place
    biases: list           # (out_l,) arrays or None
    activations: list      # per layer: None | name | {"name": ..., **params} (the epilogue's spec)
    params: list           # Parameter objects in the core's order W0, b0, W1, ...
    loss: dict             # the criterion's declared spec (see nn.loss), with
                           # log_softmax=True when the model ends with LogSoftmax
    in_features: int
    n_out: int
    dropouts: list = field(default_factory=list)  # per layer: the dropout's p after it, or None


def _layers(model, heads=("log_softmax",)):
    """[(linear module, its activation's epilogue spec or None)], whether a flatten comes
    first and whether a LogSoftmax over the outputs comes last. ``heads``: the roles
    accepted as the last module over the outputs (:func:`inference_layers` adds
    ``"softmax"``); ``log_softmax`` is then true for any of them."""
    if not isinstance(model, Module) or model.fused_role().kind != "sequence":
        raise Fallback(f"model {type(model).__name__} is not an nn.Sequential")
    layers = []
    flatten_first = False
    log_softmax = False
    prev = None
    for m in model.children():
        r = m.fused_role()
        if log_softmax:
            raise Fallback(f"a {type(m).__name__} after the LogSoftmax (it must be the last "
                           f"module)")
        if r.kind in heads:  # losses (issue 10): the last module, over the outputs
            if not layers or r.spec.get("dim") not in (None, 1, -1):
                raise Fallback(f"a {type(m).__name__}(dim={r.spec.get('dim')}) that is not over "
                               f"the outputs of the last Linear (dim 1 or -1)")
            log_softmax = True
        elif r.kind == "linear":
            layers.append([m, None])
        elif r.kind == "activation":
            act = activation_of_role(r)
            if prev != "linear" or act is None or act.epilogue is None:
                raise Fallback(f"a {type(m).__name__} that does not directly follow a Linear")
            layers[-1][1] = act.epilogue
        elif r.kind == "flatten":
            if not layers:
                flatten_first = True
        elif r.kind == "dropout":  # applied to the output of the layer before (see _dropouts)
            if prev not in ("linear", "activation"):
                raise Fallback(f"a {type(m).__name__} that does not directly follow a Linear "
                               "or an activation")
            if prev == "activation" and r.spec.get("inplace") and m.training and r.p:
                raise Fallback(f"an in-place {type(m).__name__} after an activation overwrites "
                               "the output the activation's backward reads (the Python loop "
                               "raises, as PyTorch does)")
        else:
            raise Fallback(r.why or f"module {type(m).__name__} has role {r.kind!r}")
        prev = r.kind
    if not layers:
        raise Fallback("the model has no Linear layer")
    return layers, flatten_first, log_softmax


def _dropouts(model, n_layers):
    """Per Linear layer: the ``p`` of the dropout after it (directly or after its
    activation, as :func:`_layers` checked) while that module is training, else None
    (eval mode and ``p == 0`` are identities that draw no seed, in the Python loop too)."""
    out = [None] * n_layers
    layer = -1
    for m in model.children():
        r = m.fused_role()
        if r.kind == "linear":
            layer += 1
        elif r.kind == "dropout" and m.training and r.p:
            out[layer] = r.p
    return out


def make_plan(model, criterion, optimizer, X, flattened=False) -> Plan:
    """The plan, or raise :class:`Fallback`. ``flattened``: the batches reach the model as
    (n, features) whatever X's shape (``normalize=`` flattens them)."""
    loss_role = criterion.fused_role() if isinstance(criterion, Module) else None
    if loss_role is None or loss_role.kind != "loss":
        raise Fallback(f"criterion {type(criterion).__name__} has no fused loss kernel")
    why = None if optimizer is None else optimizer.fused_unavailable()  # None: loss_and_grad
    if why is not None:
        raise Fallback(why)
    layers, flatten_first, log_softmax = _layers(model)

    weights, biases, activations, params = [], [], [], []
    for lin, act in layers:
        w, b = lin.weight, lin.bias
        for p in (w, b):
            if p is None:
                continue
            if not is_f32_buffer(p.data):
                raise Fallback("a parameter is not a writeable C-contiguous float32 array")
            if not p.requires_grad:
                raise Fallback("a parameter has requires_grad=False")
            params.append(p)
        weights.append(w.data)
        biases.append(None if b is None else b.data)
        activations.append(act)
    if len({id(p) for p in params}) != len(params) or \
            len({id(p.data) for p in params}) != len(params):
        raise Fallback("a parameter is shared between layers")

    if X.ndim < 2:
        raise Fallback(f"X is {X.ndim}-D (expected (N, features...))")
    if X.ndim != 2 and not flatten_first and not flattened:
        raise Fallback(f"X is {X.ndim}-D and the model does not start with Flatten")
    loss_spec = dict(loss_role.spec, log_softmax=True) if log_softmax else loss_role.spec
    return Plan(weights, biases, activations, params, loss_spec,
                in_features=weights[0].shape[1], n_out=weights[-1].shape[0],
                dropouts=_dropouts(model, len(layers)))


def optimizer_spec(optimizer, params):
    """The optimizer's per-parameter updates for the fused kernel, in the core's order, and
    ``commit(steps)``: after an epoch that ran ``steps`` steps, it stores into
    ``optimizer.state`` the state arrays ``fused_param`` created (those not already
    ``state[p]``'s, named in ``state_names``) and advances each updated parameter's
    ``step_state`` counter by ``steps``, so the state is the Python loop's."""
    group_of = {}
    for g in optimizer.param_groups:
        for p in g["params"]:
            group_of[id(p)] = g
    for g in optimizer.param_groups:
        optimizer.check_group(g)
    entries, created, counted = [], [], []
    counter = optimizer.step_state
    for p in params:
        g = group_of.get(id(p))
        if g is None:
            entries.append(dict(lr=0.0, update=False))
            continue
        e = optimizer.fused_param(p, g)
        st = optimizer.state.get(p) or {}
        for name in optimizer.state_names:
            if name in e and st.get(name) is not e[name]:
                created.append((p, name, e[name]))
        if counter is not None:
            counted.append((p, float(e[counter])))
        entries.append(e)

    def commit(steps):
        for p, start in counted:  # first, as a fresh state[p] begins with its count
            optimizer.state[p][counter] = start + steps
        for p, name, arr in created:
            optimizer.state[p][name] = arr

    return {"kind": optimizer.fused_kernel, "params": entries}, commit


# ---------------------------------------------------- inference (issue 12) --


def inference_layers(model):
    """What the one-call forward (:mod:`fastmlp.infer`) needs, read from the same
    declarations as the fused epoch, or raise :class:`Fallback`: ``(layers, flatten_first,
    head, dropout_active)`` with ``layers`` as :func:`_layers`' (linear module, epilogue
    spec), ``head`` None or ``(role kind, dim)`` of a last Softmax/LogSoftmax, and
    ``dropout_active`` whether a dropout would draw (its module training, ``p > 0``)."""
    layers, flatten_first, has_head = _layers(model, heads=("log_softmax", "softmax"))
    head = None
    if has_head:
        r = list(model.children())[-1].fused_role()
        head = (r.kind, r.spec.get("dim"))
    dropout_active = any(d is not None for d in _dropouts(model, len(layers)))
    return layers, flatten_first, head, dropout_active

