"""The thread choice (csrc/train/thread_chooser.h) on a shared machine: scikit-learn-style
calls of fastmlp.sklearn.MLPClassifier on load_digits, quiet and with another process
spinning on one core.

    PYTHONPATH=python python bench/chooser_under_load.py [--rounds 3] [--hog]

Prints, per case, the median and the mean wall time: ``fit`` (defaults: the whole fit in
one C++ call), ``fit es`` (``early_stopping=True``: one C++ call per epoch plus a
validation predict), and ``predict_proba`` of the 450 test rows (200 calls). ``--hog``
starts a process that spins on the last CPU for the whole run (pinned with
``os.sched_setaffinity``), as another tenant holding a core would. To compare two builds,
run it under each (``PYTHONPATH=OTHER/python``) alternately: the hog and the host's own
noise change from minute to minute.
"""
import argparse
import os
import time
import warnings
from multiprocessing import Process

import numpy as np


def _spin(cpu):
    os.sched_setaffinity(0, {cpu})
    while True:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=200, help="predict_proba calls")
    ap.add_argument("--hog", action="store_true", help="spin a process on the last CPU meanwhile")
    args = ap.parse_args(argv)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import fastmlp
    import fastmlp.sklearn

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, random_state=0)
    Xtr = np.ascontiguousarray(Xtr, dtype=np.float32)
    Xte = np.ascontiguousarray(Xte, dtype=np.float32)
    hog = None
    if args.hog:
        hog = Process(target=_spin, args=(max(os.sched_getaffinity(0)),), daemon=True)
        hog.start()
        time.sleep(0.5)
    try:
        times = {"fit": [], "fit es": [], "predict_proba": []}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in range(args.rounds):
                for name, es in (("fit", False), ("fit es", True)):
                    m = fastmlp.sklearn.MLPClassifier(random_state=r, early_stopping=es)
                    t0 = time.perf_counter()
                    m.fit(Xtr, ytr)
                    times[name].append(time.perf_counter() - t0)
            for _ in range(args.calls):
                t0 = time.perf_counter()
                m.predict_proba(Xte)
                times["predict_proba"].append(time.perf_counter() - t0)
    finally:
        if hog is not None:
            hog.terminate()
    print(f"# fastmlp {os.path.dirname(fastmlp.__file__)}, {fastmlp.get_num_threads()} threads, "
          f"hog {'on' if args.hog else 'off'}")
    for name, ts in times.items():
        ts = np.asarray(ts) * 1e3
        print(f"{name:14s} median {np.median(ts):9.3f} ms  mean {ts.mean():9.3f} ms  ({len(ts)} runs)")


if __name__ == "__main__":
    main()
