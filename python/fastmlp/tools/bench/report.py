"""The output of ``fastmlp bench``: the table, the comparison with an earlier run, the plot."""
from __future__ import annotations

import numpy as np

from .harness import OURS, PEERS, RATIO_SIDES, SIDE_ORDER, SUITES


def _n_threads(n) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def _num(v: float) -> str:
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(s: dict) -> str:
    if not s:
        return ""
    if "skipped" in s:
        return "skipped"
    half_iqr = 50.0 * (s["value_q3"] - s["value_q1"]) / s["value"]
    return f"{_num(s['value'])} ±{half_iqr:.0f}%"


def _table(header, rows) -> str:
    w = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w[i]) if i < 3 else str(c).rjust(w[i]) for i, c in enumerate(r)).rstrip()
    return "\n".join([line(header), line(["-" * x for x in w])] + [line(r) for r in rows])


def format_report(report: dict) -> str:
    """The terminal table: per suite, each side's median (± half the IQR), ratios, % peak."""
    m = report["machine"]
    out = [f"fastmlp {report['versions']['fastmlp']} bench: {m['cpu_model']}, ISA {m['isa']}, "
           f"{_n_threads(m['threads'])}, peak {report['peak_gflops']:.1f} GFLOP/s (FMA loop); "
           f"NumPy BLAS {m.get('numpy_blas')}"]
    if m.get("loadavg_start"):
        out.append(f"load average at start {m['loadavg_start'][0]:.2f}, at end "
                   f"{m['loadavg_end'][0]:.2f}")
    for p, d in report["peers"].items():
        out.append(f"{p}: {d['version']}" if d["available"] else f"{p}: skipped ({d['reason']})")
    for w in report.get("warnings", []):
        out.append(f"WARNING: {w}")
    for suite in SUITES:
        recs = [r for r in report["results"] if r["suite"] == suite]
        if not recs:
            continue
        sides = [s for s in SIDE_ORDER if any(s in r["sides"] for r in recs)]
        peers = [p for p in RATIO_SIDES if any(p in r["ratios"] for r in recs)]
        has_peak = any(r["gemm"] for r in recs)
        has_floor = any("floor_s" in r for r in recs)
        has_base = any("x_base" in r or "variant" in r for r in recs)
        header = ["case", "shape", "unit"] + sides + [f"x{p}" for p in peers]
        if has_peak:
            header.append("% peak (" + "/".join(s for s in sides) + ")")
        if has_floor:
            header.append("x r+w")
        if has_base:
            header += ["time/base", "fused"]
        has_score = any("score" in r for r in recs)  # the sklearn suite's fit cases
        if has_score:
            score_sides = [s for s in sides if any(s in r.get("score", {}) for r in recs)]
            header += ["score (" + "/".join(score_sides) + ")", "n_iter"]
        rows = []
        for r in recs:
            row = [r["case"], r["shape"], r["unit"]] + [_cell(r["sides"].get(s, {})) for s in sides]
            row += [f"{r['ratios'][p]:.2f}" if p in r["ratios"] else "-" for p in peers]
            if has_peak:
                row.append("/".join(f"{r['sides'][s]['pct_peak']:.0f}"
                                    if "pct_peak" in r["sides"].get(s, {}) else "-"
                                    for s in sides) if r["gemm"] else "")
            if has_floor:
                row.append(f"{r['x_floor']:.2f}" if "x_floor" in r else "")
            if has_base:
                row.append(f"{r['x_base']:.3f}" if "x_base" in r else "")
                row.append({True: "yes", False: "NO"}.get(r.get("fused"), ""))
            if has_score:
                sc, it = r.get("score", {}), r.get("n_iter", {})
                row.append("/".join(f"{sc[s]:.4f}" if s in sc else "-" for s in score_sides)
                           if sc else "")
                row.append("/".join(f"{it[s]:.0f}" if s in it else "-" for s in score_sides)
                           if it else "")
            rows.append(row)
        reps = report["settings"]["reps"].get(suite)
        title = f"\n== {suite}: median of {reps} interleaved runs ± half the IQR; " \
                f"xPEER = ours/peer throughput (>1: fastmlp faster)"
        if suite == "infer" and has_floor:
            bw = next(r["bandwidth"] for r in recs if "bandwidth" in r)
            title += f"\n   fastmlp = model(x) under no_grad (the one-call forward), torch = " \
                     f"eager under inference_mode, numpy = x @ W.T + b, max(., 0); x r+w = our " \
                     f"time / the time to read the weights once at {bw['read_GBps']:.1f} GB/s " \
                     f"(np.max over {bw['array_mib']} MiB, {_n_threads(bw['threads'])})"
        if suite == "layers" and has_floor:
            bw = next(r["bandwidth"] for r in recs if "bandwidth" in r)
            title += f"\n   activations: fwd+bwd on preallocated arrays (torch: the ATen ops " \
                     f"F.<name> and autograd call, out= forms); x r+w = our time / the time " \
                     f"to read and write" \
                     f"\n   the arrays once (20 bytes/element) at the measured bandwidth: " \
                     f"STREAM copy {bw['copy_GBps']:.1f} GB/s, add {bw['add_GBps']:.1f} GB/s " \
                     f"({bw['array_mib']} MiB arrays, {_n_threads(bw['threads'])})"
        if suite == "train":
            d = report.get("data", {}).get("train", {})
            title += f"\n   data: {d.get('source')}, {d.get('samples')} samples; " \
                     f"fastmlp = train_epoch (fused C++), fastmlp-u8 = the same on the uint8 " \
                     f"images (normalize=True)," \
                     f"\n   fastmlp-loop = the seed script via fastmlp's nn/optim" \
                     f"\n   torch = the seed script on in-memory tensor batches, torch-loader = " \
                     f"the seed script as written (torch DataLoader)"
            if has_base:
                title += "\n   variants (epoch <optimizer>/<activation>): fastmlp = that " \
                         "recipe fused, fastmlp-base = the SGD/ReLU fused epoch in the same " \
                         "run, torch = that recipe on tensor batches;" \
                         "\n   time/base = variant time / SGD-ReLU time; fused = whether " \
                         "train_epoch ran it in C++ (else the DEBUG fallback reason is in " \
                         "the JSON)"
        if suite == "sklearn":
            d = report.get("data", {}).get("sklearn", {})
            title += "\n   fastmlp = fastmlp.sklearn's estimator, sklearn = scikit-learn's, " \
                     "same data and parameters; fit/s: one fit per run (seed = run);" \
                     "\n   score = test accuracy (R² for diabetes), mean over the seeds both " \
                     "sides fitted; n_iter = mean n_iter_; data: " + \
                     ", ".join(f"{k} {v['source']} {v['samples']}+{v['test_samples']} rows"
                               for k, v in d.items())
        out += [title, _table(header, rows)]
    return "\n".join(out)


