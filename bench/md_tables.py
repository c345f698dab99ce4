"""Markdown tables of the activation and train-variant records of ``fastmlp bench --json`` files.

    python bench/md_tables.py bench/results/layers-act-2.json bench/results/train-variants-2.json

Prints, per file, the machine line (CPU, threads, load average, commit, date, command)
and a table: activations (fastmlp and PyTorch time, ratio, x of the read+write time) or
train variants (variant, SGD/ReLU, PyTorch epoch times, time/base, x PyTorch, fused).
"""
import json
import sys


def _ms(side):
    return f"{1e3 * side['median_s']:.3g}" if "median_s" in side else "skipped"


def _head(rep):
    m = rep["machine"]
    la = m.get("loadavg_start") or [float("nan")]
    le = m.get("loadavg_end") or [float("nan")]
    return (f"{m['cpu_model']}, {m['isa']}, {m['threads']} thread(s); "
            f"{rep['created']}, commit {rep['versions'].get('git_commit')}, torch "
            f"{rep['versions'].get('torch')}; load average {la[0]:.1f} at start, {le[0]:.1f} at "
            f"end\n`{rep['command']}`\n")


def activations(rep):
    recs = [r for r in rep["results"] if "activation" in r]
    if not recs:
        return ""
    bw = rep["memory_bandwidth"]
    out = [f"STREAM copy {bw['copy_GBps']:.1f} GB/s, add {bw['add_GBps']:.1f} GB/s "
           f"({bw['array_mib']} MiB arrays, best of the runs before and after: "
           + ", ".join(f"{r['copy_GBps']:.1f}/{r['add_GBps']:.1f}" for r in bw.get("runs", []))
           + ")\n",
           "| activation | shape | fastmlp ms | torch ms | x torch | read+write ms | x r+w |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in recs:
        t = r["ratios"].get("torch")
        out.append(f"| {r['activation']} | {r['shape']} | {_ms(r['sides']['fastmlp'])} | "
                   f"{_ms(r['sides'].get('torch', {}))} | "
                   f"{'-' if t is None else f'{t:.2f}'} | {1e3 * r['floor_s']:.3g} | "
                   f"{r.get('x_floor', float('nan')):.2f} |")
    return "\n".join(out) + "\n"


def variants(rep):
    recs = [r for r in rep["results"] if "variant" in r]
    if not recs:
        return ""
    out = ["| variant | batch | fastmlp s | SGD/ReLU fused s | torch s | time/base | x torch "
           "| fused |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in recs:
        v = r["variant"]
        s = r["sides"]
        t = r["ratios"].get("torch")
        fused = {True: "yes", False: f"NO ({r.get('fallback')})"}.get(r.get("fused"), "-")
        ms = {k: (f"{s[k]['median_s']:.3f}" if "median_s" in s.get(k, {}) else "skipped")
              for k in ("fastmlp", "fastmlp-base", "torch")}
        out.append(f"| {v['optimizer']}/{v['activation']} | {r['batch_size']} | "
                   f"{ms['fastmlp']} | {ms['fastmlp-base']} | {ms['torch']} | "
                   f"{r['x_base']:.3f} | " if "x_base" in r else
                   f"| {v['optimizer']}/{v['activation']} | {r['batch_size']} | "
                   f"{ms['fastmlp']} | {ms['fastmlp-base']} | {ms['torch']} | - | ")
        out[-1] += f"{'-' if t is None else f'{t:.2f}'} | {fused} |"
    return "\n".join(out) + "\n"


def main(paths):
    for p in paths:
        with open(p) as f:
            rep = json.load(f)
        print(f"**{p}**: " + _head(rep))
        print(activations(rep) + variants(rep))


if __name__ == "__main__":
    main(sys.argv[1:])
