"""The team step (csrc/train/train_step.cpp): a training step at >= 2 threads run as
one parallel region (rows phase, one barrier, weights phase) where the overlapped head
is not taken; a loss other than cross-entropy runs on one thread between two more
barriers. Its results must be bitwise the 1-thread step's and the Python loop's:
every kernel runs on a block of rows or columns of the batch, and a GEMM element's FMA
chain, a cross-entropy chunk and an elementwise update do not depend on the block around
them (a row split that would move a GEMM onto or off sgemm's dot path, whose choice
depends on M, keeps the per-kernel step). These tests force every step onto the caller's count and the team step wherever it
applies (``_core._step_threads(1, 2)``, also on shapes too small for it to pay) so that
the team step, not the ThreadChooser, decides what runs, and check that it ran
(``_step_thread_stats()['team_steps']``). Exact equality: no tolerance to derive."""
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, nn, optim
from fastmlp.train import python_epoch, train_epoch

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": None}
OPTS = {
    "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),  # folded into the dW GEMM
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.005),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.05),
}


@pytest.fixture
def forced():
    _core._step_threads(1, 2)  # the caller's count, and the team step even where it would not pay
    yield
    _core._step_threads(0)


def model(rng, sizes, act):
    mods = []
    for i in range(len(sizes) - 1):
        mods.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 and ACTS[act] is not None:
            mods.append(ACTS[act]())
    m = nn.Sequential(*mods)
    for p in m.parameters():
        p.data[...] = rng.uniform(-0.3, 0.3, p.data.shape).astype(np.float32)
    return m


def run(rng_seed, threads, sizes, act, opt, crit, n, batch, epochs=2, fused=True, target="class"):
    """target: "class" (indices), "logsm" (indices; the model ends with LogSoftmax),
    "value" (normal floats (n, C)) or "binary" (0/1 floats (n, C))."""
    rng = np.random.default_rng(rng_seed)
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    if target in ("class", "logsm"):
        y = rng.integers(0, sizes[-1], n)
    elif target == "value":
        y = rng.standard_normal((n, sizes[-1])).astype(np.float32)
    else:
        y = (rng.random((n, sizes[-1])) < 0.3).astype(np.float32)
    m = model(rng, sizes, act)
    if target == "logsm":
        m = nn.Sequential(*m, nn.LogSoftmax(dim=1))
    o = OPTS[opt](m.parameters())
    fastmlp.set_num_threads(threads)
    losses = []
    for e in range(epochs):
        perm = np.random.default_rng(e).permutation(n)
        if fused:
            losses.append(train_epoch(m, X, y, crit(), o, batch_size=batch, perm=perm))
        else:
            losses.append(python_epoch(m, X, y, crit(), o, perm, batch))
    return losses, [p.data.copy() for p in m.parameters()]


