"""The backward engine: runs recorded backward steps from an output back to the leaves.

A graph node is a non-leaf Tensor: ``_backward(g, keep)`` (its step),
``_parents`` (the Tensors that step returns gradients for, in order) and
``_saved`` (``(tensor, version)`` pairs: the Tensors whose data the step
reads, with their version counters when the step was recorded).

Contract for a step: it receives the gradient ``g`` of its output, which it
owns (it may overwrite it), and returns one gradient per parent (or
``None``): freshly owned arrays, never the same array twice. ``keep`` is true
when the graph is retained for another backward, so saved buffers must not
be handed out or overwritten.

A step may also offer ``fuse_activation(act, saved) -> bool``: asked by an
in-place activation on the step's output to take the activation into itself
(the Linear step does, so ``relu(fc(x), inplace=True)`` is one fused step);
``saved`` is what the activation's backward reads (the activated output, or a
copy of the pre-activation for the activations whose backward reads their
input). False leaves the step as it is.

Before a step runs, every saved Tensor's version must still be the recorded
one: an in-place write in between (``relu(h, inplace=True)``, an optimizer
step, ``load_state_dict``) raises RuntimeError instead of giving a wrong
gradient, as PyTorch's saved-variable check does.
"""
from __future__ import annotations

import numpy as np

from .._arrays import F32, is_f32_buffer

__all__ = ["run_backward", "accumulate"]


def accumulate(t, g: np.ndarray) -> None:
    """Add an owned gradient ``g`` into leaf ``t.grad`` (taking ``g`` if there is none)."""
    cur = t.grad
    shape = t.data.shape
    if cur is None:
        if not is_f32_buffer(g, shape):
            g = np.array(np.broadcast_to(g, shape), dtype=F32, order="C")
        t.grad = g
    elif is_f32_buffer(cur, shape):
        cur += g
    else:
        t.grad = np.asarray(np.asarray(cur, dtype=F32) + g, dtype=F32, order="C")


def freed(g, keep):
    raise RuntimeError(
        "Trying to backward through the graph a second time (or directly access saved "
        "tensors after they have already been freed). Specify retain_graph=True if you "
        "need to backward through the graph a second time."
    )


def _check_saved(node) -> None:
    for t, version in node._saved:
        if t._version != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: a tensor of shape {tuple(t.data.shape)} saved by "
                f"{node._op or 'an op'} is at version {t._version}; expected version "
                f"{version} instead.")


def _free(node) -> None:
    """Drop a node's step and references once it has run (retain_graph=False)."""
    node._backward = freed
    node._parents = ()
    node._saved = ()


def _step(node, g, keep):
    """Run one node's backward step (checking its saved tensors first); free it unless kept."""
    if node._saved:
        _check_saved(node)
    fn = node._backward
    if not keep:
        _free(node)
    return fn(g, keep)


def run_backward(root, g: np.ndarray, keep: bool) -> None:
    """Backpropagate ``g`` (root's complete, owned gradient) from non-leaf ``root``."""
    # Fast path for a chain (every node has one parent, as in an MLP): no sort needed,
    # since nothing on a chain can be reached another way. Branches go to _run_graph.
    node = root
    while True:
        parents = node._parents
        if len(parents) > 1:
            _run_graph(node, g, keep)
            return
        # _step and _check_saved inlined: this loop runs once per layer per training step
        for t, version in node._saved:
            if t._version != version:
                _check_saved(node)  # raises, naming the tensor
        fn = node._backward
        if not keep:
            _free(node)
        pgrads = fn(g, keep)
        if not parents:
            return
        p = parents[0]
        g = pgrads[0]
        if g is None:
            return
        if p._backward is None:
            if p.requires_grad:
                accumulate(p, g)
            return
        node = p


def _run_graph(root, g, keep):
    """General backward from ``root`` (whose gradient ``g`` is complete) in topological order."""
    order = _topo(root)
    grads = {id(root): g}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        parents = node._parents
        if g is None:  # no path from the output to this node carried a gradient
            if not keep:
                _free(node)
            continue
        pgrads = _step(node, g, keep)
        for p, pg in zip(parents, pgrads):
            if pg is None:
                continue
            if p._backward is None:
                if p.requires_grad:
                    accumulate(p, pg)
            else:
                prev = grads.get(id(p))
                grads[id(p)] = pg if prev is None else prev + pg


def _topo(root):
    """Nodes reachable from ``root`` through non-leaf parents, in post-order."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for p in node._parents:
            if p._backward is not None and id(p) not in visited:
                stack.append((p, False))
    return order
