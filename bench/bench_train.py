"""One training epoch of the seed network (784-128-10, SGD lr 0.01, cross-entropy).

Run (not in CI):

    PYTHONPATH=python python -m pytest bench/bench_train.py --benchmark-only -q

Data: Fashion-MNIST's 60,000 training images (``fastmlp.data.load_mnist(
kind="fashion-mnist", download=False)`` + ``normalize``); when it is not
installed, random MNIST-shaped data (``extra_info["data"]`` says which).
Sides, at batch 64 and 256, all at fastmlp's thread count:

  fused      ``fastmlp.train_epoch`` (the whole epoch in C++)
  fused-u8   the same on the uint8 images with ``normalize=True`` (rows
             converted as they are gathered; what ``fastmlp train`` runs)
  python     the issue's seed script loop with fastmlp (DataLoader, Net,
             zero_grad / model / criterion / backward / step / item)
  numpy      the same network as a plain NumPy float32 loop (``@``)
  torch      the seed script in PyTorch CPU (``torch.set_num_threads`` ours), its
             trainloader a ``torch.utils.data.DataLoader`` over a TensorDataset
  torch-idx  the same loop with batches cut by indexing in-memory tensors with a
             permutation (PyTorch's fastest way to feed this loop)

The machine must be otherwise idle: with 2 cores, another process spinning
OpenMP threads makes every barrier wait for a descheduled thread (10-100x
slower epochs, for PyTorch and fastmlp alike).

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
from fastmlp import data as fdata

threadpoolctl = pytest.importorskip("threadpoolctl")

N_TRAIN = 60000
THREADS = fastmlp.get_num_threads()
ROUNDS = 5
RESULTS = {}  # (batch_size, side) -> s/epoch; ("mem", batch_size) -> MiB added


class _Report:
    """Prints s/epoch, samples/s and the ratio to PyTorch at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if not RESULTS:
            return
        tr.section(f"one epoch, 784-128-10, SGD lr 0.01, {THREADS} threads")
        tr.write_line(f"{'batch':>5} {'side':>9} {'s/epoch':>8} {'samples/s':>10} "
                      f"{'torch/side':>10} {'torch-idx/side':>14}")
        for b in sorted({k[0] for k in RESULTS if k[0] != "mem"}):
            t, ti = RESULTS.get((b, "torch")), RESULTS.get((b, "torch-idx"))
            for side in SIDES:
                if (b, side) in RESULTS:
                    s = RESULTS[(b, side)]
                    r1 = f"{t / s:10.2f}" if t else f"{'-':>10}"
                    r2 = f"{ti / s:14.2f}" if ti else f"{'-':>14}"
                    tr.write_line(f"{b:>5} {side:>9} {s:8.3f} {N_TRAIN / s:10.0f} {r1} {r2}")
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
    try:
        images, labels = fdata.load_mnist(kind="fashion-mnist", download=False)
        source = "fashion-mnist"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, N_TRAIN)
        source = "random MNIST-shaped data (Fashion-MNIST not installed)"
    X = fdata.normalize(images)
    return X, labels.astype(np.int64), source, images


def _settle():
    # OpenMP / OpenBLAS workers spin a while after a call: wait until they sleep.
    bench.settle(0.1)


