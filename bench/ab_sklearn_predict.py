"""Interleaved A/B of fastmlp.sklearn's prediction: this tree, another build and
scikit-learn's own estimator, alternating in one process (every ratio is of medians of
interleaved repetitions, so load changes on the machine cancel).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python \\
        python bench/ab_sklearn_predict.py [OLD_PACKAGE_DIR] [--threads 2] [--reps 15]

``OLD_PACKAGE_DIR``: another checkout's built ``python/fastmlp`` (imported as
``fastmlp_old``, as bench/ab_train.py does). The cases are ``fastmlp bench sklearn``'s
prediction cases: ``predict_proba`` on Fashion-MNIST's test rows (float32 and float64
input), digits' and ``predict`` on diabetes' (float64, as loaded), the models of the
suite's parameters fitted once (seed 0) by this tree; the old build's estimator gets the
same fitted attributes, scikit-learn's the same weights in its training dtype (so it runs
the same products it runs after its own fit: sgemm for float32 training data, dgemm for
float64 input).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_train import _cpu, import_old  # noqa: E402


def _cases():
    from fastmlp.tools.bench import SKLEARN_CASES
    for name, kind, params, _ in SKLEARN_CASES:
        yield name, kind, params


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, nargs="?", help="another build's python/fastmlp directory")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--cases", default=None, help="comma-separated dataset names")
    args = ap.parse_args(argv)
    old, tmp = import_old(args.old) if args.old else (None, None)
    import fastmlp
    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    from fastmlp.tools.bench import load_sklearn_data
    from fastmlp.tools.bench.harness import measure
    from sklearn.neural_network import MLPClassifier as SkC, MLPRegressor as SkR
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore")
    print(f"# {_cpu()}, {args.threads} threads; new {Path(fastmlp.__file__).parent}"
          + (f", old {args.old}" if old else ""))
    with threadpool_limits(args.threads):
        for name, kind, params in _cases():
            if args.cases and name not in args.cases.split(","):
                continue
            Xtr, ytr, Xte, _, _ = load_sklearn_data(name)
            ours_cls = MLPClassifier if kind == "classifier" else MLPRegressor
            new = ours_cls(random_state=0, n_threads=args.threads, **params).fit(Xtr, ytr)
            sides = {"new": new}
            if old:
                from fastmlp_old.sklearn import MLPClassifier as OC, MLPRegressor as OR
                o = (OC if kind == "classifier" else OR)(random_state=0, n_threads=args.threads,
                                                         **params)
                o.__dict__.update({k: v for k, v in new.__dict__.items() if k != "_optimizer"})
                sides["old"] = o
            sk = (SkC if kind == "classifier" else SkR)(random_state=0, max_iter=1,
                                                        **{k: v for k, v in params.items()
                                                           if k != "max_iter"})
            sk.fit(Xtr[:500], ytr[:500])
            sk.__dict__.update({k: v for k, v in new.__dict__.items()
                                if k in ("classes_", "_label_binarizer", "n_outputs_",
                                         "out_activation_", "n_layers_")})
            sk.coefs_ = [np.asarray(c, Xtr.dtype) for c in new.coefs_]
            sk.intercepts_ = [np.asarray(c, Xtr.dtype) for c in new.intercepts_]
            sides["sklearn"] = sk
            inputs = [("", Xte)]
            if Xte.dtype == np.float32:
                inputs.append((" float64", np.ascontiguousarray(Xte, dtype=np.float64)))
            for tag, X in inputs:
                meth = "predict_proba" if kind == "classifier" else "predict"
                ref = getattr(new, meth)(X)
                if old:
                    assert np.array_equal(getattr(sides["old"], meth)(X), ref), "old != new"
                fns = {s: (lambda e=e: getattr(e, meth)(X)) for s, e in sides.items()}
                t = measure(fns, reps=args.reps, target=0.02)
                med = {s: statistics.median(v) for s, v in t.items()}
                line = f"{meth} {name}{tag} {X.shape[0]}x{X.shape[1]}: " + ", ".join(
                    f"{s} {med[s] * 1e3:.3f} ms" for s in sides)
                line += "; sklearn/new %.2fx" % (med["sklearn"] / med["new"])
                if old:
                    line += ", sklearn/old %.2fx, old/new %.3f" % (
                        med["sklearn"] / med["old"], med["old"] / med["new"])
                print(line, flush=True)
    if tmp:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
