"""A/B of the seed network's training epoch: this tree against another build, in one process.

    python bench/ab_train.py OLD_PACKAGE_DIR [--reps 7] [--threads 2] [--batch 64,256]

``OLD_PACKAGE_DIR`` is another checkout's built ``python/fastmlp`` (with its
``_core*.so``), e.g. a ``git worktree`` of the previous commit after
``./dev-build.sh``. It is copied to a temporary directory and imported under
the name ``fastmlp_old`` (the package imports itself relatively, and both
extensions link the same OpenMP runtime), so both builds run in this process
and :func:`fastmlp.tools.bench.harness.measure` interleaves them: the
``fastmlp`` (fused epoch), ``fastmlp-u8`` and ``fastmlp-loop`` (the seed
script through the Python API) sides of each build alternate, in rotated
order, on the same data. Prints medians, the spread, and new/old ratios.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np


def _sides(pkg, X, y, images, b):
    """The three fastmlp train sides of ``pkg`` (a fastmlp package object)."""
    nn, optim = pkg.nn, pkg.optim
    pkg.nn.manual_seed(0)
    seq = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(seq.parameters(), lr=0.01)
    seq8 = copy.deepcopy(seq)
    opt8 = optim.SGD(seq8.parameters(), lr=0.01)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = pkg.flatten(x, 1)
            x = pkg.relu(self.fc1(x))
            return self.fc2(x)

    net = Net()
    lcrit, lopt = nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01)
    seeds = {k: iter(range(1, 1 << 30)) for k in ("f", "u", "l")}

    def loop():
        for inputs, labels in pkg.data.DataLoader(X, y, batch_size=b, shuffle=True,
                                                  seed=next(seeds["l"])):
            lopt.zero_grad()
            loss = lcrit(net(inputs), labels)
            loss.backward()
            lopt.step()

    return {
        "fastmlp": lambda: pkg.train_epoch(seq, X, y, crit, opt, batch_size=b,
                                           seed=next(seeds["f"])),
        "fastmlp-u8": lambda: pkg.train_epoch(seq8, images, y, crit, opt8, batch_size=b,
                                              seed=next(seeds["u"]), normalize=True),
        "fastmlp-loop": loop,
    }


def _cpu() -> str:
    """Vendor, family/model and the vector flags that pick our kernels, from /proc/cpuinfo."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                fields[k.strip()] = v.strip()
    except OSError:
        return "unknown CPU"
    flags = set(fields.get("flags", "").split())
    vec = ",".join(f for f in ("avx2", "fma", "avx512f") if f in flags)
    return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} model "
            f"{fields.get('model', '?')}, {vec})")


def import_old(path: Path):
    """``(package, tmpdir)``: the build at ``path`` (a ``python/fastmlp`` directory) copied to
    a temporary directory and imported as ``fastmlp_old``; remove ``tmpdir`` when done."""
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(path, tmp / "fastmlp_old")
    sys.path.insert(0, str(tmp))
    return importlib.import_module("fastmlp_old"), tmp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the other build's python/fastmlp directory")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="64,256")
    args = ap.parse_args(argv)

    old, tmp = import_old(args.old)
    try:
        import fastmlp
        from fastmlp.data import load_mnist, normalize
        from fastmlp.tools.bench.harness import measure

        for pkg in (fastmlp, old):
            pkg.set_num_threads(args.threads)
        images, labels = load_mnist(kind="fashion-mnist", download=False)
        X = normalize(images, fastmlp.data.FASHION_MNIST_MEAN, fastmlp.data.FASHION_MNIST_STD)
        images = np.ascontiguousarray(images.reshape(len(images), -1))
        print(f"# {_cpu()}, {args.threads} threads; new {Path(fastmlp.__file__).parent}, "
              f"old {args.old}")
        for b in (int(s) for s in args.batch.split(",")):
            fns = {}
            for tag, pkg in (("new", fastmlp), ("old", old)):
                for name, fn in _sides(pkg, X, labels, images, b).items():
                    fns[f"{name} [{tag}]"] = fn
            res = measure(fns, reps=args.reps, target=0.0, warmup=1)
            med = {}
            print(f"batch {b}: s/epoch, median (quartiles) over {args.reps} interleaved runs")
            for name in fns:
                t = res[name]
                if isinstance(t, dict):
                    print(f"  {name:22s} {t['skipped']}")
                    continue
                q1, med[name], q3 = np.percentile(t, [25, 50, 75])
                print(f"  {name:22s} {med[name]:.4f}  ({q1:.4f}-{q3:.4f})")
            for side in ("fastmlp", "fastmlp-u8", "fastmlp-loop"):
                n, o = med.get(f"{side} [new]"), med.get(f"{side} [old]")
                if n and o:
                    print(f"  {side:14s} new/old time ratio {n / o:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
