"""Data-parallel scaling on this machine (issue 13), one command:

    python bench/distributed_scaling.py [--json OUT] [--rounds 3] [--epochs 1]

Side by side in one run, interleaved round by round (so slow phases of a shared
machine hit every configuration alike): the seed network (784-128-10, ReLU, SGD lr
0.01, cross-entropy, uint8 rows normalised on the fly as `fastmlp train` does) on
60000 random 28x28 images, at global batch 64 and 256, as

    1x1: one process, 1 OpenMP thread
    1x2: one process, 2 OpenMP threads
    2x1: `mpirun -np 2`, 1 OpenMP thread per rank (fastmlp.train_epoch(comm=))

throughput (samples/s, the median over the rounds of the timed epochs) and scaling
efficiency = throughput / (workers x 1x1's). Then the gradient allreduce on loopback
(`mpirun -np 2`, in-place MPI_Allreduce of float32 buffers of 4 B ... 16 MiB): time
per call (median over calls), the latency (half the median time of the calls of at
most 1 KiB: a 2-rank ring allreduce is S / bandwidth + 2 latency) and the bandwidth (S / (t - 2 latency) at the largest
size), and the time of one allreduce of the seed network's gradients (407,080 B).
Needs mpi4py and mpirun (see README "Distributed training").
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N_SAMPLES = 60000
S_BYTES = 4 * 101770  # the seed network's gradients (float32)


def _env(threads):
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "python"), e.get("PYTHONPATH", "")])
    e.update(OMP_NUM_THREADS=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1",
             OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return e


def _run(cmd, threads):
    r = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _mpirun():
    m = shutil.which("mpirun")
    if m is None:
        raise SystemExit("mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev)")
    return [m, "-np", "2", "--oversubscribe", "--bind-to", "none"]


# ------------------------------------------------------------ workers --


def worker_train(batch, epochs, distributed):
    import numpy as np

    import fastmlp
    from fastmlp import nn, optim
    comm = None
    if distributed:
        from fastmlp import distributed as dist
        dist.init()
        comm = dist.get_comm()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (N_SAMPLES, 784), dtype=np.uint8)
    y = rng.integers(0, 10, N_SAMPLES)
    fastmlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.SGD(model.parameters(), lr=0.01)
    crit = nn.CrossEntropyLoss()
    kw = dict(batch_size=batch, normalize=(0.2860, 0.3530), comm=comm)
    fastmlp.train_epoch(model, X[:20 * batch], y[:20 * batch], crit, opt, seed=1, **kw)  # warm-up
    times, comm_s = [], 0.0
    for e in range(epochs):
        if comm is not None:
            comm.Barrier()
            dist.communication_time(reset=True)
        t0 = time.perf_counter()
        fastmlp.train_epoch(model, X, y, crit, opt, seed=100 + e, **kw)
        t = time.perf_counter() - t0
        if comm is not None:  # the epoch ends when the slowest rank does
            t = comm.allreduce(t, op=__import__("mpi4py").MPI.MAX)
            comm_s += dist.communication_time()
        times.append(t)
    if comm is None or comm.Get_rank() == 0:
        print(json.dumps({"samples_per_sec": N_SAMPLES / statistics.median(times),
                          "comm_fraction": comm_s / sum(times)}))


def worker_allreduce():
    """Per size: the median over calls of one in-place Allreduce (the slowest rank's time
    of each call; the median, not the mean: a descheduled rank on a shared machine
    stalls single calls)."""
    import numpy as np
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    out = {}
    # 4 B .. 1 MiB (2.5x the seed network's gradients): an oversubscribed 2-core run of
    # the 4 and 16 MiB cases ran for minutes (Open MPI's yielding progress loop)
    for nbytes in [4 * 4 ** k for k in range(10)] + [S_BYTES]:
        buf = np.ones(nbytes // 4, np.float32)
        reps = max(10, min(100, int(2e8 // nbytes // 100)))
        for _ in range(5):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        ts = np.empty(reps)
        for i in range(reps):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            ts[i] = time.perf_counter() - t0
        # the slowest rank's time of each call (the buffer Allreduce: the object allreduce
        # applies Python's max to whole arrays, which raises on rank 0 and hangs rank 1)
        comm.Allreduce(MPI.IN_PLACE, ts, op=MPI.MAX)
        out[str(nbytes)] = float(np.median(ts))
    if comm.Get_rank() == 0:
        print(json.dumps(out))


# -------------------------------------------------------- the model --

NETWORKS = {  # nominal bandwidth (B/s) and one-way MPI latency (s) of the wire
    "10 Gbit/s Ethernet": (1.25e9, 25e-6),
    "100 Gbit/s InfiniBand": (12.5e9, 1.5e-6),
}


def scaling_model(loop_lat, loop_bw, host_rows_per_sec):
    """Ring allreduce T(N) = 2(N-1)/N * S / bw + 2(N-1) * lat for N hosts, with lat = the
    wire's latency + the loopback latency measured here (MPI's own per-message cost)
    and bw = min(the wire's, the loopback bandwidth measured here: a host cannot reduce
    faster than its memory moves the buffer), against one host's compute per step of
    B / N rows (c = 1 / the 1x2 throughput: one host = this 2-core machine); a step is
    compute + T (the fused epoch does not overlap them). Communication stops dominating
    at the global batch B* = N * T(N) / c."""
    c = 1.0 / host_rows_per_sec
    rows = []
    print(f"scaling model, S = {S_BYTES:,} B, compute {c * 1e6:.2f} us per row per host "
          f"(1x2, batch 64); latency + {loop_lat * 1e6:.2f} us measured software latency")
    for net, (bw, lat) in NETWORKS.items():
        bw_eff, lat_eff = min(bw, loop_bw), lat + loop_lat
        for N in (8, 64):
            T = 2 * (N - 1) / N * S_BYTES / bw_eff + 2 * (N - 1) * lat_eff
            b_star = N * T / c
            rows.append({"network": net, "hosts": N, "allreduce_s": T, "batch_star": b_star,
                         "bandwidth_term_s": 2 * (N - 1) / N * S_BYTES / bw_eff,
                         "latency_term_s": 2 * (N - 1) * lat_eff})
            print(f"  {net:>22}, {N:>2} hosts: allreduce {T * 1e6:>7.0f} us (bandwidth "
                  f"{rows[-1]['bandwidth_term_s'] * 1e6:.0f} + latency "
                  f"{rows[-1]['latency_term_s'] * 1e6:.0f}); compute = communication at "
                  f"global batch {b_star:,.0f} ({b_star / N:,.0f} per host)")
    return rows


# ------------------------------------------------------------- driver --


def main(argv=None):  # noqa: C901 - one driver, read top to bottom
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs per run")
    ap.add_argument("--json", metavar="OUT", help="write the results here")
    ap.add_argument("--allreduce-only", action="store_true",
                    help="only the loopback allreduce measurement")
    ap.add_argument("--worker", choices=("train", "allreduce"), help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker == "train":
        return worker_train(a.batch, a.epochs, a.distributed)
    if a.worker == "allreduce":
        return worker_allreduce()

    me = [sys.executable, os.path.abspath(__file__)]
    configs = {"1x1": (1, []), "1x2": (2, []), "2x1": (1, _mpirun())}
    res = {b: {c: [] for c in configs} for b in (64, 256)}
    fracs = {b: [] for b in (64, 256)}
    for _ in range(0 if a.allreduce_only else a.rounds):
        for b in (64, 256):
            for name, (threads, launcher) in configs.items():
                cmd = launcher + me + ["--worker", "train", "--batch", str(b),
                                       "--epochs", str(a.epochs)]
                if launcher:
                    cmd.append("--distributed")
                r = _run(cmd, threads)
                res[b][name].append(r["samples_per_sec"])
                if launcher:
                    fracs[b].append(r["comm_fraction"])
    ar = _run(_mpirun() + me + ["--worker", "allreduce"], 1)

    out = {"rounds": a.rounds, "epochs": a.epochs, "throughput": {}, "allreduce": ar}
    print(f"seed network 784-128-10, SGD, {N_SAMPLES} samples/epoch; median of {a.rounds} "
          f"interleaved rounds")
    print(f"{'batch':>6} {'config':>7} {'samples/s':>11} {'efficiency':>11}")
    for b in (() if a.allreduce_only else (64, 256)):
        base = statistics.median(res[b]["1x1"])
        out["throughput"][b] = {}
        for name in configs:
            v = statistics.median(res[b][name])
            workers = 1 if name == "1x1" else 2
            eff = v / (workers * base)
            out["throughput"][b][name] = {"samples_per_sec": v, "efficiency": eff,
                                          "runs": res[b][name]}
            print(f"{b:>6} {name:>7} {v:>11,.0f} {100 * eff:>10.1f}%")
        out["throughput"][b]["2x1"]["comm_fraction"] = statistics.median(fracs[b])
        print(f"{'':>6} 2x1: {100 * statistics.median(fracs[b]):.1f}% of the epoch inside "
              f"the allreduce (incl. waiting for the other rank)")
    lat = statistics.median(ar[k] for k in ar if int(k) <= 1024) / 2
    big = max(int(k) for k in ar)
    bw = big / (ar[str(big)] - 2 * lat)
    out["latency_s"], out["bandwidth_Bps"] = lat, bw
    print(f"loopback allreduce (2 ranks): latency {lat * 1e6:.2f} us, bandwidth "
          f"{bw / 1e9:.2f} GB/s (at {big / 2**20:.0f} MiB); seed network's gradients "
          f"({S_BYTES:,} B): {ar[str(S_BYTES)] * 1e6:.0f} us per allreduce")
    for k in sorted(ar, key=int):
        print(f"  {int(k):>10,} B  {ar[k] * 1e6:>10.2f} us")
    if not a.allreduce_only:
        out["model"] = scaling_model(lat, bw, out["throughput"][64]["1x2"]["samples_per_sec"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
