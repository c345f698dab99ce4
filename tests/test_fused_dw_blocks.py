"""The fused epoch's elementwise optimizer updates applied block by block right after
each block of the weight gradient (csrc/train/train_step.cpp dw_update_blocks): the
same bits as the Python loop (whole dW GEMM, then the optimizer's kernel) and at 1 and
2 threads, on layers large enough for the blocks to be split between the threads (row
ranges of WT), with several row blocks, with column chunks (out > 256), and a batch
deeper than the GEMM's K block (two K blocks per element).

No tolerances: every comparison is bitwise (same kernels, same inputs, elementwise)."""
import copy
import logging

import numpy as np
import pytest

import fastmlp
from fastmlp import nn, optim
from fastmlp.train import python_epoch, train_epoch
from helpers import seed_net

# sizes: (in, hidden, out); the first layer has in*hidden >= 2^15 so its update runs
# on both threads: 128 columns, 16 columns (tall blocks), 600 columns (chunks of 256);
# "macs" (scikit-learn's digits shape): in*hidden < 2^15, but its dW GEMM's
# in*hidden*batch multiply-adds reach sgemm's parallel threshold at batch 97 (both
# threads), not at batch 32 (one).
SIZES = {"cols": (300, 128, 5), "rows": (2100, 16, 5), "chunks": (130, 600, 5), "macs": (64, 100, 10)}
OPTS = {
    "adam": (optim.Adam, dict(lr=0.01)),
    "adam_wd_amsgrad_max": (optim.Adam, dict(lr=0.002, weight_decay=1e-2, amsgrad=True,
                                            maximize=True)),
    "adamw_amsgrad": (optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    "rmsprop": (optim.RMSprop, dict(lr=1e-3, momentum=0.5, centered=True, weight_decay=1e-3)),
    "adagrad": (optim.Adagrad, dict(lr=0.02, lr_decay=0.01, initial_accumulator_value=0.1)),
}


def _setup(sizes, seed):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((97, sizes[0])) * 0.2).astype(np.float32)
    y = rng.integers(0, sizes[-1], len(X))
    model = seed_net(sizes=sizes, init=(rng, 0.1))
    return X, y, model


def _assert_same(m1, o1, m2, o2):
    for (n, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        assert np.array_equal(p1.data, p2.data), n
        s1, s2 = o1.state.get(p1, {}), o2.state.get(p2, {})
        assert list(s1) == list(s2), n
        for k in s1:
            if isinstance(s1[k], np.ndarray):
                assert np.array_equal(s1[k], s2[k]), (n, k)
            else:
                assert s1[k] == s2[k], (n, k)


@pytest.mark.parametrize("opt_name", list(OPTS))
@pytest.mark.parametrize("shape", list(SIZES))
def test_blocks_bitwise_python_loop_and_threads(isa, thread_count, shape, opt_name, caplog):
    """Fused at 2 threads == the Python loop == fused at 1 thread, bitwise, over two
    epochs (batch 32, the last batch short; then batch 97 with its one K block or,
    for "cols", a batch of 300 rows: two K blocks)."""
    cls, kw = OPTS[opt_name]
    X, y, m1 = _setup(SIZES[shape], 3)
    if shape == "cols":
        X = np.concatenate([X] * 4)[:300]
        y = np.concatenate([y] * 4)[:300]
    m2, m3 = copy.deepcopy(m1), copy.deepcopy(m1)
    o1, o2, o3 = (cls(m.parameters(), **kw) for m in (m1, m2, m3))
    crit = nn.CrossEntropyLoss()
    for e, b in enumerate((32, len(X))):
        thread_count(2)
        with caplog.at_level(logging.DEBUG, logger="fastmlp"):
            l1 = train_epoch(m1, X, y, crit, o1, batch_size=b, seed=e)
        assert "Python loop" not in caplog.text  # the fused path ran
        perm = np.random.default_rng(e).permutation(len(X))
        l2 = python_epoch(m2, X, y, crit, o2, perm, b, False)
        thread_count(1)
        l3 = train_epoch(m3, X, y, crit, o3, batch_size=b, seed=e)
        assert l1 == l2 == l3
    _assert_same(m1, o1, m2, o2)
    _assert_same(m1, o1, m3, o3)
    assert fastmlp.get_num_threads() == 1
