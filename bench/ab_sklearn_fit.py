"""Interleaved A/B of fastmlp.sklearn's fit: the many-epochs-per-call loop (skfit,
``_mlp._PER_EPOCH = False``) against the per-epoch Python loop (``True``, the path
before it) and scikit-learn's own estimator, alternating in one process (robust to
other load on the machine: every ratio is of medians of interleaved rounds).

    PYTHONPATH=python python bench/ab_sklearn_fit.py [--threads 1] [--rounds 7] [--quick]

Datasets and parameters: ``fastmlp bench sklearn``'s (SKLEARN_CASES); every round the
same seed on every side. Prints seconds per fit and per epoch, and the ratios.
"""
import argparse
import statistics
import time
import warnings

from fastmlp.sklearn import _mlp
from fastmlp.tools.bench import SKLEARN_CASES, load_sklearn_data
from fastmlp.tools.bench import sklearn_suite


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="the suite's --quick data and iterations")
    ap.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn's side")
    ap.add_argument("--cases", default=",".join(c[0] for c in SKLEARN_CASES))
    a = ap.parse_args()
    from threadpoolctl import threadpool_limits
    ours = dict(zip(("classifier", "regressor"), sklearn_suite.fastmlp_estimators()[0]))
    theirs = dict(zip(("classifier", "regressor"), sklearn_suite.sklearn_estimators()))
    warnings.simplefilter("ignore")
    for name, kind, params, _ in SKLEARN_CASES:
        if name not in a.cases.split(","):
            continue
        Xtr, ytr, _, _, _ = load_sklearn_data(name, quick=a.quick)
        if a.quick:
            params = dict(params, **sklearn_suite._QUICK_PARAMS[name])
        sides = {"loop": (ours[kind], False), "per_epoch": (ours[kind], True)}
        if not a.no_sklearn:
            sides["sklearn"] = (theirs[kind], None)
        times = {s: [] for s in sides}
        iters = {}
        for r in range(a.rounds):
            for side, (cls, per) in sides.items():
                kw = dict(params, random_state=r)
                if per is not None:
                    _mlp._PER_EPOCH = per
                    kw["n_threads"] = a.threads
                est = cls(**kw)
                with threadpool_limits(a.threads):
                    t = time.perf_counter()
                    est.fit(Xtr, ytr)
                    times[side].append(time.perf_counter() - t)
                iters.setdefault(side, []).append(est.n_iter_)
        _mlp._PER_EPOCH = False
        med = {s: statistics.median(v) for s, v in times.items()}
        for s in sides:
            ep = med[s] / statistics.median(iters[s])
            print(f"{name:>14} {a.threads}t {s:>10}: {med[s]:8.4f} s/fit {ep * 1e3:8.3f} ms/epoch"
                  + (f"  sklearn/this {med['sklearn'] / med[s]:6.2f}" if "sklearn" in med else ""))
        print(f"{name:>14} {a.threads}t per_epoch/loop {med['per_epoch'] / med['loop']:.3f}")


if __name__ == "__main__":
    main()
