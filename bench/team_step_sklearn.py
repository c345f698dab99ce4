"""The fused step at 2 threads as one parallel region (the team step) against one region
per kernel and against one thread, on scikit-learn estimators' fits, interleaved in one
process.

    PYTHONPATH=python python bench/team_step_sklearn.py [--rounds 7] [--threads 2]

Cases (random data, fixed seeds): an MLPRegressor 6000x100 -> 128 -> 4 (MSE), 20 epochs;
an MLPClassifier on 1797x64 -> 100 with a binary target (one logistic output,
BCEWithLogits) and with 10 classes (softmax, cross-entropy), 30 epochs each; every other
parameter scikit-learn's default. Modes through ``_core._step_threads``: ``team`` (every
step at the caller's count, team step allowed), ``per-kernel`` (the caller's count, team
step off), ``1t`` (one thread). Prints each mode's median fit time and first quartile.
"""
import argparse
import time
import warnings

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import fastmlp
    import fastmlp.sklearn

    fastmlp.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    cases = {
        "regressor 6000x100-128-4": (fastmlp.sklearn.MLPRegressor,
                                     rng.standard_normal((6000, 100)).astype(np.float32),
                                     rng.standard_normal((6000, 4)),
                                     dict(hidden_layer_sizes=(128,), max_iter=20)),
        "binary 1797x64-100-1": (fastmlp.sklearn.MLPClassifier,
                                 rng.standard_normal((1797, 64)).astype(np.float32),
                                 rng.integers(0, 2, 1797), dict(max_iter=30)),
        "10 classes 1797x64-100-10": (fastmlp.sklearn.MLPClassifier,
                                      rng.standard_normal((1797, 64)).astype(np.float32),
                                      rng.integers(0, 10, 1797), dict(max_iter=30)),
    }
    modes = {"team": (1, True), "per-kernel": (1, False), "1t": (2, True)}
    print(f"# {args.threads} threads, {args.rounds} rounds, modes interleaved")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, (est, X, y, kw) in cases.items():
                ts = {k: [] for k in modes}
                for _ in range(args.rounds):
                    for mname, mode in modes.items():
                        fastmlp._core._step_threads(*mode)
                        t0 = time.perf_counter()
                        est(random_state=0, **kw).fit(X, y)
                        ts[mname].append(time.perf_counter() - t0)
                print(f"{name:28s} " + "  ".join(
                    f"{k} {1e3 * np.median(v):7.1f} ms (q1 {1e3 * np.percentile(v, 25):7.1f})"
                    for k, v in ts.items()), flush=True)
    finally:
        fastmlp._core._step_threads(0)


if __name__ == "__main__":
    main()