def compare(old: dict, new: dict, threshold: float = 10.0):
    """Change of every figure vs an earlier report; ``(text, regressions)``.

    A regression is one of our figures (``fastmlp``, ``fastmlp-loop``) whose
    median throughput fell by more than ``threshold`` percent. Peers' change
    is shown beside it: when they moved alike, the machine did.
    """
    index = {(r["suite"], r["case"], r["shape"]): r for r in old.get("results", [])}
    rows, regressions = [], []
    for r in new["results"]:
        o = index.get((r["suite"], r["case"], r["shape"]))
        if o is None:
            continue
        chg = {}
        for side, s in r["sides"].items():
            os_ = o["sides"].get(side, {})
            if "value" in s and "value" in os_ and os_["value"] > 0:
                chg[side] = (s["value"], os_["value"], 100.0 * (s["value"] / os_["value"] - 1))
        for side in OURS:
            if side not in chg:
                continue
            newv, oldv, pct = chg[side]
            bad = pct < -threshold
            peer_chg = ", ".join(f"{p} {chg[p][2]:+.0f}%" for p in PEERS if p in chg)
            rows.append([r["suite"], r["case"], r["shape"], side, _num(oldv), _num(newv),
                         f"{pct:+.1f}%", peer_chg, "REGRESSION" if bad else ""])
            if bad:
                regressions.append({"suite": r["suite"], "case": r["case"], "shape": r["shape"],
                                    "side": side, "old": oldv, "new": newv, "change_pct": pct})
    lines = [f"\n== compare with {old.get('created', '?')} (threshold -{threshold:g}%)"]
    om, nm = old.get("machine", {}), new.get("machine", {})
    for k in ("cpu_model", "isa", "threads"):
        if om.get(k) != nm.get(k):
            lines.append(f"NOTE: {k} differs: {om.get(k)} then, {nm.get(k)} now")
    if rows:
        lines.append(_table(["suite", "case", "shape", "side", "old", "new", "change",
                             "peers' change", ""], rows))
    else:
        lines.append("no case in common with the earlier run")
    lines.append(f"{len(regressions)} regression(s) beyond {threshold:g}%" if regressions
                 else "no regression beyond the threshold")
    return "\n".join(lines), regressions


