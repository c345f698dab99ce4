"""Fused-epoch optimizer variants against the SGD/ReLU fused epoch, this tree and another
build side by side in one process (issue 10's target: Adam within 10% of SGD/ReLU).

    python bench/ab_optim_epoch.py [OLD_PACKAGE_DIR] [--reps 15] [--threads 2]
                                   [--batch 64,256] [--samples 60000]

The seed network 784-128-10 (ReLU or GELU) on Fashion-MNIST (random data of its
shape when the files are not found), cross-entropy, one epoch of ``train_epoch``:
SGD(lr=0.01)/ReLU (the base), SGD(lr=0.01, momentum=0.9)/ReLU (``sgdm``),
Adam(lr=0.001)/ReLU and Adam/GELU, for this tree
and, given ``OLD_PACKAGE_DIR`` (another checkout's built ``python/fastmlp``,
imported as ``fastmlp_old`` as in ``bench/ab_train.py``), for that build, all
interleaved by :func:`fastmlp.tools.bench.harness.measure`. Prints each
variant's time/base per build: the median over repetitions of the variant's
time divided by the same build's base time of the same repetition (adjacent
runs, so load changes between repetitions cancel), with its quartiles.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_train import _cpu, import_old  # noqa: E402
VARIANTS = (("sgd", "relu"), ("sgdm", "relu"), ("adam", "relu"), ("adam", "gelu"))


def _side(pkg, X, y, b, opt_name, act):
    nn, optim = pkg.nn, pkg.optim
    nn.manual_seed(0)
    act_mod = nn.ReLU() if act == "relu" else nn.GELU()
    model = nn.Sequential(nn.Linear(784, 128), act_mod, nn.Linear(128, 10))
    crit = nn.CrossEntropyLoss()
    opt = {"sgd": lambda ps: optim.SGD(ps, lr=0.01),
           "sgdm": lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9),
           "adam": lambda ps: optim.Adam(ps, lr=0.001)}[opt_name](model.parameters())
    seeds = iter(range(1, 1 << 30))
    return lambda: pkg.train_epoch(model, X, y, crit, opt, batch_size=b, seed=next(seeds))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, nargs="?", help="another build's python/fastmlp directory")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="64,256")
    ap.add_argument("--samples", type=int, default=60000)
    args = ap.parse_args(argv)

    old, tmp = import_old(args.old) if args.old else (None, None)
    try:
        import fastmlp
        from fastmlp.tools.bench.harness import measure

        builds = [("new", fastmlp)] + ([("old", old)] if old else [])
        for _, pkg in builds:
            pkg.set_num_threads(args.threads)
        try:
            from fastmlp.data import load_mnist, normalize
            images, y = load_mnist(kind="fashion-mnist", download=False)
            X = normalize(images, fastmlp.data.FASHION_MNIST_MEAN, fastmlp.data.FASHION_MNIST_STD)
            source = "fashion-mnist"
        except Exception:  # noqa: BLE001 - any missing-data error: random data of the shape
            rng = np.random.default_rng(0)
            X = rng.standard_normal((60000, 1, 28, 28)).astype(np.float32)
            y = rng.integers(0, 10, 60000)
            source = "random"
        X, y = X[:args.samples], y[:args.samples]
        print(f"# {_cpu()}, {args.threads} threads, {source} {len(X)} samples; "
              f"new {Path(fastmlp.__file__).parent}" + (f", old {args.old}" if old else ""))
        for b in (int(s) for s in args.batch.split(",")):
            fns = {f"{o}/{a} [{tag}]": _side(pkg, X, y, b, o, a)
                   for tag, pkg in builds for o, a in VARIANTS}
            res = measure(fns, reps=args.reps, target=0.0, warmup=1)
            print(f"batch {b}: s/epoch median, and time/base (per-repetition ratio to the same "
                  f"build's sgd/relu) median (quartiles), {args.reps} interleaved repetitions")
            for tag, _ in builds:
                base = np.asarray(res[f"sgd/relu [{tag}]"])
                for o, a in VARIANTS:
                    t = np.asarray(res[f"{o}/{a} [{tag}]"])
                    q1, q2, q3 = np.percentile(t / base, [25, 50, 75])
                    print(f"  {o}/{a} [{tag}]  {np.median(t):.4f} s   time/base {q2:.3f} "
                          f"({q1:.3f}-{q3:.3f})")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
