"""Accuracy of fastmlp's vector transcendentals against float64, per ISA path.

    PYTHONPATH=python python bench/ulp_sweep.py [--stride K] [--isa avx512,avx2,generic]

Sweeps every K-th float32 bit pattern over the whole line (K = 1: all 2^32,
both signs), plus +-0, +-inf, NaN, the smallest/largest subnormals and normals,
and reports for each of exp, expm1, log1p, tanh, erf, sigmoid the maximum
error in ulp of the float64 reference (scipy.special for erf), where
ulp(r) = 2^(e - 24) for |r| in [2^(e-1), 2^e), at least 2^-149.

Classes of inputs reported separately (kernels run with FTZ/DAZ):
- a subnormal input is read as zero: the result must be f(+-0) or within the
  bound of f(x);
- a reference result below FLT_MIN (subnormal) may come out as 0 (flushed);
- a reference above FLT_MAX must be inf (and NaN must be NaN).
Anything else that fails these is counted in `bad`. tests/test_activation_ulp.py
runs the same check over a strided subset; its bounds are the maxima here.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import special

import fastmlp
from fastmlp import _core

FLT_MIN = np.float64(np.finfo(np.float32).tiny)
FLT_MAX = np.float64(np.finfo(np.float32).max)

REFERENCES = {
    "exp": np.exp,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "erf": special.erf,
    "sigmoid": lambda x: special.expit(x),
}


def specials() -> np.ndarray:
    f = np.float32
    v = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38,
         np.finfo(f).tiny, -np.finfo(f).tiny, np.finfo(f).max, -np.finfo(f).max, -1.0, 1.0,
         88.72283, 88.72284, -87.33654, -103.97208, -104.0, 89.0, -1.0 + 2**-24, 3.92, -3.92, 0.625, 0.875]
    return np.array(v, np.float32)


def inputs(stride: int, start: int = 0) -> np.ndarray:
    bits = np.arange(start, 2**32, stride, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([bits.view(np.float32), specials()])


def ulp_errors(fn: str, x: np.ndarray):
    """(max ulp error over the ordinary inputs, number of bad results, count) for _vecmath(fn, x)."""
    with np.errstate(all="ignore"):
        return _ulp_errors(fn, x)


def _ulp_errors(fn, x):
    y = _core._vecmath(fn, x).astype(np.float64)
    xd = x.astype(np.float64)
    ref = REFERENCES[fn](xd)
    ref0 = REFERENCES[fn](np.zeros_like(xd) * np.sign(xd))  # f(+-0): what DAZ reads
    nan_in = np.isnan(ref)
    bad = np.count_nonzero(nan_in != np.isnan(y))
    ok = ~nan_in & ~np.isnan(y)
    r, yy = ref[ok], y[ok]
    sub_in = (np.abs(xd[ok]) < FLT_MIN) & (xd[ok] != 0)
    over = np.abs(r) > FLT_MAX
    bad += np.count_nonzero(over & (yy != np.sign(r) * np.inf))
    flushed = (np.abs(r) < FLT_MIN) & (yy == 0)
    _, e = np.frexp(r)
    ulp = np.ldexp(1.0, np.maximum(e - 24, -149))
    err = np.where(over | flushed, 0.0, np.abs(yy - r) / ulp)
    err = np.where(np.isinf(r) & (yy == r), 0.0, err)
    daz_ok = sub_in & (yy == ref0[ok])
    err = np.where(daz_ok, 0.0, err)
    return float(err.max(initial=0.0)), int(bad), int(x.size)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=1, help="every K-th bit pattern (1: all 2^32)")
    ap.add_argument("--isa", default=",".join(fastmlp.available_cpu_capabilities()))
    ap.add_argument("--chunk", type=int, default=1 << 24)
    args = ap.parse_args(argv)
    prev = fastmlp.cpu_capability()
    print(f"stride {args.stride}: {len(range(0, 2**32, args.stride))} patterns per function", flush=True)
    print("| function | " + " | ".join(args.isa.split(",")) + " |")
    print("|---|" + "---|" * len(args.isa.split(",")))
    try:
        for fn in REFERENCES:
            cells = []
            for isa in args.isa.split(","):
                fastmlp._set_cpu_capability(isa)
                worst, bad = 0.0, 0
                step = args.chunk * args.stride
                for start in range(0, 2**32, step):
                    stop = min(2**32, start + step)
                    bits = np.arange(start, stop, args.stride, dtype=np.uint64).astype(np.uint32)
                    x = bits.view(np.float32)
                    if start == 0:
                        x = np.concatenate([x, specials()])
                    w, b, _ = ulp_errors(fn, x)
                    worst, bad = max(worst, w), bad + b
                cells.append(f"{worst:.3f}" + (f" ({bad} bad)" if bad else ""))
            print(f"| {fn} | " + " | ".join(cells) + " |", flush=True)
    finally:
        fastmlp._set_cpu_capability(prev)
    return 0


if __name__ == "__main__":
    sys.exit(main())
