"""A/B of the scikit-learn digits fit (issue 11's 10x target): this tree against another build.

    PYTHONPATH=python python bench/ab_digits_fit.py OLD_PACKAGE_DIR [--rounds 9] [--threads 1]
        [--sklearn] [--clock thread]

``fastmlp.sklearn.MLPClassifier()`` with its defaults (hidden 100, adam, batch 200,
up to 200 epochs) on ``load_digits`` with a 75% training split (1347 x 64, 10
classes), as ``fastmlp bench sklearn``'s digits case; ``OLD_PACKAGE_DIR`` is
another build's ``python/fastmlp``, imported as ``fastmlp_old`` (bench/ab_train.py).
The sides alternate in rotated order every round with the same seed; prints the
median seconds per fit of each side, the new/old ratio of the medians and the
quartiles of the per-round ratios (the noise), and whether both builds' fitted
coefficients are bitwise equal. ``--sklearn`` adds scikit-learn's own estimator
(same parameters) and the speedups against it. ``--clock thread`` times with
the calling thread's CPU time (with ``--threads 1``: robust to a busy host).
"""
import argparse
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from ab_train import import_old


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the other build's python/fastmlp directory")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--sklearn", action="store_true", help="also time scikit-learn's MLPClassifier")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall")
    args = ap.parse_args(argv)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    old, tmp = import_old(args.old)
    try:
        import fastmlp
        import fastmlp.sklearn
        import fastmlp_old.sklearn
        from fastmlp.tools.machine import cpu_model

        X, y = load_digits(return_X_y=True)
        Xtr, _, ytr, _ = train_test_split(X, y, random_state=0)
        clock = time.thread_time if args.clock == "thread" else time.perf_counter
        cfg = fastmlp._core.gemm_config()
        print(f"# {cpu_model()} (family {cfg['family']} model {cfg['model']}), class "
              f"{cfg['cpu_class']}, isa {cfg['isa']}, {args.threads} threads, {args.clock} clock; "
              f"old {args.old}")

        def fitter(mod, **kw):
            def fit():
                m = mod.MLPClassifier(random_state=0, max_iter=args.max_iter, **kw)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m.fit(Xtr, ytr)
                return m
            return fit

        sides = {"new": fitter(fastmlp.sklearn, n_threads=args.threads),
                 "old": fitter(fastmlp_old.sklearn, n_threads=args.threads)}
        if args.sklearn:
            import sklearn.neural_network
            from threadpoolctl import threadpool_limits
            sk = fitter(sklearn.neural_network)

            def sk_fit():
                with threadpool_limits(args.threads):
                    return sk()
            sides["sklearn"] = sk_fit
        models = {n: f() for n, f in sides.items()}  # warm up
        same = all(np.array_equal(a, b) for a, b in zip(models["new"].coefs_, models["old"].coefs_))
        names = list(sides)
        times = {n: [] for n in names}
        for r in range(args.rounds):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                t0 = clock()
                sides[n]()
                times[n].append(clock() - t0)
        med = {n: float(np.median(v)) for n, v in times.items()}
        for n in names:
            v = np.asarray(times[n])
            print(f"{n:8s} median {med[n] * 1e3:8.2f} ms  (min {v.min() * 1e3:.2f}, max {v.max() * 1e3:.2f})"
                  f"  epochs {models[n].n_iter_}")
        pair = np.asarray(times["new"]) / np.asarray(times["old"])
        q1, q3 = np.percentile(pair, [25, 75])
        print(f"new/old time {med['new'] / med['old']:.3f} (per-round q1-q3 {q1:.3f}-{q3:.3f}); "
              f"coefs bitwise {'same' if same else 'DIFFER'}")
        if args.sklearn:
            print(f"speedup vs scikit-learn: new {med['sklearn'] / med['new']:.2f}x, "
                  f"old {med['sklearn'] / med['old']:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
