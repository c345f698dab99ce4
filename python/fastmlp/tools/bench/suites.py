"""The suites of ``fastmlp bench``, their cases, and the driver :func:`run_benchmarks`.

Suites (``fastmlp bench [gemm|layers|train|infer|sklearn|all]``):

``gemm``
    ``fastmlp.kernels.sgemm`` against ``numpy.matmul`` and ``torch.mm`` on
    ``GEMM_SHAPES``: the seed network's GEMMs, squares, and the forward and
    backward GEMMs of a 784-1024-1024-10 MLP at batch 256 (``bench/bench_gemm.py``
    runs the same). GFLOP/s and % of the measured peak.
``layers``
    The kernels a seed network (784-128-10) runs per step at batch 64 (and
    256 unless ``--quick``): Linear forward (GEMM + bias), Linear backward
    (dX, dW and db), ReLU forward/backward, softmax cross-entropy loss and
    gradient. PyTorch runs the same ATen kernels its autograd would call,
    without the autograd bookkeeping; NumPy the textbook expressions. Then
    every activation of ``fastmlp.functional.ACTIVATIONS``, forward+backward
    at 64x128, 256x1024 and 4096x1024 (``--quick``: the first two) against
    PyTorch's ATen kernels and against the time to read and write its arrays
    once at the memory bandwidth measured in the same run (:mod:`.activations`).
``train``
    One epoch of the seed network (SGD lr 0.01, cross-entropy) at batch 64
    and 256: ``fastmlp.train_epoch`` (the fused C++ epoch) on the normalized
    float32 images and on the uint8 images with ``normalize=True``
    (``fastmlp-u8``: the rows converted as they are gathered, bitwise the same
    training), the seed script through fastmlp's PyTorch-style Python API
    (``fastmlp-loop``), a NumPy
    float32 loop, the PyTorch seed script with batches cut from in-memory
    tensors (``torch``) and as written, fed by ``torch.utils.data.DataLoader``
    (``torch-loader``), and scikit-learn's
    ``MLPClassifier(solver="sgd", max_iter=1)``. Data: Fashion-MNIST's 60,000
    training images when ``fastmlp.data.load_mnist(kind="fashion-mnist",
    download=False)`` finds them, else random MNIST-shaped data (reported).
    Then the variants ``TRAIN_VARIANTS`` (Adam/ReLU, SGD/GELU, Adam/GELU): each
    recipe's fused epoch beside the SGD/ReLU fused epoch (``fastmlp-base``) and
    PyTorch's same recipe on tensor batches, interleaved; whether the variant
    really ran fused (train_epoch's DEBUG fallback log) is in the record.
``infer``
    Forward only (issue 12): 784-128-10 and 784-1024-1024-10 at batch 1, 64 and 4096
    (``--quick``: 1 and 64), ``model(x)`` under ``fastmlp.no_grad()`` (the one-call
    forward) against PyTorch eager under ``torch.inference_mode()`` and NumPy, beside
    the time to read the weights once at the read bandwidth measured in the same run
    (:mod:`.infer`).
``sklearn``
    ``fastmlp.sklearn.MLPClassifier`` / ``MLPRegressor`` against scikit-learn's own
    estimators with the same parameters on Fashion-MNIST, digits and diabetes: fit
    and predict_proba / predict time, test accuracy (R²) per seed
    (:mod:`.sklearn_suite`).
"""
from __future__ import annotations

import datetime as _dt
import os
import time

import numpy as np

from .harness import (OPENBLAS_SLOW_VARS, PEERS, SCHEMA, SETTLE_MAX_S, SLEEP_BETWEEN_SIDES, SUITES,
                      _all_cores, _defaults, _loadavg, _log, _run_case, _skipped, _torch, _versions,
                      case_wanted, detect_peers, machine_info, thread_settings)
from . import harness as _harness
from .report import _n_threads
from .sklearn_suite import suite_sklearn
from .sides import (TRAIN_VARIANTS, gemm_sides, layer_cases, load_train_data, train_sides,
                    train_variant_sides)


