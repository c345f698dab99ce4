"""Per-step time of the scikit-learn digits fit at a forced step thread count.

    PYTHONPATH=python python bench/step_threads_digits.py [--rounds 7] [--threads 2]

Fits ``fastmlp.sklearn.MLPClassifier()`` (defaults: hidden 100, adam, batch 200)
on ``load_digits`` (75% split, as bench/ab_digits_fit.py) with the training
steps' thread choice forced to the caller's count, to one thread, and left to
the ThreadChooser (``_core._step_threads`` 1, 2, 0), with and without the
one-region team step, alternating every round.
Prints per mode the median wall seconds per fit, and the chooser's own
per-step averages (microseconds per full 200-row step) from
``_core._step_thread_stats`` with the fastest single step of each option (a busy host's best
estimate of a quiet one) and the timed step counts.
"""
import argparse
import time
import warnings

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-iter", type=int, default=200)
    args = ap.parse_args(argv)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    import fastmlp
    import fastmlp.sklearn

    X, y = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(X, y, random_state=0)
    Xtr = np.ascontiguousarray(Xtr, dtype=np.float32)
    modes = {"caller": (1, True), "caller-noteam": (1, False), "one": (2, True), "chooser": (0, True),
             "chooser-noteam": (0, False)}
    times = {k: [] for k in modes}
    steps = {k: [] for k in modes}
    fastmlp.set_num_threads(args.threads)
    try:
        for r in range(args.rounds):
            for name, mode in modes.items():
                fastmlp._core._step_threads(*mode)
                m = fastmlp.sklearn.MLPClassifier(random_state=0, max_iter=args.max_iter,
                                                  n_threads=args.threads)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    m.fit(Xtr, ytr)
                    times[name].append(time.perf_counter() - t0)
                st = fastmlp._core._step_thread_stats()
                steps[name].append(st)
    finally:
        fastmlp._core._step_threads(0)
    print(f"# digits fit, {args.threads} threads, {args.rounds} rounds, n_iter {m.n_iter_}")
    for name in modes:
        us = [tuple(200e6 * a for a in st["sec_per_row"]) for st in steps[name]]
        med = np.median(np.array(us), axis=0)
        mins = np.min(np.array([tuple(200e6 * a if a else np.inf for a in st["min_sec_per_row"])
                                for st in steps[name]]), axis=0)
        print(f"{name:14s} fit {np.median(times[name]):.4f} s (min {min(times[name]):.4f})  "
              f"step us (median of EMA; fastest): caller {med[0]:.1f}; {mins[0]:.1f} "
              f"one {med[1]:.1f}; {mins[1]:.1f}  timed {steps[name][-1]['timed_steps']}")


if __name__ == "__main__":
    main()
