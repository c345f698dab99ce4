"""fastmlp.sklearn's estimators beside scikit-learn's: the pytest-benchmark twin of
``fastmlp bench sklearn``.

Run (not in CI):

    PYTHONPATH=python python -m pytest bench/bench_sklearn.py --benchmark-only -q

Data, parameters and sides are the suite's (``fastmlp.tools.bench.SKLEARN_CASES``,
``load_sklearn_data``, ``sklearn_sides``): Fashion-MNIST with hidden (128,), adam,
max_iter=10; load_digits and load_diabetes with every default. ``fit`` rounds use
seeds 0, 1, ... (the same on both sides; the warm-up is seed 0); ``extra_info`` has
each round's test score (accuracy, R² on diabetes). A side whose estimator is not
importable (``fastmlp.sklearn`` before it lands) is skipped with the reason. The
table printed at the end has the medians, sklearn/fastmlp time ratios and mean scores.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp.tools import bench

pytest.importorskip("sklearn")
pytest.importorskip("threadpoolctl")

THREADS = fastmlp.get_num_threads()
ROUNDS = 5
PEERS = bench.detect_peers()
RESULTS = {}  # (dataset, what, side) -> (median s, mean score or None)


class _Report:
    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if not RESULTS:
            return
        tr.section(f"fastmlp.sklearn vs scikit-learn, {THREADS} threads")
        tr.write_line(f"{'dataset':>14} {'what':>14} {'side':>8} {'median s':>9} "
                      f"{'sklearn/side':>12} {'score':>8}")
        for (name, what, side), (s, score) in sorted(RESULTS.items()):
            sk = RESULTS.get((name, what, "sklearn"))
            ratio = f"{sk[0] / s:12.2f}" if sk else f"{'-':>12}"
            sc = f"{score:8.4f}" if score is not None else f"{'':>8}"
            tr.write_line(f"{name:>14} {what:>14} {side:>8} {s:9.4f} {ratio} {sc}")


@pytest.fixture(scope="session", autouse=True)
def _report(request):
    request.config.pluginmanager.register(_Report(), "bench_sklearn_report")
    yield


@pytest.fixture(scope="module", params=[c[0] for c in bench.SKLEARN_CASES])
def dataset(request):
    return request.param, bench.load_sklearn_data(request.param)


def _classes(side):
    if side == "sklearn":
        return bench.sklearn_suite.sklearn_estimators()
    ours, why = bench.sklearn_suite.fastmlp_estimators()
    if ours is None:
        pytest.skip(why)
    return ours


@pytest.mark.parametrize("side", ["fastmlp", "sklearn"])
@pytest.mark.parametrize("what", ["fit", "predict"])
def test_sklearn(benchmark, dataset, what, side):
    name, data = dataset
    _, kind, params, score_name = next(c for c in bench.SKLEARN_CASES if c[0] == name)
    log = {}
    fit_fns, pred_fns, _ = bench.sklearn_sides({side: _classes(side)}, kind, params, data, log)
    fn = fit_fns[side] if what == "fit" else pred_fns[side]
    with bench.thread_settings(THREADS, PEERS):
        if what == "predict":
            fn()  # fits the seed-0 model, untimed
        benchmark.pedantic(fn, setup=lambda: (bench.settle(0.1), None)[1], rounds=ROUNDS,
                           iterations=1, warmup_rounds=1)
    s = benchmark.stats.stats.median
    scores = {seed: v[0] for seed, v in log[side].items()}
    benchmark.extra_info.update(side=side, dataset=name, data=data[4], threads=THREADS,
                                score_name=score_name, scores=scores)
    score = float(np.mean(list(scores.values()))) if what == "fit" else None
    RESULTS[(name, what, side)] = (s, score)