def _run(benchmark, dataset, side, batch_size, setup, epoch):
    X, y, source, images = dataset
    if side == "fused-u8":  # the raw uint8 images; the epoch normalizes as it gathers
        X = images
    state = {}

    def _setup():
        state.update(setup())
        _settle()

    def _epoch():
        state["loss"] = epoch(state, X, y, batch_size)

    with threadpoolctl.threadpool_limits(THREADS):
        benchmark.pedantic(_epoch, setup=_setup, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    s = benchmark.stats.stats.median
    benchmark.extra_info.update(side=side, batch_size=batch_size, threads=THREADS, data=source,
                                n=len(X), s_per_epoch=s, samples_per_s=len(X) / s,
                                last_loss=float(state["loss"]))
    RESULTS[(batch_size, side)] = s
    assert np.isfinite(state["loss"])


# --------------------------------------------------------------- fastmlp --


def _fastmlp_net():
    from fastmlp import nn, optim

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = fastmlp.flatten(x, 1)
            x = fastmlp.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    model = Net()
    return dict(model=model, criterion=nn.CrossEntropyLoss(),
                optimizer=optim.SGD(model.parameters(), lr=0.01), seed=0)


def _fastmlp_seq():
    from fastmlp import nn, optim

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return dict(model=model, criterion=nn.CrossEntropyLoss(),
                optimizer=optim.SGD(model.parameters(), lr=0.01), seed=0)


def _fused_epoch(st, X, y, b):
    st["seed"] += 1
    return fastmlp.train_epoch(st["model"], X, y, st["criterion"], st["optimizer"],
                               batch_size=b, shuffle=True, seed=st["seed"])


def _fused_u8_epoch(st, X, y, b):
    st["seed"] += 1
    return fastmlp.train_epoch(st["model"], X, y, st["criterion"], st["optimizer"],
                               batch_size=b, shuffle=True, seed=st["seed"], normalize=True)


def _python_epoch(st, X, y, b):
    model, criterion, optimizer = st["model"], st["criterion"], st["optimizer"]
    st["seed"] += 1
    trainloader = fdata.DataLoader(X, y, batch_size=b, shuffle=True, seed=st["seed"])
    running_loss = 0.0
    for i, (inputs, labels) in enumerate(trainloader):
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return running_loss / len(trainloader)


# ----------------------------------------------------------------- numpy --


def _numpy_setup():
    rng = np.random.default_rng(0)
    k1, k2 = 1 / np.sqrt(784), 1 / np.sqrt(128)
    return dict(W1=rng.uniform(-k1, k1, (128, 784)).astype(np.float32),
                b1=rng.uniform(-k1, k1, 128).astype(np.float32),
                W2=rng.uniform(-k2, k2, (10, 128)).astype(np.float32),
                b2=rng.uniform(-k2, k2, 10).astype(np.float32), rng=rng)


def _numpy_epoch(st, X, y, b):
    W1, b1, W2, b2 = st["W1"], st["b1"], st["W2"], st["b2"]
    lr = np.float32(0.01)
    perm = st["rng"].permutation(len(X))
    running_loss, steps = 0.0, 0
    for s in range(0, len(X), b):
        idx = perm[s:s + b]
        x, t = X[idx], y[idx]
        n = len(idx)
        h = x @ W1.T + b1
        np.maximum(h, 0, out=h)
        z = h @ W2.T + b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        running_loss += float(-np.log(p[np.arange(n), t]).mean())
        p[np.arange(n), t] -= 1
        p /= n
        dW2, db2 = p.T @ h, p.sum(axis=0)
        dh = p @ W2
        dh *= h > 0
        dW1, db1 = dh.T @ x, dh.sum(axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        steps += 1
    return running_loss / steps


# ----------------------------------------------------------------- torch --


def _torch_setup():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = torch.flatten(x, 1)
            x = torch.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    model = Net()
    return dict(torch=torch, model=model, criterion=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                gen=torch.Generator().manual_seed(0))


def _torch_epoch(st, X, y, b):
    """The seed script as PyTorch users write it: a torch DataLoader over a TensorDataset."""
    torch, model, criterion, optimizer = st["torch"], st["model"], st["criterion"], st["optimizer"]
    if "loader" not in st:
        ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
        st["loader"] = torch.utils.data.DataLoader(ds, batch_size=b, shuffle=True,
                                                   generator=st["gen"])
    trainloader = st["loader"]
    running_loss = 0.0
    for i, (inputs, labels) in enumerate(trainloader):
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return running_loss / len(trainloader)


def _torch_idx_epoch(st, X, y, b):
    """The same loop with batches cut by indexing in-memory tensors (PyTorch's fastest loop)."""
    torch, model, criterion, optimizer = st["torch"], st["model"], st["criterion"], st["optimizer"]
    if "Xt" not in st:
        st["Xt"], st["yt"] = torch.from_numpy(X), torch.from_numpy(y)
    Xt, yt = st["Xt"], st["yt"]
    perm = torch.randperm(len(Xt), generator=st["gen"])
    running_loss, steps = 0.0, 0
    for s in range(0, len(Xt), b):
        idx = perm[s:s + b]
        inputs, labels = Xt[idx], yt[idx]
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        steps += 1
    return running_loss / steps


SIDES = {
    "fused": (_fastmlp_seq, _fused_epoch),
    "fused-u8": (_fastmlp_seq, _fused_u8_epoch),
    "python": (_fastmlp_net, _python_epoch),
    "numpy": (_numpy_setup, _numpy_epoch),
    "torch": (_torch_setup, _torch_epoch),
    "torch-idx": (_torch_setup, _torch_idx_epoch),
}


@pytest.mark.parametrize("side", list(SIDES))
@pytest.mark.parametrize("batch_size", [64, 256])
def test_epoch(benchmark, dataset, batch_size, side):
    setup, epoch = SIDES[side]
    _run(benchmark, dataset, side, batch_size, setup, epoch)


# ---------------------------------------------------------------- memory --

_MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastmlp
    from fastmlp import data as fdata, nn, optim

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    try:
        images, labels = fdata.load_mnist(kind="fashion-mnist", download=False)
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 60000)
    X = fdata.normalize(images)
    y = labels.astype(np.int64)
    del images
    B = int(sys.argv[1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
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
