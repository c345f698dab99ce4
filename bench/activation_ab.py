"""Interleaved A/B timing of the activation kernels: PyTorch's ATen ops and one or more
builds of ``fastmlp._core`` loaded side by side in ONE process (the layers suite's cases:
``<stem>_forward(x, out=y)`` then ``<stem>_backward(dout, saved, dx=dx)``), so that load
from other processes hits every side alike. Each round times every side (median of
``reps`` calls), sides alternating; the figure is the median over rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python /work/venv-torch/bin/python \\
        bench/activation_ab.py [--acts relu,leaky_relu,...] [--shapes 64x128,256x1024,4096x1024] \\
        [--threads 2] [--rounds 15] [--torch] [OLD_CORE.so ...]

The first side is the ``fastmlp`` on the path; each extra ``.so`` (e.g. a copy of an
older build's ``python/fastmlp/_core*.so``) is loaded under its own module name. Prints
per side forward and backward microseconds, the fwd+bwd ratio to PyTorch (``xtorch``,
throughput) and to the first side.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time

import numpy as np

import fastmlp
from fastmlp import _core

SAVES_OUTPUT = {"relu", "tanh", "sigmoid", "elu"}


def _torch_ops(torch):
    a = torch.ops.aten
    return {
        "relu": (lambda x, y: torch.clamp_min(x, 0, out=y),
                 lambda d, x, y, dx: a.threshold_backward.grad_input(d, y, 0, grad_input=dx)),
        "leaky_relu": (lambda x, y: a.leaky_relu.out(x, 0.01, out=y),
                       lambda d, x, y, dx: a.leaky_relu_backward.grad_input(d, x, 0.01, False,
                                                                            grad_input=dx)),
        "tanh": (lambda x, y: torch.tanh(x, out=y),
                 lambda d, x, y, dx: a.tanh_backward.grad_input(d, y, grad_input=dx)),
        "sigmoid": (lambda x, y: torch.sigmoid(x, out=y),
                    lambda d, x, y, dx: a.sigmoid_backward.grad_input(d, y, grad_input=dx)),
        "gelu": (lambda x, y: a.gelu.out(x, out=y),
                 lambda d, x, y, dx: a.gelu_backward.grad_input(d, x, grad_input=dx)),
        "silu": (lambda x, y: a.silu.out(x, out=y),
                 lambda d, x, y, dx: a.silu_backward.grad_input(d, x, grad_input=dx)),
        "elu": (lambda x, y: a.elu.out(x, 1.0, 1, 1, out=y),
                lambda d, x, y, dx: a.elu_backward.grad_input(d, 1.0, 1, 1, True, y, grad_input=dx)),
        "softplus": (lambda x, y: a.softplus.out(x, 1.0, 20.0, out=y),
                     lambda d, x, y, dx: a.softplus_backward.grad_input(d, x, 1.0, 20.0,
                                                                        grad_input=dx)),
    }


def _load(path: str, i: int):
    spec = importlib.util.spec_from_file_location(f"fastmlp_ab{i}._core", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cores", nargs="*", help="extra _core .so builds to compare")
    ap.add_argument("--acts", default="relu,leaky_relu,tanh,sigmoid,gelu,silu,elu,softplus")
    ap.add_argument("--shapes", default="64x128,256x1024,4096x1024")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--torch", action="store_true", help="include PyTorch (needs torch)")
    args = ap.parse_args(argv)
    mods = {"this": _core}
    for i, p in enumerate(args.cores):
        mods[os.path.basename(p)] = _load(p, i)
    for m in mods.values():
        m.set_num_threads(args.threads)
    torch = None
    if args.torch:
        import torch
        torch.set_num_threads(args.threads)
        tops = _torch_ops(torch)
    rng = np.random.default_rng(0)
    print(f"fastmlp {fastmlp.__version__} {fastmlp.cpu_capability()}, {args.threads} thread(s), "
          f"torch {torch.__version__ if torch else '-'}; median of {args.rounds} rounds, us")
    for name in args.acts.split(","):
        for shape in args.shapes.split(","):
            B, F = map(int, shape.split("x"))
            x = (2.0 * rng.standard_normal((B, F))).astype(np.float32)
            d = rng.standard_normal((B, F)).astype(np.float32)
            y, dx = np.empty_like(x), np.empty_like(x)
            s = y if name in SAVES_OUTPUT else x
            sides = {}
            for k, m in mods.items():
                f, b = getattr(m, name + "_forward"), getattr(m, name + "_backward")
                sides[k] = (lambda f=f: f(x, out=y), lambda b=b: b(d, s, dx=dx))
            if torch is not None and name in tops:
                tf, tb = tops[name]
                xt, yt, dt, dxt = (torch.from_numpy(v) for v in (x, y, d, dx))
                sides["torch"] = (lambda: tf(xt, yt), lambda: tb(dt, xt, yt, dxt))
            reps = max(3, min(200, int(2e7 / (B * F))))
            res = {(k, j): [] for k in sides for j in (0, 1)}
            for _ in range(args.rounds):
                for k, fns in sides.items():
                    for j in (0, 1):
                        ts = []
                        for _ in range(reps):
                            t0 = time.perf_counter()
                            fns[j]()
                            ts.append(time.perf_counter() - t0)
                        res[(k, j)].append(float(np.median(ts)))
            med = {kj: float(np.median(v)) * 1e6 for kj, v in res.items()}
            tot = {k: med[(k, 0)] + med[(k, 1)] for k in sides}
            cols = []
            for k in sides:
                c = f"{k}: {med[(k, 0)]:.1f}/{med[(k, 1)]:.1f}"
                if "torch" in tot and k != "torch":
                    c += f" xtorch {tot['torch'] / tot[k]:.2f}"
                if k != "this":
                    c += f" time/this {tot[k] / tot['this']:.3f}"
                cols.append(c)
            print(f"{name:10s} {shape:9s} " + "  ".join(cols), flush=True)


if __name__ == "__main__":
    main()
