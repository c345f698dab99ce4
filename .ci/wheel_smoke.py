"""Smoke test of an installed fastmlp's kernels against fastmlp.reference (issue 14).

    python .ci/wheel_smoke.py [--expect-isa avx512|avx2|generic]

Run by .ci/wheel.sh from a directory outside the source tree (natively and under
qemu-user as a Haswell and a Nehalem CPU) and by cibuildwheel's test command. It checks
the ISA path the import chose (with --expect-isa: that one, and no higher path
available), then on every path this CPU runs: SGEMM on the direct and the packed path
with a bias + ReLU epilogue, 1 vs 2 threads bitwise; tanh and GELU forward; ReLU
backward; cross-entropy; dropout; and Adam (bitwise the generic path, the per-ISA
passes' contract). Small on purpose: under qemu every instruction is emulated.

It lives in .ci/, not in the package: it is a check of a build, not a user feature, and
run as a script from outside the tree it can only import the installed fastmlp (it
fails if fastmlp comes from this source tree). Deterministic data (fixed seeds), and each
tolerance below is a derived bound (u = 2**-24, the float32 unit roundoff), the same
derivations as the corresponding tests/test_<stem>.py docstrings:

- sgemm: |C - ref| <= (K + 4) u (|A| |B| + |bias|) (tests/test_sgemm.py); ReLU is
  1-Lipschitz, so the bound holds after the epilogue too.
- tanh_forward: 2 ulp(r) (the vector tanh's measured 1.55 ulp bound, rounded up).
- gelu_forward: 2u|x| + 2 ulp(r) (1 + erf within 3u absolute, times 0.5|x|, one rounding).
- relu_backward: exact (a select).
- cross_entropy: loss rtol 1e-5 (error ~2u(1 + |d|) per row, 10x margin); dlogits
  (mean reduction, unit weights: every term bounded by 1/N) ~8u/N, allowed 32u/N plus
  rtol 1e-5.
- dropout_forward: the mask exactly, kept values within u|r| (one float32 multiply by
  the float32 scale, itself within u of 1/(1-p)): 2u|r|.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import fastmlp
from fastmlp import kernels, reference

U = 2.0 ** -24
ROOT = Path(__file__).resolve().parent.parent
failures: list[str] = []


def ulp(r: np.ndarray) -> np.ndarray:
    _, e = np.frexp(np.abs(np.asarray(r, np.float64)))
    return np.ldexp(1.0, np.maximum(e - 24, -149))


def check(what: str, got, want, tol) -> None:
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    err = np.abs(got - want)
    ok = got.shape == want.shape and bool(np.all(err <= tol))
    worst = float(np.max(err / np.maximum(tol, 1e-300))) if err.size and got.shape == want.shape else 0.0
    print(f"  {what:<34} {'ok' if ok else 'FAILED'}  (worst error / bound {worst:.3g})")
    if not ok:
        failures.append(f"{fastmlp.cpu_capability()}: {what}")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def sgemm_case(rng, m: int, n: int, k: int, what: str) -> None:
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    fastmlp.set_num_threads(1)
    c1 = kernels.sgemm(a, b, bias=bias, activation="relu")
    fastmlp.set_num_threads(2)
    c2 = kernels.sgemm(a, b, bias=bias, activation="relu")
    ref = reference.sgemm(a, b, bias=bias, activation="relu")
    mag = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)) + np.abs(bias)
    check(f"sgemm {what} {m}x{n}x{k} +bias relu", c2, ref, (k + 4) * U * mag + 1e-30)
    if not same_bits(c1, c2):
        print(f"  sgemm {what}: 1 vs 2 threads          FAILED (not bitwise equal)")
        failures.append(f"{fastmlp.cpu_capability()}: sgemm {what} 1 vs 2 threads")


def adam_run(rng_seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(rng_seed)
    n = 1031
    p, g = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    m = (0.1 * rng.standard_normal(n)).astype(np.float32)
    v = (0.01 * rng.random(n)).astype(np.float32)
    kernels.adam_update(p, g, m, v, step=3, lr=1e-2, weight_decay=0.01)
    return [p, m, v]


def run_path(isa: str) -> list[np.ndarray]:
    fastmlp._set_cpu_capability(isa)
    print(f"path {isa}:")
    rng = np.random.default_rng(14)
    sgemm_case(rng, 37, 45, 67, "direct")
    sgemm_case(rng, 130, 257, 1031, "packed")  # M*N*K above the direct path's limit

    x = (3 * rng.standard_normal(1031)).astype(np.float32)  # a vector tail on every width
    r = reference.tanh_forward(x)
    check("tanh_forward n=1031", kernels.tanh_forward(x), r, 2 * ulp(r))
    r = reference.gelu_forward(x)
    check("gelu_forward n=1031", kernels.gelu_forward(x), r, 2 * U * np.abs(x) + 2 * ulp(r))
    y = kernels.relu_forward(x)
    d = rng.standard_normal(1031).astype(np.float32)
    check("relu_backward n=1031", kernels.relu_backward(d, y), reference.relu_backward(d, y), 0.0)

    logits = (2 * rng.standard_normal((61, 10))).astype(np.float32)
    target = rng.integers(0, 10, 61)
    loss, dl = kernels.cross_entropy(logits, target)
    rloss, rdl = reference.cross_entropy(logits, target)
    check("cross_entropy loss 61x10", loss, rloss, 1e-5 * abs(rloss))
    check("cross_entropy dlogits 61x10", dl, rdl, 32 * U / 61 + 1e-5 * np.abs(rdl))

    y = kernels.dropout_forward(x, 0.3, 1234)
    r = reference.dropout_forward(x, 0.3, 1234)
    kept_ok = bool(np.array_equal(y != 0, r != 0))
    print(f"  {'dropout_forward mask n=1031':<34} {'ok' if kept_ok else 'FAILED'}")
    if not kept_ok:
        failures.append(f"{isa}: dropout mask")
    check("dropout_forward values n=1031", y, r, 2 * U * np.abs(r))
    return adam_run(3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--expect-isa", choices=["avx512", "avx2", "generic"])
    args = ap.parse_args()
    here = Path(fastmlp.__file__).resolve()
    print(f"fastmlp {fastmlp.__version__} from {here.parent}")
    if ROOT / "python" in here.parents:
        print("FAILED: fastmlp was imported from the source tree, not from an installation")
        return 1
    chosen, avail = fastmlp.cpu_capability(), fastmlp.available_cpu_capabilities()
    print(f"cpu_capability() = {chosen}; available: {avail}")
    if args.expect_isa and (chosen != args.expect_isa or avail[-1] != args.expect_isa):
        print(f"FAILED: expected the {args.expect_isa} path to be chosen and the best available")
        return 1
    adam = {isa: run_path(isa) for isa in avail}
    for isa in avail[1:]:
        ok = all(same_bits(a, b) for a, b in zip(adam["generic"], adam[isa]))
        print(f"adam_update {isa} bitwise the generic path: {'ok' if ok else 'FAILED'}")
        if not ok:
            failures.append(f"{isa}: adam_update differs from the generic path")
    fastmlp._set_cpu_capability(chosen)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print(f"smoke: ok ({len(avail)} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
