"""``fastmlp bench``'s command line: its options and what runs them."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from ..cli import _float_type, _int_type, _threads_type
from .harness import PEERS, SUITES, _all_cores
from .report import compare, format_report, plot
from .suites import run_benchmarks


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``fastmlp bench``'s options to ``parser`` (a subparser)."""
    parser.description = (
        "Benchmark fastmlp against NumPy (always), PyTorch and scikit-learn (when installed)\n"
        "on this machine, interleaved, at the same thread count; every figure is the median\n"
        "of repeated timings, shown with its spread.")
    parser.epilog = (
        "examples:\n"
        "  fastmlp bench --quick\n"
        "  fastmlp bench all --json bench/results/all.json --plot bench/results/gemm.png\n"
        "  fastmlp bench gemm --compare bench/results/all.json --threshold 10   (exit 1 on a "
        "regression)\n"
        "  fastmlp bench infer --threads 1   (forward only, vs torch.inference_mode and NumPy)\n"
        "NumPy's OpenBLAS is slower with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE set: unset them "
        "for the run (env -u ...).")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("suite", nargs="?", default="all", choices=SUITES + ("all",),
                        help="which suite to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced set (4 GEMM shapes, batch 64 layers, a 2048-sample epoch,"
                             " inference at batch 1 and 64, sklearn fits of 2-5 iterations), fewer"
                             " runs: about a minute")
    parser.add_argument("--threads", type=_threads_type(), default=None, metavar="N",
                        help=f"threads for every side (default: all cores, {_all_cores()} here)")
    parser.add_argument("--reps", type=_int_type(1, 10**6), default=None, metavar="N",
                        help="timed runs per figure (default: 11, train and sklearn 5; --quick 5, "
                             "train 3, sklearn 2)")
    parser.add_argument("--peers", default=",".join(PEERS), metavar="LIST",
                        help="comma-separated peers among numpy,torch,sklearn (numpy always runs)")
    parser.add_argument("--cases", default=None, metavar="LIST",
                        help="run only the cases whose name or shape contains one of these "
                             "comma-separated substrings (e.g. 'fwd+bwd' for the activations, "
                             "'adam,gelu' for the train variants, 'digits' or 'fit' for the "
                             "sklearn suite)")
    parser.add_argument("--isa", choices=("avx512", "avx2", "generic"), default=None,
                        help="force fastmlp's kernel path (default: the best this CPU runs)")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="where to look first for Fashion-MNIST (train and sklearn suites; never "
                             "downloads)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="write every figure and the machine info as JSON")
    parser.add_argument("--plot", default=None, metavar="PATH.png",
                        help="plot GFLOP/s vs GEMM size with the peak (needs matplotlib)")
    parser.add_argument("--compare", nargs="?", const="", default=None, metavar="OLD.json",
                        help="print the change vs an earlier --json run; exit 1 on a regression. "
                             "Without a file: vs every stored run of this CPU under "
                             "bench/results/<cpu-id>/ (same threads and ISA path), flagging "
                             "figures slower beyond noise (fastmlp.tools.bench.stored)")
    # blk: per-CPU stored results
    parser.add_argument("--store", action="store_true",
                        help="add this run's JSON to bench/results/<cpu-id>/ (a new file)")
    parser.add_argument("--results-dir", default=None, metavar="DIR",
                        help="--store/--compare: the results root (default: the checkout's "
                             "bench/results)")
    parser.add_argument("--threshold", type=_float_type(0.0, strict=False), default=10.0,
                        metavar="PCT",
                        help="--compare: regression threshold in percent (default: 10)")
    return parser


def run(args) -> int:
    """Run ``fastmlp bench`` with parsed ``args``; returns the exit status."""
    old = None
    if args.compare:  # a file; "" (no file): the stored runs of this CPU, after the run
        try:
            with open(args.compare) as f:
                old = json.load(f)
            if not isinstance(old, dict) or "results" not in old:
                raise ValueError("no 'results' key: not a fastmlp bench JSON file")
        except (OSError, ValueError) as e:
            print(f"fastmlp bench: error: --compare {args.compare}: {e}", file=sys.stderr)
            return 2
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("fastmlp bench: error: --plot needs matplotlib: pip install matplotlib "
                  "(or pip install 'fastmlp[bench]')", file=sys.stderr)
            return 2
    if args.threads is not None and args.threads < 1:
        print(f"fastmlp bench: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    peers = [p.strip() for p in (args.peers or "").split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        print(f"fastmlp bench: error: unknown peer(s) {unknown}; choose from {list(PEERS)}",
              file=sys.stderr)
        return 2
    report = run_benchmarks([args.suite], threads=args.threads, quick=args.quick, reps=args.reps,
                            peers=peers, isa=args.isa, data_root=args.data_root,
                            command=_command_line(),
                            cases=[c.strip() for c in (args.cases or "").split(",") if c.strip()])
    print(format_report(report), flush=True)
    if args.json:
        d = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(d, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
        print(f"\nwrote {args.json}")
    if args.plot:
        if any(r["suite"] == "gemm" for r in report["results"]):
            plot(report, args.plot)
            print(f"wrote {args.plot}")
        else:
            print("--plot: no gemm results in this run (plot needs the gemm suite)",
                  file=sys.stderr)
    # blk: per-CPU stored results
    from .stored import compare_stored, load_stored, store
    root = args.results_dir
    stored = load_stored(report["machine"]["cpu_id"], root) if args.compare == "" else None
    if args.store:
        print(f"\nstored {store(report, root)}")
    if old is not None:
        text, regressions = compare(old, report, args.threshold)
        print(text)
        if regressions:
            return 1
    if stored is not None:
        text, regressions = compare_stored(stored, report)
        print(text)
        if regressions:
            return 1
    return 0


def _command_line() -> str:
    argv0 = os.path.basename(sys.argv[0])
    in_bench = os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0]))) == "bench"
    if argv0 == "__main__.py" and in_bench:  # python -m fastmlp.tools.bench
        words = ["fastmlp", "bench"] + sys.argv[1:]
    elif argv0 in ("fastmlp", "__main__.py", "cli.py"):
        words = ["fastmlp"] + sys.argv[1:]
    elif argv0 == "bench.py":
        words = ["fastmlp", "bench"] + sys.argv[1:]
    else:
        words = sys.argv
    return " ".join(shlex.quote(w) for w in words)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastmlp bench",
                                     description="Benchmark fastmlp against NumPy, PyTorch and "
                                                 "scikit-learn on this machine.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