# (M, K, N, trans_a, trans_b, what): op(A) is (M, K), op(B) is (K, N);
# "NT" is x @ W.T (a Linear forward), "TN" a weight gradient dY.T @ X.
GEMM_SHAPES = [
    (64, 784, 128, False, True, "seed fc1 fwd, b64"),
    (64, 128, 10, False, True, "seed fc2 fwd, b64"),
    (256, 784, 128, False, True, "seed fc1 fwd, b256"),
    (784, 64, 128, True, False, "X.T @ dY, b64"),
    (128, 64, 784, True, False, "seed fc1 dW, b64"),
    (512, 512, 512, False, False, "square"),
    (1024, 1024, 1024, False, False, "square"),
    (2048, 2048, 2048, False, False, "square"),
    # a 784-1024-1024-10 MLP at batch 256: forward, then backward (dW and dX)
    (256, 784, 1024, False, True, "mlp fc1 fwd"),
    (256, 1024, 1024, False, True, "mlp fc2 fwd"),
    (256, 1024, 10, False, True, "mlp fc3 fwd"),
    (10, 256, 1024, True, False, "mlp fc3 dW"),
    (256, 10, 1024, False, False, "mlp fc3 dX"),
    (1024, 256, 1024, True, False, "mlp fc2 dW"),
    (256, 1024, 1024, False, False, "mlp fc2 dX"),
    (1024, 256, 784, True, False, "mlp fc1 dW"),
]
GEMM_QUICK = ("seed fc1 fwd, b64", "seed fc1 dW, b64", "square", "mlp fc2 fwd")

_QUICK_TRAIN_SAMPLES = 2048


# ------------------------------------------------------------------ gemm --


def suite_gemm(*, threads=None, quick=False, reps=None, target=None, peers=None, peak=None,
               shapes=None) -> list:
    """GEMM throughput of fastmlp, NumPy and torch; a list of result records.

    ``peak`` (GFLOP/s) adds ``pct_peak`` to every figure; ``shapes`` (a list
    of GEMM_SHAPES-like tuples) overrides the default set.
    """
    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("gemm", quick, reps, target)
    if shapes is None:
        shapes = [s for s in GEMM_SHAPES
                  if not quick or (s[5] in GEMM_QUICK and s[0] <= 512)]
    torch = _torch(peers)
    results = []
    rng = np.random.default_rng(0)
    with thread_settings(threads, peers):
        for M, K, N, ta, tb, what in shapes:
            fns = gemm_sides(M, K, N, ta, tb, rng, torch)
            shape = f"{M}x{K}x{N} {'T' if ta else 'N'}{'T' if tb else 'N'}"
            _run_case(results, suite="gemm", case=what, shape=shape, unit="GFLOP/s", scale=1e9,
                      work=2.0 * M * N * K, fns=fns, reps=reps, target=target, warmup=warmup,
                      gemm=True, peak=peak, skipped=_skipped(peers, ("torch",)),
                      extra={"m": M, "k": K, "n": N, "trans_a": ta, "trans_b": tb})
    return results

def suite_layers(*, threads=None, quick=False, reps=None, target=None, peers=None, peak=None,
                 batches=None, activations=True, act_shapes=None, bandwidth=None) -> list:
    """The seed network's per-step kernels (784-128-10) at batch 64 (and 256), then every
    registered activation's forward+backward at ``act_shapes`` (default
    ``ACTIVATION_SHAPES``; ``--quick``: the two smaller) against PyTorch and against the
    time to move its arrays once at ``bandwidth`` (:func:`.activations.memory_bandwidth`,
    measured here before and after the activation cases when not given; the faster of
    the two is used). Activation records carry ``activation``, ``elements``, ``bytes``,
    ``floor_s`` and ``x_floor`` (our time / floor_s) and ``bandwidth``."""
    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("layers", quick, reps, target)
    batches = batches or ((64,) if quick else (64, 256))
    torch = _torch(peers)
    skipped = _skipped(peers, ("torch",))
    results = []
    with thread_settings(threads, peers):
        for B in batches:
            for c in layer_cases(B, torch):
                _run_case(results, suite="layers", case=c["name"], shape=c["shape"],
                          unit=c["unit"], scale=c["scale"], work=c["work"], fns=c["fns"],
                          reps=reps, target=target, warmup=warmup,
                          gemm=c["gemm"], peak=peak, skipped=skipped,
                          extra={"batch_size": B})
        if activations:
            results += _activation_records(threads, quick, reps, target, warmup, torch, skipped,
                                           act_shapes, bandwidth)
    return results


