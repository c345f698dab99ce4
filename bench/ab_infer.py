"""A/B of ``fastmlp bench infer``'s fastmlp side: this tree against another build, in one process.

    python bench/ab_infer.py OLD_PACKAGE_DIR [--reps 21] [--threads 2] [--batch 1,64,4096]
                             [--arch 784-128-10,784-1024-1024-10] [--torch]
                             [--clock wall|thread]

``OLD_PACKAGE_DIR`` is another checkout's built ``python/fastmlp``, imported as
``fastmlp_old`` (bench/ab_train.py ``import_old``). Each case builds the same model
(``fastmlp.tools.bench.infer``'s models: the same seed, so the same weights) in both
builds and times ``model(x)`` under each build's ``no_grad()`` on the same input, the
sides alternating in rotated order (bench/ab_gemm.py ``_interleaved``), so a loaded
host still gives a usable ratio. ``--torch`` adds PyTorch eager under
``torch.inference_mode()`` as a third side (run with the venv that has torch).
Prints each side's median latency, the new/old time ratio of the medians and the
quartiles of the per-repetition new/old pairs, and whether the two builds' outputs
are bitwise identical.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from ab_gemm import _interleaved
from ab_train import import_old


def _side(pkg, sizes, x, seed=0):
    """A zero-argument ``model(x)`` under ``pkg.no_grad()`` on ``pkg``'s model of ``sizes``."""
    pkg.manual_seed(seed)
    mods = []
    for i in range(len(sizes) - 1):
        mods.append(pkg.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            mods.append(pkg.nn.ReLU())
    model = pkg.nn.Sequential(*mods).eval()
    xt = pkg.Tensor(x)

    def run():
        with pkg.no_grad():
            return model(xt)
    return run, model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the other build's python/fastmlp directory")
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target", type=float, default=0.02, help="seconds per timed sample")
    ap.add_argument("--batch", default="1,64,4096")
    ap.add_argument("--arch", default="784-128-10,784-1024-1024-10")
    ap.add_argument("--torch", action="store_true", help="add PyTorch eager as a third side")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="wall: perf_counter; thread: time.thread_time (needs --threads 1; a busy "
                         "host's preemption does not inflate it)")
    args = ap.parse_args(argv)

    old, tmp = import_old(args.old)
    try:
        import fastmlp
        from fastmlp.tools.machine import cpu_model

        torch = None
        if args.torch:
            import torch
            torch.set_num_threads(args.threads)
        for pkg in (fastmlp, old):
            pkg.set_num_threads(args.threads)
        cfg = fastmlp._core.gemm_config()
        print(f"# {cpu_model()} (family {cfg['family']} model {cfg['model']}), isa "
              f"{fastmlp.cpu_capability()}, {args.threads} threads; new "
              f"{Path(fastmlp.__file__).parent}, old {args.old}")
        print(f"{'case':28s} {'new us':>9s} {'old us':>9s} {'new/old':>8s} {'pairs q1-q3':>13s}"
              f"{'  torch us  torch/new' if torch else ''}")
        rng = np.random.default_rng(0)
        for arch in args.arch.split(","):
            sizes = tuple(int(s) for s in arch.split("-"))
            for b in (int(s) for s in args.batch.split(",")):
                x = rng.standard_normal((b, sizes[0])).astype(np.float32)
                new_fn, _ = _side(fastmlp, sizes, x)
                old_fn, _ = _side(old, sizes, x)
                fns = {"new": new_fn, "old": old_fn}
                if torch is not None:
                    tm, _ = _torch_model(torch, old, sizes)
                    xtt = torch.from_numpy(x)

                    def th(tm=tm, xtt=xtt):
                        with torch.inference_mode():
                            return tm(xtt)
                    fns["torch"] = th
                same = np.array_equal(new_fn().data.view(np.uint32), old_fn().data.view(np.uint32))
                times = _interleaved(fns, args.reps, args.target,
                                     time.thread_time if args.clock == "thread" else time.perf_counter)
                tn, to = times[0], times[1]
                pair = tn / to
                q1, q3 = np.percentile(pair, [25, 75])
                line = (f"{arch + ' b' + str(b):28s} {np.median(tn) * 1e6:9.2f} {np.median(to) * 1e6:9.2f} "
                        f"{np.median(tn) / np.median(to):8.3f} {q1:6.3f}-{q3:6.3f}")
                if torch is not None:
                    tt = times[2]
                    line += f"  {np.median(tt) * 1e6:8.2f}  {np.median(tt) / np.median(tn):8.2f}x"
                print(line + ("  bits same" if same else "  bits DIFFER"), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _torch_model(torch, pkg, sizes, seed=0):
    """PyTorch's Sequential with the weights of ``pkg``'s model of ``sizes`` (eval mode)."""
    _, model = _side(pkg, sizes, np.zeros((1, sizes[0]), np.float32), seed)
    lins = [m for m in model if isinstance(m, pkg.nn.Linear)]
    tm = []
    for i, lin in enumerate(lins):
        t = torch.nn.Linear(lin.in_features, lin.out_features)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.data))
            t.bias.copy_(torch.from_numpy(lin.bias.data))
        tm.append(t)
        if i + 1 < len(lins):
            tm.append(torch.nn.ReLU())
    return torch.nn.Sequential(*tm).eval(), model


if __name__ == "__main__":
    main()