CASES = [  # sizes, act, opt, criterion, n, batch[, target]
    ((64, 100, 10), "relu", "adam", nn.CrossEntropyLoss, 1347, 200),
    # losses other than cross-entropy: one batch_loss call on thread 0 between barriers
    ((10, 100, 1), "relu", "adam", nn.MSELoss, 331, 200, "value"),
    ((20, 30, 5), "tanh", "sgd-momentum", nn.BCEWithLogitsLoss, 257, 64, "binary"),
    ((9, 16, 3), "sigmoid", "rmsprop", lambda: nn.L1Loss(reduction="sum"), 70, 17, "value"),
    ((12, 40, 4), "relu", "adagrad", lambda: nn.HuberLoss(delta=0.5), 150, 32, "value"),
    ((30, 50, 6), "relu", "adamw", nn.NLLLoss, 199, 40, "logsm"),
    ((30, 50, 6), "relu", "adam", nn.CrossEntropyLoss, 199, 40, "logsm"),
    ((37, 53, 7), "tanh", "sgd", lambda: nn.CrossEntropyLoss(label_smoothing=0.1), 301, 31),
    ((20, 33, 17, 5), "sigmoid", "rmsprop", nn.CrossEntropyLoss, 257, 64),
    ((9, 16, 3), "identity", "adagrad", lambda: nn.CrossEntropyLoss(reduction="sum"), 70, 17),
    ((64, 100, 10), "relu", "adamw",
     lambda: nn.CrossEntropyLoss(weight=fastmlp.tensor(np.linspace(0.5, 2, 10, dtype=np.float32)),
                                 ignore_index=3), 500, 128),
    ((5, 7, 2), "relu", "adam", nn.CrossEntropyLoss, 13, 1),
    # sgemm's dot path (narrow N, deep K; chosen by M): the output layer takes it for the
    # whole batch and for each thread's rows (batch 128), or only for the whole batch
    # (batch 32 on AVX-512: such steps keep the per-kernel step; the short last one of 1
    # row is a team step)
    ((64, 256, 5), "relu", "adam", nn.CrossEntropyLoss, 300, 128),
    ((130, 600, 5), "relu", "adam", nn.CrossEntropyLoss, 97, 32),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_team_step_bitwise_1_vs_2_threads_and_python_loop(forced, thread_count, isa, case):
    sizes, act, opt, crit, n, batch, *target = CASES[case]
    kw = dict(target=target[0]) if target else {}
    before = _core._step_thread_stats()["team_steps"]
    two = run(case, 2, sizes, act, opt, crit, n, batch, **kw)
    assert _core._step_thread_stats()["team_steps"] > before  # the team step ran
    one = run(case, 1, sizes, act, opt, crit, n, batch, **kw)
    loop = run(case, 1, sizes, act, opt, crit, n, batch, fused=False, **kw)
    for other in (one, loop):
        assert two[0] == other[0]
        for a, b in zip(two[1], other[1]):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "sgd-momentum"])
def test_team_step_sklearn_fit_bitwise(forced, thread_count, solver, kind):
    """The scikit-learn loop's steps (with an L2 term: the weights' squared sums are taken
    inside the team step) at 2 threads equal the 1-thread fit's bits, for softmax
    outputs (cross-entropy by chunks), a logistic output (BCEWithLogits) and a regressor
    (MSE: one batch_loss call between barriers); sgd without momentum or alpha folds its
    update into the dW GEMM, with them it updates block by block."""
    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    rng = np.random.default_rng(7)
    X = rng.standard_normal((523, 64)).astype(np.float32)
    y = {"multiclass": rng.integers(0, 10, 523), "binary": rng.integers(0, 2, 523),
         "regressor": rng.standard_normal(523)}[kind]
    kw = dict(solver=solver.split("-")[0], momentum=0.9 if solver == "sgd-momentum" else 0.0,
              max_iter=5, random_state=0, alpha=0.0 if solver == "sgd" else 1e-3)
    est = MLPRegressor if kind == "regressor" else MLPClassifier
    fits = []
    for t in (1, 2):
        before = _core._step_thread_stats()["team_steps"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = est(n_threads=t, **kw).fit(X, y)
        ran = _core._step_thread_stats()["team_steps"] > before
        assert ran == (t == 2)
        fits.append((list(m.loss_curve_), [c.copy() for c in m.coefs_ + m.intercepts_]))
    assert fits[0][0] == fits[1][0]
    for a, b in zip(fits[0][1], fits[1][1]):
        assert np.array_equal(a, b)


def test_step_threads_hook_validates():
    with pytest.raises(ValueError, match="mode"):
        _core._step_threads(3)
    with pytest.raises(ValueError, match="team"):
        _core._step_threads(0, 3)


def test_team_step_only_where_it_pays(thread_count):
    """By default the team step is taken only when some layer's GEMM is large enough for
    sgemm to split it (kParallelMinFlops multiply-adds): below that the per-kernel step
    runs on one thread without any parallel region. 64 rows of 10-20-3 (12.8k
    multiply-adds at most): no team step; 200 rows of 64-100-10 (1.28M): team steps."""
    _core._step_threads(1)  # the caller's count, team step where it pays
    try:
        thread_count(2)
        for sizes, n, batch, ran in (((10, 20, 3), 640, 64, False), ((64, 100, 10), 1000, 200, True)):
            before = _core._step_thread_stats()["team_steps"]
            run(0, 2, sizes, "relu", "adam", nn.CrossEntropyLoss, n, batch)
            assert (_core._step_thread_stats()["team_steps"] > before) == ran
    finally:
        _core._step_threads(0)
