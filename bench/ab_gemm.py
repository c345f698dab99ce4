"""A/B of ``fastmlp bench gemm``'s shapes: this tree against another build, in one process.

    python bench/ab_gemm.py OLD_PACKAGE_DIR [--reps 15] [--threads 2] [--cases square,mlp]
    python bench/ab_gemm.py OLD_PACKAGE_DIR --shapes 100x200x10TN,64x128x10NT

``OLD_PACKAGE_DIR`` is another checkout's built ``python/fastmlp`` (with its
``_core*.so``); it is imported as ``fastmlp_old`` as in bench/ab_train.py, so
both builds run in this process and each shape's two sides alternate, in
rotated order, on the same operands (:func:`fastmlp.tools.bench.harness.measure`).
Prints, per shape, the median GFLOP/s of each build, the new/old time ratio of
the medians and of the per-repetition pairs (their quartiles: the noise), so a
loaded host still gives a usable ratio. ``--clock thread`` (with ``--threads 1``)
times with the calling thread's CPU time, which a busy host's preemption does
not inflate; ``--check-bits`` also compares the two builds' results bit for bit.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from ab_train import import_old


def _interleaved(fns, reps, target, clock):
    """Per-call seconds of each side (a tuple of arrays in ``fns``' order) over ``reps``
    samples of about ``target`` seconds, the sides alternating in rotated order."""
    names = list(fns)
    for fn in fns.values():  # warm up, and size the samples
        fn()
    calls = {}
    for name, fn in fns.items():
        t0, n = clock(), 0
        while n < 3 or (clock() - t0 < target / 4 and n < 100000):
            fn()
            n += 1
        calls[name] = max(1, int(round(target / max((clock() - t0) / n, 1e-9))))
    times = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, n = fns[name], calls[name]
            t0 = clock()
            for _ in range(n):
                fn()
            times[name].append((clock() - t0) / n)
    return tuple(np.asarray(times[n]) for n in names)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the other build's python/fastmlp directory")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target", type=float, default=0.05, help="seconds per timed sample")
    ap.add_argument("--cases", default=None, help="comma-separated substrings of case/shape")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="wall: perf_counter; thread: time.thread_time (needs --threads 1)")
    ap.add_argument("--shapes", default=None,
                    help="instead of the suite: comma-separated MxKxN[NN|NT|TN|TT], e.g. 100x200x10TN")
    ap.add_argument("--check-bits", action="store_true",
                    help="also report whether both builds give bitwise-identical C")
    args = ap.parse_args(argv)

    old, tmp = import_old(args.old)
    try:
        import fastmlp
        import time
        from fastmlp.tools.bench.suites import GEMM_SHAPES
        from fastmlp.tools.machine import cpu_model

        for pkg in (fastmlp, old):
            pkg.set_num_threads(args.threads)
        cfg = fastmlp._core.gemm_config()
        print(f"# {cpu_model()} (family {cfg['family']} model {cfg['model']}), {args.threads} "
              f"threads; new: class {cfg['cpu_class']}, {cfg['micro_kernel']}, MC,KC,NC "
              f"{cfg['mc']},{cfg['kc']},{cfg['nc']}; old {args.old}")
        want = [c.strip() for c in (args.cases or "").split(",") if c.strip()]
        rng = np.random.default_rng(0)
        ratios = []
        print(f"{'shape':22s} {'case':20s} {'new GF/s':>9s} {'old GF/s':>9s} {'new/old time':>12s}"
              f"  {'pairs q1-q3':>13s}")
        shapes = GEMM_SHAPES
        if args.shapes:
            shapes = []
            for spec in args.shapes.split(","):
                spec = spec.strip()
                flags = spec[-2:] if spec[-2:].upper() in ("NN", "NT", "TN", "TT") else "NN"
                M, K, N = (int(v) for v in spec[:len(spec) - 2 if spec[-2:].upper() == flags.upper() and
                                                   not spec[-1].isdigit() else len(spec)].split("x"))
                shapes.append((M, K, N, flags[0].upper() == "T", flags[1].upper() == "T", "--shapes"))
        for M, K, N, ta, tb, what in shapes:
            shape = f"{M}x{K}x{N} {'T' if ta else 'N'}{'T' if tb else 'N'}"
            if want and not any(w in what or w in shape for w in want):
                continue
            a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
            b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
            c_new, c_old = np.empty((M, N), np.float32), np.empty((M, N), np.float32)
            fns = {
                "new": lambda: fastmlp.kernels.sgemm(a, b, c_new, trans_a=ta, trans_b=tb),
                "old": lambda: old.kernels.sgemm(a, b, c_old, trans_a=ta, trans_b=tb),
            }
            tn, to = _interleaved(fns, args.reps, args.target,
                                  time.thread_time if args.clock == "thread" else time.perf_counter)
            same = ""
            if args.check_bits:
                same = "  bits " + ("same" if np.array_equal(c_new.view(np.uint32),
                                                             c_old.view(np.uint32)) else "DIFFER")
            pair = tn / to
            q1, q3 = np.percentile(pair, [25, 75])
            r = float(np.median(tn) / np.median(to))
            ratios.append(r)
            fl = 2.0 * M * N * K
            print(f"{shape:22s} {what:20s} {fl / np.median(tn) / 1e9:9.1f} "
                  f"{fl / np.median(to) / 1e9:9.1f} {r:12.3f}  {q1:6.3f}-{q3:6.3f}{same}", flush=True)
        if ratios:
            print(f"geometric mean new/old time ratio {float(np.exp(np.mean(np.log(ratios)))):.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
