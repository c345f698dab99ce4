"""``fastmlp bench``: fastmlp beside NumPy, PyTorch and scikit-learn, on this machine.

``fastmlp bench [gemm|layers|train|infer|sklearn|all]`` runs the suites of :mod:`.suites` on the
sides of :mod:`.sides`, timed by :mod:`.harness` (its docstring is the method) and
printed by :mod:`.report`; :mod:`.cli` holds the options. The measurements behind
the harness's choices are in bench/results/README.md, "Design measurements".

From Python::

    from fastmlp.tools import bench
    report = bench.run_benchmarks(["gemm"], threads=2, quick=True)
    print(bench.format_report(report))

The JSON written by ``--json`` is ``report`` itself (see :func:`run_benchmarks`).
"""
from .harness import (OPENBLAS_SLOW_VARS, PEERS, RATIO_SIDES, SCHEMA, SIDE_ORDER,  # noqa: F401
                      SUITES, detect_peers, machine_info, measure, resource, settle,
                      thread_settings)
from .sides import (TRAIN_VARIANTS, gemm_sides, layer_cases, load_train_data,  # noqa: F401
                    train_sides, train_variant_sides)
from .activations import (ACTIVATION_SHAPES, activation_cases, floor_seconds,  # noqa: F401
                          memory_bandwidth)
from .suites import (GEMM_SHAPES, run_benchmarks, suite_gemm, suite_layers,  # noqa: F401
                     suite_train, suite_infer)
from .infer import INFER_ARCHS, INFER_BATCHES, infer_cases, read_bandwidth  # noqa: F401
from .sklearn_suite import SKLEARN_CASES, load_sklearn_data, sklearn_sides  # noqa: F401
from .sklearn_suite import suite_sklearn  # noqa: F401
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
    "suite_sklearn",
    "SKLEARN_CASES",
    "load_sklearn_data",
    "sklearn_sides",
    "TRAIN_VARIANTS",
    "train_variant_sides",
    "ACTIVATION_SHAPES",
    "activation_cases",
    "memory_bandwidth",
    "floor_seconds",
    "measure",
    "settle",
    "thread_settings",
    "gemm_sides",
    "train_sides",
    "load_train_data",
    "machine_info",
    "detect_peers",
    "format_report",
    "compare",
    "plot",
    # infer (issue 12)
    "suite_infer",
    "infer_cases",
    "read_bandwidth",
    "INFER_ARCHS",
    "INFER_BATCHES",
]
