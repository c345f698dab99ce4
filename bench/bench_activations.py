"""Forward + backward time of each activation kernel against a memory pass over the same arrays.

    PYTHONPATH=python python bench/bench_activations.py [--shape 4096x1024] [--rounds 15] [--threads 1,2]

For each activation: fwd = <stem>_forward(x, out=y) (reads x, writes y) and bwd =
<stem>_backward(dout, saved, dx=dx) (reads two arrays, writes one). The baseline is the
same traffic with no arithmetic: identity_forward(x, out=y) (a copy) + relu_backward
(dout, y, dx=dx) (two reads, one write, one multiply). Timings are interleaved (every
round runs every kernel once, in a rotated order) and the minimum over rounds is kept, so
drift of a shared host hits all kernels alike. Prints a Markdown table: ms, ratio to the
baseline, and the baseline's effective bandwidth.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastmlp
from fastmlp import kernels as K

CASES = [
    ("relu", {}, "output"), ("identity", {}, "input"), ("leaky_relu", {}, "input"), ("tanh", {}, "output"),
    ("sigmoid", {}, "output"), ("gelu", {}, "input"), ("gelu", {"approximate": "tanh"}, "input"),
    ("silu", {}, "input"), ("elu", {}, "output"), ("softplus", {}, "input"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="4096x1024")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args(argv)
    shape = tuple(int(s) for s in args.shape.split("x"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    y = np.empty_like(x)
    dx = np.empty_like(x)
    print(f"shape {shape}, isa {fastmlp.cpu_capability()}, min of {args.rounds} interleaved rounds\n")
    print("| threads | activation | fwd ms | bwd ms | fwd+bwd ms | ratio to memory pass |")
    print("|---|---|---|---|---|---|")
    for t in (int(v) for v in args.threads.split(",")):
        fastmlp.set_num_threads(t)
        jobs = {"baseline_fwd": lambda: K.identity_forward(x, out=y),
                "baseline_bwd": lambda: K.relu_backward(dout, y, dx=dx)}
        for stem, params, saves in CASES:
            name = stem + ("-tanh" if params else "")
            fwd, bwd = getattr(K, stem + "_forward"), getattr(K, stem + "_backward")
            saved = fwd(x, **params) if saves == "output" else x
            jobs[name + "_fwd"] = (lambda f=fwd, p=params: f(x, **p, out=y))
            jobs[name + "_bwd"] = (lambda b=bwd, p=params, s=saved: b(dout, s, **p, dx=dx))
        best = {k: float("inf") for k in jobs}
        names = list(jobs)
        for r in range(args.rounds):
            for k in names[r % len(names):] + names[: r % len(names)]:
                t0 = time.perf_counter()
                jobs[k]()
                best[k] = min(best[k], time.perf_counter() - t0)
        base = best["baseline_fwd"] + best["baseline_bwd"]
        gbs = 5 * x.nbytes / base / 1e9  # 2 + 3 arrays moved
        print(f"| {t} | memory pass (copy + 2-read-1-write) | {best['baseline_fwd']*1e3:.2f} | "
              f"{best['baseline_bwd']*1e3:.2f} | {base*1e3:.2f} | 1.00 ({gbs:.1f} GB/s) |")
        for stem, params, _ in CASES:
            name = stem + ("-tanh" if params else "")
            f, b = best[name + "_fwd"], best[name + "_bwd"]
            print(f"| {t} | {name} | {f*1e3:.2f} | {b*1e3:.2f} | {(f+b)*1e3:.2f} | {(f+b)/base:.2f} |")


if __name__ == "__main__":
    main()
