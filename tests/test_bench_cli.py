"""Smoke test: ``fastmlp bench --quick --json PATH`` runs every suite and writes the report.

Runs ``python -m fastmlp bench ...`` in a subprocess when the CLI module
exists, else ``fastmlp.tools.bench.run`` on the same parsed arguments. Takes about
half a minute on 2 cores; PyTorch / scikit-learn are used when installed and
reported as skipped otherwise (the test passes either way).
"""
import argparse
import contextlib
import copy
import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp.tools import bench

PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
HAS_CLI = all(importlib.util.find_spec(m) is not None for m in ("fastmlp.tools.cli", "fastmlp.__main__"))

TOP_KEYS = {"schema", "created", "command", "machine", "versions", "settings", "peak_gflops",
            "peers", "data", "warnings", "results"}
STAT_KEYS = {"median_s", "q1_s", "q3_s", "min_s", "max_s", "runs", "value", "value_q1",
             "value_q3", "value_min", "value_max"}


def _bench(*argv):
    """``fastmlp bench *argv`` -> (exit status, printed output)."""
    if HAS_CLI:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [PKG_PARENT, os.environ.get("PYTHONPATH")])))
        p = subprocess.run([sys.executable, "-m", "fastmlp", "bench", *argv], env=env,
                           capture_output=True, text=True, timeout=300)
        return p.returncode, p.stdout + p.stderr
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = bench.run(parser.parse_args(list(argv)))
    return status, out.getvalue()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "quick.json"
    status, out = _bench("--quick", "--json", str(path))
    assert status == 0, out[-4000:]
    with open(path) as f:
        return json.load(f), out, path


