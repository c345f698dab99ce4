"""Interleaved A/B of scikit-learn's multi-epoch C++ loop (``_core.train_epoch``'s
``sk_fit``, issue 11) between _core builds loaded side by side in one process.

    PYTHONPATH=python python bench/ab_sk_epochs.py [OTHER_CORE.so ...] [--threads 2]
        [--cases digits,diabetes] [--rounds 15] [--max-iter N] [--dump DIR]

Each case's call is captured from one fit of this tree's ``fastmlp.sklearn``
estimator with the bench suite's parameters and ``random_state=0`` (the first
``sk_fit`` call: the whole fit's epochs, as the estimator makes it), then
replayed on every build from copies of the same arguments, the builds
alternating every round (adjacent calls, so load changes cancel in the
ratios). Prints each build's median seconds per call and per epoch, the
median of the per-round time ratios against the first build (this tree), and
whether every build returned the same bits (weights, optimizer state, losses).
``--dump DIR`` writes each case's captured arguments (a pickle) for profiling
one call alone (e.g. under callgrind: ``--replay FILE``).
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import pickle
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def _load(path: str, i: int):
    spec = importlib.util.spec_from_file_location(f"fastmlp_ab{i}._core", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def capture(case: str, max_iter: int | None):
    """The (args, kwargs) of the first sk_fit call of a bench-suite fit of ``case``."""
    from fastmlp import _core
    from fastmlp.tools.bench import SKLEARN_CASES, load_sklearn_data
    from fastmlp.tools.bench import sklearn_suite
    ours = dict(zip(("classifier", "regressor"), sklearn_suite.fastmlp_estimators()[0]))
    (kind, params), = [(k, p) for n, k, p, _ in SKLEARN_CASES if n == case]
    Xtr, ytr, _, _, _ = load_sklearn_data(case)
    orig, cap = _core.train_epoch, []

    def wrap(*a, **k):
        if k.get("sk_fit") is not None and not cap:
            cap.append(copy.deepcopy((a, k)))
        return orig(*a, **k)
    _core.train_epoch = wrap
    try:
        kw = dict(params, random_state=0)
        if max_iter:
            kw["max_iter"] = max_iter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours[kind](**kw).fit(Xtr, ytr)
    finally:
        _core.train_epoch = orig
    return cap[0]


def replay(core, call):
    """One replay on a copy of the captured arguments: (seconds, outputs to compare)."""
    a, k = copy.deepcopy(call)
    t = time.perf_counter()
    core.train_epoch(*a, **k)
    t = time.perf_counter() - t
    state = [v for q in a[8]["params"] for v in q.values() if isinstance(v, np.ndarray)]
    return t, [*a[0], *a[1], *state, k["sk_fit"]["losses"]], k["sk_fit"]["epochs"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cores", nargs="*", help="other _core .so builds to compare against this tree's")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", default="digits,diabetes")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--max-iter", type=int, default=None)
    ap.add_argument("--dump", default=None)
    ap.add_argument("--replay", default=None, help="run one pickled call on this tree's core and exit")
    a = ap.parse_args(argv)
    from fastmlp import _core
    if a.replay:
        _core.set_num_threads(a.threads)
        t, _, ep = replay(_core, pickle.load(open(a.replay, "rb")))
        print(f"{ep} epochs, {t:.4f} s")
        return
    cores = [("this", _core)] + [(Path(p).parent.parent.parent.name or p, _load(p, i))
                                 for i, p in enumerate(a.cores)]
    for _, c in cores:
        c.set_num_threads(a.threads)
    for case in a.cases.split(","):
        call = capture(case, a.max_iter)
        if a.dump:
            Path(a.dump).mkdir(parents=True, exist_ok=True)
            pickle.dump(call, open(Path(a.dump) / f"sk_{case}.pkl", "wb"))
        for _, c in cores:  # warm
            replay(c, call)
        times = {n: [] for n, _ in cores}
        ratios = {n: [] for n, _ in cores}
        outs, same = {}, True
        for r in range(a.rounds):
            order = cores if r % 2 == 0 else cores[::-1]
            rt = {}
            for n, c in order:
                t, o, ep = replay(c, call)
                rt[n] = t
                times[n].append(t)
                if n not in outs:
                    outs[n] = o
            for n in rt:
                ratios[n].append(rt[n] / rt["this"])
        ref = outs["this"]
        for n, o in outs.items():
            if len(o) != len(ref) or any(x.tobytes() != y.tobytes() for x, y in zip(o, ref)):
                same = False
                print(f"{case}: {n} differs from this tree's bits")
        for n, _ in cores:
            med = statistics.median(times[n])
            print(f"{case:>9} {a.threads}t {n:>14}: {med * 1e3:8.2f} ms/call {med / ep * 1e3:7.3f} ms/epoch "
                  f"({ep} epochs)  time/this {statistics.median(ratios[n]):.3f}")
        print(f"{case:>9} bits identical across builds: {same}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
