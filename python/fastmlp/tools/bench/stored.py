"""Stored results per CPU: ``bench/results/<cpu-id>/`` and ``fastmlp bench --compare``.

``<cpu-id>`` is :func:`fastmlp.tools.machine.cpu_id` (vendor, family, model,
best ISA path: what a VM's model string may hide). ``--store`` adds this run's
JSON there (never moving or replacing a file); ``--compare`` without a file
compares against every stored run of the same CPU, suite case, thread count and
ISA path.

Noise, per figure: the larger of this run's relative interquartile range
((q3 - q1) / median over its timed repetitions), each stored run's, and the
relative spread of the stored runs' medians (max / min - 1: the repeated runs).
A figure is slower beyond noise when its median throughput is below the stored
runs' median by more than twice that noise, and by at least ``floor`` percent.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

__all__ = ["results_root", "store", "load_stored", "compare_stored"]

OURS = ("fastmlp", "fastmlp-loop")


def results_root() -> Path:
    """The checkout's ``bench/results`` when fastmlp runs from one, else ``./bench/results``."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "bench" / "results"
        if cand.is_dir() and (parent / "csrc").is_dir():
            return cand
    return Path.cwd() / "bench" / "results"


def store(report: dict, root: Path | None = None) -> Path:
    """Write ``report`` to ``<root>/<cpu-id>/<suites>-<threads>t-<isa>-<UTC time>.json``; a new
    file (a suffix is added rather than overwrite)."""
    m = report["machine"]
    d = Path(root or results_root()) / m["cpu_id"]
    d.mkdir(parents=True, exist_ok=True)
    suites = "-".join(sorted({r["suite"] for r in report["results"]})) or "none"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = f"{suites}-{m['threads']}t-{m['isa']}-{stamp}"
    path, i = d / f"{base}.json", 1
    while path.exists():
        i += 1
        path = d / f"{base}-{i}.json"
    with open(path, "x") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    return path


def load_stored(cpu_id: str, root: Path | None = None) -> list:
    """Every stored report (a dict with ``results``) of this CPU, oldest first."""
    d = Path(root or results_root()) / cpu_id
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            with open(p) as f:
                rep = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(rep, dict) and "results" in rep:
            rep["_path"] = str(p)
            out.append(rep)
    return out


def _rel_iqr(side: dict) -> float:
    v, q1, q3 = side.get("value"), side.get("value_q1"), side.get("value_q3")
    if not v or q1 is None or q3 is None:
        return 0.0
    return abs(q3 - q1) / v


def compare_stored(stored: list, new: dict, floor: float = 3.0):
    """``(text, regressions)`` of ``new`` against the stored runs of the same CPU with the
    same threads and ISA path (module docstring: the noise rule)."""
    m = new["machine"]
    same = [r for r in stored if r.get("machine", {}).get("threads") == m["threads"]
            and r.get("machine", {}).get("isa") == m["isa"]]
    lines = [f"\n== compare with {len(same)} stored run(s) of {m['cpu_id']} "
             f"({m['threads']} threads, {m['isa']}): slower beyond 2 x noise and {floor:g}%"]
    if not same:
        lines.append("no stored run of this CPU with these threads and ISA path: nothing to "
                     "compare (store this one with --store)")
        return "\n".join(lines), []
    rows, regressions = [], []
    for r in new["results"]:
        key = (r["suite"], r["case"], r["shape"])
        for side in OURS:
            s = r["sides"].get(side, {})
            if "value" not in s:
                continue
            olds = [o for rep in same for o in rep["results"]
                    if (o["suite"], o["case"], o["shape"]) == key and "value" in o["sides"].get(side, {})]
            if not olds:
                continue
            vals = [o["sides"][side]["value"] for o in olds]
            ref = statistics.median(vals)
            noise = max([_rel_iqr(s)] + [_rel_iqr(o["sides"][side]) for o in olds]
                        + [max(vals) / min(vals) - 1 if min(vals) > 0 else 0.0])
            pct = 100.0 * (s["value"] / ref - 1) if ref > 0 else 0.0
            limit = max(floor, 200.0 * noise)
            bad = pct < -limit
            rows.append(f"{r['suite']:6s} {r['case'][:24]:24s} {r['shape']:20s} {side:12s} "
                        f"{ref:9.2f} {s['value']:9.2f} {pct:+7.1f}%  noise {100 * noise:5.1f}%"
                        + ("  SLOWER" if bad else ""))
            if bad:
                regressions.append({"suite": r["suite"], "case": r["case"], "shape": r["shape"],
                                    "side": side, "stored": ref, "new": s["value"],
                                    "change_pct": pct, "noise_pct": 100 * noise})
    lines.append(f"{'suite':6s} {'case':24s} {'shape':20s} {'side':12s} {'stored':>9s} "
                 f"{'now':>9s} {'change':>8s}")
    lines += rows or ["no case in common with the stored runs"]
    lines.append(f"{len(regressions)} figure(s) slower beyond noise" if regressions
                 else "no figure slower beyond noise")
    lines.append("stored: " + ", ".join(os.path.basename(r["_path"]) for r in same))
    return "\n".join(lines), regressions