def test_quick_json(quick):
    report, out, _ = quick
    assert TOP_KEYS <= set(report), set(report) ^ TOP_KEYS
    assert report["schema"] == bench.SCHEMA
    m = report["machine"]
    assert {"cpu_model", "isa", "threads", "numpy_blas", "env", "loadavg_start"} <= set(m)
    assert m["isa"] == fastmlp.cpu_capability() and m["threads"] >= 1
    assert set(m["env"]) >= {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    assert {"fastmlp", "numpy", "torch", "sklearn"} <= set(report["versions"])
    assert report["peak_gflops"] > 0
    for p in ("numpy", "torch", "sklearn"):  # each peer ran, or says why not
        d = report["peers"][p]
        assert d["available"] or d["reason"], d
    assert report["peers"]["numpy"]["available"]

    res = report["results"]
    sk = {"sklearn"} if report["peers"]["sklearn"]["available"] else set()
    assert {r["suite"] for r in res} == {"gemm", "layers", "train", "infer"} | sk
    assert report["settings"]["quick"] is True
    res = [r for r in res if r["suite"] != "sklearn"]  # test_sklearn_suite_plumbing's
    for r in res:
        # the activation and train-variant cases have no NumPy side; a variant whose
        # optimizer or activation is not in this build has its fastmlp side skipped
        new = "activation" in r or "variant" in r
        for side in ("fastmlp",) if new else ("fastmlp", "numpy"):
            s = r["sides"][side]
            if new and "skipped" in s:
                assert s["skipped"], r
                continue
            assert STAT_KEYS <= set(s), (r["case"], side, s)
            assert s["runs"] >= 3 and 0 < s["min_s"] <= s["median_s"] <= s["max_s"]
            assert s["value_q1"] <= s["value"] <= s["value_q3"]
        if not new:
            assert r["ratios"]["numpy"] > 0
        if r["gemm"]:
            assert 0 < r["sides"]["fastmlp"]["pct_peak"]
        for p in ("torch", "sklearn"):
            if p in r["sides"] and not report["peers"][p]["available"]:
                assert "skipped" in r["sides"][p]
    assert any(r["gemm"] for r in res if r["suite"] == "layers")
    train = [r for r in res if r["suite"] == "train"]
    assert {r["batch_size"] for r in train} == {64, 256}
    assert report["data"]["train"]["source"]
    for title in ("== gemm", "== layers", "== train", "xnumpy", "% peak", "x r+w", "time/base",
                  "STREAM copy", "== infer"):
        assert title in out


def test_quick_activations(quick):
    """Every registered activation (and gelu_tanh when GELU takes approximate) has a
    fwd+bwd record at the two --quick shapes, with the bandwidth it is held against
    and its multiple of the read+write time; PyTorch ran or says why not."""
    from fastmlp.functional import ACTIVATIONS

    report, out, _ = quick
    bw = report["memory_bandwidth"]
    assert bw and bw["copy_GBps"] > 0 and bw["add_GBps"] > 0 and bw["array_mib"] >= 128
    assert bw["threads"] == report["machine"]["threads"] and len(bw["runs"]) == 2
    acts = [r for r in report["results"] if "activation" in r]
    names = set(ACTIVATIONS)
    if "approximate" in {getattr(p, "name", None)
                         for p in getattr(ACTIVATIONS.get("gelu"), "params", ())}:
        names.add("gelu_tanh")
    assert {r["activation"] for r in acts} == names
    assert {(r["activation"], r["shape"]) for r in acts} == {
        (n, s) for n in names for s in ("64x128", "256x1024")}
    for r in acts:
        assert r["suite"] == "layers" and r["case"] == f"{r['activation']} fwd+bwd"
        n = int(r["shape"].split("x")[0]) * int(r["shape"].split("x")[1])
        assert r["elements"] == n and r["bytes"] == 20 * n
        assert r["saves"] in ("input", "output")
        assert r["floor_s"] == pytest.approx(8 * n / bw["copy_Bps"] + 12 * n / bw["add_Bps"])
        assert r["x_floor"] == pytest.approx(r["sides"]["fastmlp"]["median_s"] / r["floor_s"])
        t = r["sides"]["torch"]
        if report["peers"]["torch"]["available"] and r["activation"] != "identity":
            assert "median_s" in t, t
            assert r["ratios"]["torch"] > 0
        else:
            assert t["skipped"]
    assert "relu fwd+bwd" in out


def test_quick_train_variants(quick):
    """The train variants (Adam/ReLU, SGD/GELU, Adam/GELU) at both batch sizes, each with
    the SGD/ReLU fused epoch of the same run and whether it ran fused; a variant this
    build cannot build is skipped with the reason."""
    from fastmlp import optim

    report, _, _ = quick
    recs = [r for r in report["results"] if "variant" in r]
    assert {(r["variant"]["optimizer"], r["variant"]["activation"], r["batch_size"])
            for r in recs} == {(o, a, b) for o, a in bench.TRAIN_VARIANTS for b in (64, 256)}
    for r in recs:
        ours = r["sides"]["fastmlp"]
        if "skipped" in ours:
            assert "not in this build" in ours["skipped"] and r["fused"] is None
            assert "skipped" in r["sides"]["fastmlp-base"]
            continue
        assert "median_s" in r["sides"]["fastmlp-base"]
        assert r["x_base"] == pytest.approx(ours["median_s"]
                                            / r["sides"]["fastmlp-base"]["median_s"])
        assert isinstance(r["fused"], bool) and (r["fallback"] is None) is r["fused"]
        if r["variant"] == {"optimizer": "adam", "activation": "relu"}:
            assert hasattr(optim, "Adam") and r["fused"]  # fused on main already
        if report["peers"]["torch"]["available"]:
            assert r["ratios"]["torch"] > 0


def test_compare_flags_regression(quick, tmp_path):
    report, _, path = quick
    text, regressions = bench.compare(report, report, 10.0)
    assert regressions == [] and "no regression" in text

    # an earlier run in which our GEMM ran at ten times this machine's FMA peak: every
    # GEMM of any later run is then a regression beyond 10%. (Twice this run's figures
    # was not enough: on a loaded host one quick figure came out 50x below the rerun's.)
    old = copy.deepcopy(report)
    for r in old["results"]:
        if r["suite"] == "gemm":
            r["sides"]["fastmlp"]["value"] = 10.0 * (report.get("peak_gflops") or 1e4)
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old))
    _, regressions = bench.compare(old, report, 10.0)
    assert regressions and all(r["suite"] == "gemm" for r in regressions)
    status, out = _bench("gemm", "--quick", "--reps", "3", "--peers", "numpy",
                         "--compare", str(old_path), "--threshold", "10")
    assert status == 1, out
    assert "REGRESSION" in out
    status, out = _bench("gemm", "--quick", "--compare", str(tmp_path / "missing.json"))
    assert status == 2, out


def test_cases_filter():
    """--cases runs only the cases whose name or shape contains one of the substrings."""
    status, out = _bench("layers", "--quick", "--reps", "3", "--peers", "numpy",
                         "--cases", "relu fwd+bwd,ReLU bwd")
    assert status == 0, out
    rows = [ln.split("  ")[0] for ln in out.splitlines()
            if ln.startswith(("Linear", "ReLU", "relu", "cross"))]
    assert rows and set(rows) == {"ReLU bwd", "relu fwd+bwd"}, rows


@pytest.mark.skipif(bench.resource is None, reason="no resource module: settle() only sleeps")
def test_settle_waits_for_spinning_threads():
    """settle() returns once the process's other threads stop using the CPU:
    after min_s when nothing spins, and not before a spinning thread stops."""
    import threading
    import time

    assert bench.settle(0.02, max_s=1.0) < 0.5
    stop = time.perf_counter() + 0.3

    def spin():  # a worker thread burning CPU for 0.3 s, as OpenBLAS's do after a call
        x = 0
        while time.perf_counter() < stop:
            x += 1

    t = threading.Thread(target=spin)
    t0 = time.perf_counter()
    t.start()
    waited = bench.settle(0.02, max_s=2.0)
    t.join()
    assert time.perf_counter() - t0 >= 0.25 and waited >= 0.2, waited
    assert waited < 1.5  # it noticed the thread stop, rather than running out its time


