"""One training epoch of the seed network (784-128-10, SGD lr 0.01, cross-entropy).

Run (not in CI):

    PYTHONPATH=python python -m pytest bench/bench_train.py --benchmark-only -q

Data and sides are those of ``fastmlp bench train`` (``fastmlp.tools.bench.
load_train_data`` and ``train_sides``): Fashion-MNIST's 60,000 training images
(``fastmlp.data.load_mnist(kind="fashion-mnist", download=False)``), or random
MNIST-shaped data when it is not installed (``extra_info["data"]`` says which);
at batch 64 and 256, every side at fastmlp's thread count (``thread_settings``):

  fastmlp       ``fastmlp.train_epoch`` (the whole epoch in C++)
  fastmlp-u8    the same on the uint8 images with ``normalize=True`` (rows
                converted as they are gathered; what ``fastmlp train`` runs)
  fastmlp-loop  the seed script's loop through fastmlp's nn/optim (DataLoader, Net,
                zero_grad / model / criterion / backward / step / item)
  numpy         the same network as a plain NumPy float32 loop (``@``)
  torch         the seed script in PyTorch CPU with batches cut by indexing in-memory
                tensors with a permutation (PyTorch's fastest way to feed this loop)
  torch-loader  the seed script as written, its trainloader a
                ``torch.utils.data.DataLoader`` over a TensorDataset
  sklearn       ``MLPClassifier(solver="sgd", max_iter=1).fit``

Each round trains a fresh model (the sides are rebuilt in the untimed setup).
The machine must be otherwise idle: with 2 cores, another process spinning
OpenMP threads makes every barrier wait for a descheduled thread, for PyTorch
and fastmlp alike (bench/results/README.md, "### Idle machine: the train suite
beside other OpenMP load").

``extra_info`` has s/epoch (median of 5) and samples/s; a table with the ratios
to PyTorch is printed at the end; ``test_fused_peak_memory`` measures, in a fresh
subprocess, the peak resident memory the fused epoch adds over the loaded
dataset (VmHWM after the epoch minus VmRSS before it, the high-water mark
reset just before via /proc/self/clear_refs).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp
from fastmlp.tools import bench

pytest.importorskip("threadpoolctl")

THREADS = fastmlp.get_num_threads()
ROUNDS = 5
PEERS = bench.detect_peers()
SIDES = bench.SIDE_ORDER
NEEDS = {"torch": "torch", "torch-loader": "torch", "sklearn": "sklearn"}  # side -> peer
RESULTS = {}  # (batch_size, side) -> s/epoch; ("mem", batch_size) -> MiB added


class _Report:
    """Prints s/epoch, samples/s and the ratio to PyTorch at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if not RESULTS:
            return
        tr.section(f"one epoch, 784-128-10, SGD lr 0.01, {THREADS} threads")
        tr.write_line(f"{'batch':>5} {'side':>12} {'s/epoch':>8} {'samples/s':>10} "
                      f"{'torch/side':>10} {'torch-loader/side':>17}")
        for b in sorted({k[0] for k in RESULTS if k[0] != "mem"}):
            t, tl = RESULTS.get((b, "torch")), RESULTS.get((b, "torch-loader"))
            for side in SIDES:
                if (b, side) in RESULTS:
                    s, n = RESULTS[(b, side)]
                    r1 = f"{t[0] / s:10.2f}" if t else f"{'-':>10}"
                    r2 = f"{tl[0] / s:17.2f}" if tl else f"{'-':>17}"
                    tr.write_line(f"{b:>5} {side:>12} {s:8.3f} {n / s:10.0f} {r1} {r2}")
        for k, v in RESULTS.items():
            if k[0] == "mem":
                tr.write_line(f"fused epoch at batch {k[1]}: peak RSS {v[0]:.1f} MiB above the "
                              f"loaded dataset ({v[1]:.1f} MiB)")


@pytest.fixture(scope="session", autouse=True)
def _report(request):
    request.config.pluginmanager.register(_Report(), "bench_train_report")
    yield


@pytest.fixture(scope="module")
def dataset():
    return bench.load_train_data(raw=True)  # X float32, y int64, source, uint8 images


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("batch_size", [64, 256])
def test_epoch(benchmark, dataset, batch_size, side):
    X, y, source, images = dataset
    peer = PEERS.get(NEEDS.get(side), {"available": True})
    if not peer["available"]:
        pytest.skip(f"{side}: {peer['reason']}")
    state = {}

    def _setup():
        state["epoch"] = bench.train_sides(X, y, batch_size, PEERS, images)[side]
        bench.settle(0.1)  # OpenMP / OpenBLAS workers spin a while after a call

    def _epoch():
        state["loss"] = state["epoch"]()

    with bench.thread_settings(THREADS, PEERS):
        benchmark.pedantic(_epoch, setup=_setup, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    s = benchmark.stats.stats.median
    benchmark.extra_info.update(side=side, batch_size=batch_size, threads=THREADS, data=source,
                                n=len(X), s_per_epoch=s, samples_per_s=len(X) / s,
                                last_loss=float(state["loss"]))
    RESULTS[(batch_size, side)] = (s, len(X))
    assert np.isfinite(state["loss"])


# ---------------------------------------------------------------- memory --

_MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastmlp
    from fastmlp import nn, optim
    from fastmlp.tools.bench import load_train_data
    from fastmlp.tools.seed import seed_net

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    X, y, _ = load_train_data()
    B = int(sys.argv[1])
    model = seed_net("sequential")
    criterion, optimizer = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01)
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    loss = fastmlp.train_epoch(model, X, y, criterion, optimizer, batch_size=B, seed=0)
    peak = status("VmHWM")
    print(json.dumps(dict(before=before, peak=peak, dataset=X.nbytes + y.nbytes, loss=loss)))
""")


@pytest.mark.parametrize("batch_size", [64, 256])
def test_fused_peak_memory(benchmark, batch_size):
    """Peak memory the fused epoch adds over the loaded dataset (target: under 16 MiB)."""
    import json

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"),
        os.environ.get("PYTHONPATH")])))
    res = {}

    def run():
        out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(batch_size)], env=env,
                             check=True, capture_output=True, text=True).stdout
        res.update(json.loads(out.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    added = res["peak"] - res["before"]
    benchmark.extra_info.update(batch_size=batch_size, dataset_MiB=res["dataset"] / 2**20,
                                rss_before_MiB=res["before"] / 2**20,
                                peak_MiB=res["peak"] / 2**20, added_MiB=added / 2**20)
    RESULTS[("mem", batch_size)] = (added / 2**20, res["dataset"] / 2**20)
    assert added < 16 * 2**20, f"the fused epoch added {added / 2**20:.1f} MiB"