def _activation_records(threads, quick, reps, target, warmup, torch, skipped, shapes, bw):
    from .activations import (ACTIVATION_QUICK_SHAPES, ACTIVATION_SHAPES, BANDWIDTH_MIB,
                              BANDWIDTH_QUICK_MIB, activation_cases, activation_variants,
                              floor_seconds, memory_bandwidth)

    shapes = shapes or (ACTIVATION_QUICK_SHAPES if quick else ACTIVATION_SHAPES)
    if not any(case_wanted(f"{name} fwd+bwd {B}x{F}") for name, _, _ in activation_variants()
               for B, F in shapes):
        return []
    mib = BANDWIDTH_QUICK_MIB if quick else BANDWIDTH_MIB
    runs = [bw] if bw else [memory_bandwidth(threads, mib)]
    _log(f"  memory bandwidth: copy {runs[0]['copy_GBps']:.1f} GB/s, add "
         f"{runs[0]['add_GBps']:.1f} GB/s ({runs[0]['array_mib']} MiB arrays)")
    try:
        cases = activation_cases(shapes, torch)
    except Exception as e:  # a registry entry whose kernels are still landing
        _log(f"  layers: activation cases unavailable ({type(e).__name__}: {e})")
        return []
    recs = []
    for c in cases:
        _run_case(recs, suite="layers", case=c["name"], shape=c["shape"], unit=c["unit"],
                  scale=c["scale"], work=c["work"], fns=c["fns"], reps=reps, target=target,
                  warmup=warmup, skipped={**skipped, **c["skipped"]},
                  extra={"activation": c["activation"], "params": c["params"],
                         "saves": c["saves"], "elements": c["elements"], "bytes": c["bytes"]})
    if not bw:
        again = memory_bandwidth(threads, mib)
        _log(f"  memory bandwidth again: copy {again['copy_GBps']:.1f} GB/s, add "
             f"{again['add_GBps']:.1f} GB/s")
        runs.append(again)
    best = max(runs, key=lambda r: r["copy_Bps"] + r["add_Bps"])
    best = dict(best, runs=[{k: r[k] for k in ("copy_GBps", "add_GBps")} for r in runs])
    for r in recs:
        r["bandwidth"] = best
        r["floor_s"] = floor_seconds(r["elements"], best)
        ours = r["sides"].get("fastmlp", {})
        if "median_s" in ours:
            r["x_floor"] = ours["median_s"] / r["floor_s"]
    return recs

def suite_train(*, threads=None, quick=False, reps=None, peers=None, batches=None,
                data_root=None, n_samples=None, data=None, variants=TRAIN_VARIANTS) -> list:
    """One epoch of the seed network per side; samples/s. ``data``: (X, y, source).
    Then ``variants`` ((optimizer, activation) pairs; () for none): see
    :func:`_train_variant_records`."""
    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("train", quick, reps, None)
    batches = batches or (64, 256)
    if n_samples is None and quick:
        n_samples = _QUICK_TRAIN_SAMPLES
    X, y, source, *rest = data if data is not None else load_train_data(data_root, n_samples,
                                                                         raw=True)
    images = rest[0] if rest else None
    if data is not None and n_samples:
        X, y = X[:n_samples], y[:n_samples]
        images = None if images is None else images[:n_samples]
    _log(f"  train data: {source}, {len(X)} samples")
    results = []
    with thread_settings(threads, peers):
        for b in batches:
            if not case_wanted(f"epoch, batch {b} {len(X)}x784"):
                continue
            _run_case(results, suite="train", case=f"epoch, batch {b}", shape=f"{len(X)}x784",
                      unit="ksample/s", scale=1e3, work=float(len(X)),
                      fns=train_sides(X, y, b, peers, images), reps=reps, target=target,
                      warmup=warmup, skipped=_skipped(peers, ("torch", "sklearn")),
                      extra={"batch_size": b, "data": source, "samples": len(X)})
        if variants:
            results += _train_variant_records(X, y, source, batches, peers, reps, target,
                                              warmup, variants)
    return results