@pytest.mark.skipif(not hasattr(bench.resource, "RUSAGE_THREAD"), reason="needs RUSAGE_THREAD (Linux)")
def test_settle_waits_busy_when_it_is_the_only_python_thread():
    """settle() keeps the core (a sleep would give it away: bench/results/README.md
    "### settle: sleeping gives the core away") when no other Python thread needs the
    GIL, and still waits at least min_s. A thread that sleeps makes a voluntary context
    switch (checked on time.sleep itself); a busy wait makes none (preemption by a
    loaded host counts as involuntary)."""
    import threading
    import time

    if threading.active_count() > 1:
        pytest.skip("another Python thread runs in this process: settle() sleeps then")
    res = bench.resource

    def voluntary():
        return res.getrusage(res.RUSAGE_THREAD).ru_nvcsw

    v0 = voluntary()
    time.sleep(0.01)
    assert voluntary() > v0  # the measure sees a sleep
    v0, t0 = voluntary(), time.perf_counter()
    waited = bench.settle(0.1, max_s=0.5)
    assert voluntary() == v0
    assert waited >= 0.1 and time.perf_counter() - t0 >= 0.1


# ---------------------------------------------------------------- sklearn suite --


def test_sklearn_suite_plumbing():
    """The sklearn suite on every dataset (--quick sizes), with fastmlp.sklearn's
    estimators on the fastmlp side, or scikit-learn's own there when ours is not
    importable: then both sides fit the same estimator with the same seeds, so their
    scores must agree seed by seed, which checks that the seeds line up."""
    pytest.importorskip("sklearn", reason="scikit-learn is not installed "
                        "(pip install 'fastmlp[test]' brings it)")
    ours, why = bench.sklearn_suite.fastmlp_estimators()
    twin = ours is None
    if twin:
        ours = bench.sklearn_suite.sklearn_estimators()
    recs = bench.suite_sklearn(threads=1, quick=True, reps=2, ours=ours)
    cases = [r["case"] for r in recs]
    assert cases == ["fit fashion-mnist", "predict_proba fashion-mnist",
                     "predict_proba fashion-mnist float64",  # lean: float64 test rows
                     "fit fashion-mnist-float64", "predict_proba fashion-mnist-float64",
                     "fit digits", "predict_proba digits", "fit diabetes", "predict diabetes"], cases
    for r in recs:
        assert r["suite"] == "sklearn" and r["dataset"] in r["case"]
        for side in ("fastmlp", "sklearn"):
            st = r["sides"][side]
            assert STAT_KEYS <= set(st), (r["case"], side, st)
            assert st["runs"] == 2 and 0 < st["min_s"] <= st["median_s"] <= st["max_s"]
        assert r["ratios"]["sklearn"] > 0
        if r["case"].startswith("fit"):
            assert len(r["seeds"]) >= 3 and r["seeds"][0] == 0  # warm-up seed 0, then 1, 2
            lo = -np.inf if r["dataset"] == "diabetes" else 0.0
            for side in ("fastmlp", "sklearn"):
                assert lo <= r["score"][side] <= 1.0 and r["n_iter"][side] >= 1
            if twin:
                a, b = r["scores"]["fastmlp"], r["scores"]["sklearn"]
                assert {k: a[k] for k in b if k in a} == {k: b[k] for k in a if k in b}
    text = bench.format_report({"machine": {"cpu_model": "x", "isa": "y", "threads": 1},
                                "versions": {"fastmlp": "0"}, "peak_gflops": 1.0, "peers": {},
                                "settings": {"reps": {"sklearn": 2}}, "results": recs,
                                "data": {"sklearn": {r["dataset"]: {"source": r["data"],
                                                                    "samples": r["samples"],
                                                                    "test_samples": 1}
                                                     for r in recs}}})
    assert "== sklearn" in text and "score (fastmlp/sklearn)" in text and "fit digits" in text


def test_sklearn_suite_cases_and_missing_estimators():
    """``fastmlp bench sklearn --cases digits`` runs only the digits cases; when
    fastmlp.sklearn is not importable the fastmlp side says so as its skip reason."""
    pytest.importorskip("sklearn", reason="scikit-learn is not installed "
                        "(pip install 'fastmlp[test]' brings it)")
    status, out = _bench("sklearn", "--quick", "--reps", "2", "--threads", "1", "--cases",
                         "digits")
    assert status == 0, out[-4000:]
    rows = [ln.split("  ")[0] for ln in out.splitlines() if ln.startswith(("fit ", "predict"))]
    assert rows == ["fit digits", "predict_proba digits"], rows
    ours, why = bench.sklearn_suite.fastmlp_estimators()
    if ours is None:
        assert "fastmlp.sklearn is not importable" in out and "skipped" in out