def plot(report: dict, path: str) -> None:
    """GFLOP/s of every GEMM shape for each side, by size, the peak as a line (matplotlib).

    Shapes are spaced evenly along x in order of their FLOP count (several
    shapes share a size); markers are medians, bars the interquartile range.
    """
    from matplotlib.figure import Figure

    recs = sorted((r for r in report["results"] if r["suite"] == "gemm"),
                  key=lambda r: (r["work"], r["shape"]))
    if not recs:
        raise ValueError("no gemm results to plot (run the gemm suite)")
    m = report["machine"]
    fig = Figure(figsize=(12, 7), layout="constrained")
    ax = fig.subplots()
    styles = {"fastmlp": ("C3", "o", -0.22, "fastmlp sgemm"),
              "numpy": ("C0", "s", 0.0, f"NumPy matmul ({m.get('numpy_blas')})"),
              "torch": ("C2", "^", 0.22, f"torch.mm {report['versions'].get('torch')}")}
    top = report["peak_gflops"]
    for side, (color, marker, dx, label) in styles.items():
        pts = [(i, r["sides"][side]) for i, r in enumerate(recs)
               if "value" in r["sides"].get(side, {})]
        if not pts:
            continue
        x = np.array([i + dx for i, _ in pts])
        y = np.array([s["value"] for _, s in pts])
        err = np.array([[s["value"] - s["value_q1"] for _, s in pts],
                        [s["value_q3"] - s["value"] for _, s in pts]])
        ax.errorbar(x, y, yerr=err, color=color, marker=marker, ms=7, ls="none", elinewidth=1.2,
                    capsize=3, label=label)
        ax.plot(x, y, color=color, lw=0.8, alpha=0.35)
        top = max(top, float(np.max(y)))
    peak = report["peak_gflops"]
    ax.axhline(peak, color="k", ls="--", lw=1.2)
    ax.text(0.005, peak, f" peak {peak:.0f} GFLOP/s (FMA loop, {_n_threads(m['threads'])})",
            transform=ax.get_yaxis_transform(), va="bottom", fontsize=9)
    ax.set_xticks(range(len(recs)))
    ax.set_xticklabels([f"{r['shape']}\n{r['case']}, {r['work'] / 1e9:.3g} GFLOP" for r in recs],
                       rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.6, len(recs) - 0.4)
    ax.set_ylim(0, top * 1.12)
    ax.set_xlabel("GEMM shape M x K x N with op(A) op(B) (T = transposed), in order of size "
                  "(GFLOP per call = 2·M·N·K)")
    ax.set_ylabel("GFLOP/s (median; bars: interquartile range)")
    load = m.get("loadavg_start")
    ax.set_title(f"SGEMM throughput: {m['cpu_model']}, fastmlp {m['isa']} path, "
                 f"{_n_threads(m['threads'])}, {report['created'][:10]}"
                 + (f" (load average {load[0]:.1f} at start)" if load else ""), fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=9, frameon=False)
    fig.savefig(path, dpi=110)
