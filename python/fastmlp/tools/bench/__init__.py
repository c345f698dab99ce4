"""``fastmlp bench``: fastmlp beside NumPy, PyTorch and scikit-learn, on this machine.

Suites (``fastmlp bench [gemm|layers|train|all]``):

``gemm``
    ``fastmlp.kernels.sgemm`` against ``numpy.matmul`` and ``torch.mm`` on
    the shapes of ``bench/bench_gemm.py`` plus the forward and backward GEMMs
    of a 784-1024-1024-10 MLP at batch 256. GFLOP/s and % of the measured peak.
``layers``
    The kernels a seed network (784-128-10) runs per step at batch 64 (and
    256 unless ``--quick``): Linear forward (GEMM + bias), Linear backward
    (dX, dW and db), ReLU forward/backward, softmax cross-entropy loss and
    gradient. PyTorch runs the same ATen kernels its autograd would call,
    without the autograd bookkeeping; NumPy the textbook expressions.
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

The method (interleaving, settling, medians and spreads, thread counts) is
:mod:`fastmlp.tools.bench.harness`'s docstring; the sides are in
:mod:`~fastmlp.tools.bench.sides`, the case lists and the driver in
:mod:`~fastmlp.tools.bench.suites`, table, comparison and plot in
:mod:`~fastmlp.tools.bench.report`, the options in :mod:`~fastmlp.tools.bench.cli`.

From Python::

    from fastmlp.tools import bench
    report = bench.run_benchmarks(["gemm"], threads=2, quick=True)
    print(bench.format_report(report))

The JSON written by ``--json`` is ``report`` itself (see :func:`run_benchmarks`).
"""
from .harness import (OPENBLAS_SLOW_VARS, PEERS, RATIO_SIDES, SCHEMA, SIDE_ORDER,  # noqa: F401
                      SUITES, detect_peers, machine_info, measure, resource, settle,
                      thread_settings)
from .sides import gemm_sides, layer_cases, load_train_data, train_sides  # noqa: F401
from .suites import (GEMM_SHAPES, run_benchmarks, suite_gemm, suite_layers,  # noqa: F401
                     suite_train)
from .report import compare, format_report, plot  # noqa: F401
from .cli import add_arguments, main, run  # noqa: F401


__all__ = [
    "SUITES",
    "GEMM_SHAPES",
    "add_arguments",
    "run",
    "main",
    "run_benchmarks",
    "suite_gemm",
    "suite_layers",
    "layer_cases",
    "suite_train",
    "measure",
    "machine_info",
    "detect_peers",
    "format_report",
    "compare",
    "plot",
]