def _train_variant_records(X, y, source, batches, peers, reps, target, warmup, variants):
    """The variant cases (TRAIN_VARIANTS): each recipe fused, the SGD/ReLU fused epoch
    and PyTorch's recipe, interleaved; ``x_base`` = variant time / SGD-ReLU time."""
    recs = []
    for b in batches:
        for opt_name, act_name in variants:
            if not case_wanted(f"epoch {opt_name}/{act_name}, batch {b} {len(X)}x784"):
                continue
            fns, skipped, info = train_variant_sides(X, y, b, peers, opt_name, act_name)
            rec = _run_case(recs, suite="train", case=f"epoch {opt_name}/{act_name}, batch {b}",
                            shape=f"{len(X)}x784", unit="ksample/s", scale=1e3,
                            work=float(len(X)), fns=fns, reps=reps, target=target,
                            warmup=warmup, skipped={**_skipped(peers, ("torch",)), **skipped},
                            extra={"batch_size": b, "data": source, "samples": len(X),
                                   "variant": {"optimizer": opt_name, "activation": act_name},
                                   **info})
            if rec is None:  # left out by --cases
                continue
            ours, base = rec["sides"].get("fastmlp", {}), rec["sides"].get("fastmlp-base", {})
            if "median_s" in ours and "median_s" in base:
                rec["x_base"] = ours["median_s"] / base["median_s"]
    return recs

# ----------------------------------------------------------------- infer --


def suite_infer(*, threads=None, quick=False, reps=None, target=None, peers=None,
                batches=None, bandwidth=None) -> list:
    """Forward-only inference (:mod:`.infer`): ksample/s per side; each record adds
    ``batch_size``, ``arch``, ``weight_bytes``, ``bandwidth`` (:func:`.infer.read_bandwidth`,
    measured before and after the cases unless given; the faster is used), ``floor_s``
    (the weights read once at that rate) and ``x_floor`` (our time / floor_s)."""
    from .infer import (INFER_BATCHES, INFER_QUICK_BATCHES, READ_MIB, READ_QUICK_MIB,
                        infer_cases, read_bandwidth)

    threads = threads or _all_cores()
    peers = peers if peers is not None else detect_peers()
    reps, target, warmup = _defaults("infer", quick, reps, target)
    batches = batches or (INFER_QUICK_BATCHES if quick else INFER_BATCHES)
    torch = _torch(peers)
    skipped = _skipped(peers, ("torch",))
    mib = READ_QUICK_MIB if quick else READ_MIB
    recs = []
    with thread_settings(threads, peers):
        runs = [bandwidth] if bandwidth else [read_bandwidth(threads, mib)]
        _log(f"  read bandwidth: {runs[0]['read_GBps']:.1f} GB/s ({runs[0]['array_mib']} MiB)")
        for c in infer_cases(torch, batches):
            _run_case(recs, suite="infer", case=c["name"], shape=c["shape"], unit=c["unit"],
                      scale=c["scale"], work=c["work"], fns=c["fns"], reps=reps, target=target,
                      warmup=warmup, skipped={**skipped, **c["skipped"]},
                      extra={"batch_size": c["batch_size"], "arch": c["arch"],
                             "weight_bytes": c["weight_bytes"]})
        if not bandwidth:
            runs.append(read_bandwidth(threads, mib))
            _log(f"  read bandwidth again: {runs[1]['read_GBps']:.1f} GB/s")
    best = dict(max(runs, key=lambda r: r["read_Bps"]), runs=[r["read_GBps"] for r in runs])
    for r in recs:
        r["bandwidth"] = best
        r["floor_s"] = r["weight_bytes"] / best["read_Bps"]
        ours = r["sides"].get("fastmlp", {})
        if "median_s" in ours:
            r["x_floor"] = ours["median_s"] / r["floor_s"]
    return recs

# ------------------------------------------------------------------ driver --


