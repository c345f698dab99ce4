"""The fused epoch's ReLU backward with the bias gradient in one pass (train_step.cpp
relu_backward_bias_grad) against the Python loop, which calls relu_backward and then
bias_grad: bitwise, so no tolerance.

Hidden widths cover the pass's parts: 20 (fewer columns than its 32-column register block:
the tail loop only), 64 (whole blocks only) and 300 (blocks and a tail of 12). Batch 256 with
width 300 (76,800 elements) reaches the column split over threads, as bias_grad splits; the
test runs at 1 and 2 threads on every ISA path. ReLU outputs that are exactly 0 (the select's
edge) occur at every step: about half the pre-activations are negative.
"""
import copy
import logging
import math

import numpy as np
import pytest

from fastmlp import nn, optim
from fastmlp.train import python_epoch, train_epoch
from helpers import seed_net


@pytest.mark.parametrize("hidden,batch", [(20, 32), (64, 50), (300, 256)])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_relu_bias_grad_pass_bitwise_equals_python_loop(rng, isa, threads, hidden, batch, opt, caplog):
    n = 2 * batch + 7  # two full batches and a short one
    X = (rng.standard_normal((n, 40)) * 0.5).astype(np.float32)
    y = rng.integers(0, 7, n)
    m1 = seed_net(sizes=(40, hidden, hidden // 2 + 1, 7), flatten=False,
                  init=(rng, 0.3))
    m2 = copy.deepcopy(m1)

    def make(m):
        if opt == "sgd":
            return optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        return optim.Adam(m.parameters(), lr=0.01)

    o1, o2 = make(m1), make(m2)
    crit = nn.CrossEntropyLoss()
    with caplog.at_level(logging.DEBUG, logger="fastmlp"):
        l1 = train_epoch(m1, X, y, crit, o1, batch_size=batch, seed=3)
    assert "Python loop" not in caplog.text  # the fused path ran
    perm = np.random.default_rng(3).permutation(n)
    l2 = python_epoch(m2, X, y, crit, o2, perm, batch, False)
    assert l1 == l2 and math.isfinite(l1)
    for (name, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert np.array_equal(p1.data, p2.data), name
