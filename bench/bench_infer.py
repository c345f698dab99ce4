"""Forward-only inference: ``fastmlp bench infer``'s models, batches and sides under
pytest-benchmark (issue 12).

Run (PyTorch from its own venv; NumPy's OpenBLAS is slowed by OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE where a machine sets them, so unset both for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python \\
        /work/venv-torch/bin/python -m pytest bench/bench_infer.py --benchmark-only \\
        --benchmark-json=bench/results/infer.json

The cases and each side's call are ``fastmlp.tools.bench.infer_cases``: ``model(x)``
under ``fastmlp.no_grad()`` (the one-call forward), PyTorch eager under
``torch.inference_mode()`` and NumPy, the same as ``fastmlp bench infer``. Each case
records ksample/s, the weights' bytes and the read bandwidth floor in ``extra_info``;
the ``side`` parameter is the innermost, so the sides of a case and thread count run
back to back, each after ``settle`` and at the same thread count (``thread_settings``).
"""

import pytest

import fastmlp
from fastmlp.tools import bench

pytest.importorskip("threadpoolctl")

PEERS = bench.detect_peers(("torch",))
TORCH = __import__("torch") if PEERS["torch"]["available"] else None
SIDES = ("fastmlp", "numpy", "torch")


@pytest.fixture(scope="module")
def cases():
    return {(c["arch"], c["batch_size"]): c for c in bench.infer_cases(TORCH)}


@pytest.fixture(scope="module")
def read_bw():
    return {t: bench.read_bandwidth(t) for t in (1, 2)}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("threads", [2, 1])
@pytest.mark.parametrize("batch", bench.INFER_BATCHES)
@pytest.mark.parametrize("arch", ["-".join(map(str, a)) for a in bench.INFER_ARCHS])
def test_forward(benchmark, cases, read_bw, arch, batch, threads, side):
    if side == "torch" and TORCH is None:
        pytest.skip(f"torch: {PEERS['torch']['reason']}")
    c = cases[(arch, batch)]
    run = c["fns"][side]
    with bench.thread_settings(threads, PEERS):
        bench.settle()
        run()
        benchmark.pedantic(run, rounds=max(5, min(500, int(2e5 / max(batch, 1)))), iterations=1,
                           warmup_rounds=2)
    if benchmark.stats is None:  # --benchmark-disable: the calls ran once, nothing to record
        return
    med = benchmark.stats.stats.median
    bw = read_bw[threads]
    benchmark.extra_info.update(ksample_s=batch / med / 1e3, arch=arch, batch=batch,
                                threads=threads, side=side, isa=fastmlp.cpu_capability(),
                                weight_bytes=c["weight_bytes"], read_GBps=bw["read_GBps"],
                                floor_s=c["weight_bytes"] / bw["read_Bps"])