def run_benchmarks(suites=("all",), *, threads=None, quick=False, reps=None, peers=PEERS,
                   isa=None, data_root=None, peak_seconds=None, command=None,
                   cases=None) -> dict:
    """Run the suites and return the report (what ``--json`` writes).

    Top-level keys: ``schema``, ``created`` (UTC ISO time), ``command``,
    ``machine`` (cpu_model, isa, threads, numpy_blas, threadpools, env,
    loadavg_start/end, ...), ``versions``, ``settings``, ``peak_gflops``,
    ``peers`` ({name: available, version | reason}), ``data``, ``warnings``,
    ``results`` (one record per case: suite, case, shape, unit, work, gemm,
    sides {side: median_s, q1_s, q3_s, min_s, max_s, runs, value, value_q1,
    value_q3, value_min, value_max[, pct_peak] | skipped}, ratios {peer:
    ours/peer throughput}; activation records add activation, elements, bytes,
    floor_s, x_floor, bandwidth; train variant records add variant, fused,
    fallback, x_base), ``memory_bandwidth`` (the layers suite's STREAM figures,
    or None).
    """
    import fastmlp
    from fastmlp import kernels

    if isinstance(suites, str):
        suites = [suites]
    suites = list(SUITES) if "all" in suites else [s for s in SUITES if s in suites]
    threads = int(threads or _all_cores())
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    prev_isa = fastmlp.cpu_capability()
    if isa:
        fastmlp._set_cpu_capability(isa)
    _harness.CASE_FILTER = list(cases) if cases else None
    try:
        peer_info = detect_peers(peers)
        notes = []
        for k in OPENBLAS_SLOW_VARS:
            if os.environ.get(k):
                notes.append(f"{k}={os.environ[k]} is set: it slows NumPy's OpenBLAS here; "
                             f"run with `env -u {k} ...` for fair NumPy figures")
        load0 = _loadavg()
        if load0 is not None and load0[0] > 0.5 * _all_cores():
            notes.append(f"machine busy at start: load average {load0[0]:.2f} on "
                         f"{_all_cores()} cores; figures may be noisy")
        for n in notes:
            _log(f"WARNING: {n}")
        with thread_settings(threads, peer_info):
            info = machine_info(threads)
            # a ceiling: the best of 3 short runs is the least disturbed by other load
            secs = (peak_seconds or (0.3 if quick else 0.9)) / 3
            peak = max(kernels.peak_gflops(threads, secs) for _ in range(3))
        _log(f"fastmlp bench: {info['cpu_model']}, {info['isa']}, {_n_threads(threads)}, "
             f"peak {peak:.1f} GFLOP/s (FMA loop)")
        for p, d in peer_info.items():
            if not d["available"]:
                _log(f"  {p}: skipped ({d['reason']})")
        results, data = [], {}
        kw = dict(threads=threads, quick=quick, reps=reps, peers=peer_info)
        for s in suites:
            t0 = time.perf_counter()
            _log(f"[{s}]")
            if s == "gemm":
                results += suite_gemm(peak=peak, **kw)
            elif s == "layers":
                results += suite_layers(peak=peak, **kw)
            elif s == "train":
                tr = suite_train(data_root=data_root, **kw)
                if tr:
                    data["train"] = {"source": tr[0]["data"], "samples": tr[0]["samples"]}
                results += tr
            elif s == "infer":
                results += suite_infer(**kw)
            elif s == "sklearn":  # fastmlp.sklearn beside scikit-learn (sklearn_suite.py)
                sk = suite_sklearn(data_root=data_root, **kw)
                data["sklearn"] = {r["dataset"]: {"source": r["data"], "samples": r["samples"],
                                                  "test_samples": r["test_samples"]} for r in sk}
                results += sk
                why = next((r["sides"]["fastmlp"]["skipped"] for r in sk
                            if "skipped" in r["sides"].get("fastmlp", {})), None)
                if why:
                    notes.append(f"sklearn suite: fastmlp side skipped: {why}")
            _log(f"[{s}] {time.perf_counter() - t0:.1f} s")
        info["loadavg_start"], info["loadavg_end"] = load0, _loadavg()
        return {
            "schema": SCHEMA,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "machine": info,
            "versions": _versions(peer_info),
            "settings": {"suites": suites, "quick": bool(quick), "threads": threads,
                         "isa": fastmlp.cpu_capability(),
                         "reps": {s: _defaults(s, quick, reps, None)[0] for s in suites},
                         "cases": list(cases) if cases else None,
                         "sleep_between_sides_s": SLEEP_BETWEEN_SIDES,
                         "settle": f"before each timing: >= {SLEEP_BETWEEN_SIDES} s waiting busy, then until "
                                   f"the other threads are idle, <= {SETTLE_MAX_S} s",
                         "figure": "median over reps; spread: q1..q3 (IQR) and min..max",
                         "ratio": "ours/peer throughput = peer median time / our median time"},
            "peak_gflops": peak,
            "peers": peer_info,
            "data": data,
            "memory_bandwidth": next((r["bandwidth"] for r in results
                                      if "bandwidth" in r and r["suite"] == "layers"), None),
            "read_bandwidth": next((r["bandwidth"] for r in results if r["suite"] == "infer"),
                                   None),
            "warnings": notes,
            "results": results,
        }
    finally:
        _harness.CASE_FILTER = None
        if isa:
            fastmlp._set_cpu_capability(prev_isa)
