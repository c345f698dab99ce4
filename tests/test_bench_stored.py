"""fastmlp bench --store / --compare against bench/results/<cpu-id>/ (synthetic reports)."""
import json

import pytest

from fastmlp.tools.bench.stored import compare_stored, load_stored, store
from fastmlp.tools.machine import cpu_id


def _report(values, threads=2, isa="avx512", iqr=0.02):
    res = [{"suite": "gemm", "case": f"c{i}", "shape": f"{i}x1x1 NN", "sides": {
        "fastmlp": {"value": v, "value_q1": v * (1 - iqr / 2), "value_q3": v * (1 + iqr / 2)},
        "numpy": {"value": 1.0}}} for i, v in enumerate(values)]
    return {"machine": {"cpu_id": "test-f1-m2-avx512", "threads": threads, "isa": isa},
            "results": res}


def test_cpu_id_names_vendor_family_model_isa():
    import fastmlp

    g = fastmlp.gemm_config()
    parts = cpu_id().split("-")
    assert parts[1] == f"f{g['family']}" and parts[2] == f"m{g['model']}"
    assert parts[3] == fastmlp._core.best_cpu_capability()


def test_store_adds_files_and_never_overwrites(tmp_path):
    a = store(_report([100.0]), tmp_path)
    b = store(_report([100.0]), tmp_path)
    assert a != b and a.parent == b.parent == tmp_path / "test-f1-m2-avx512"
    assert [r["_path"] for r in load_stored("test-f1-m2-avx512", tmp_path)] == sorted([str(a), str(b)])
    assert json.loads(a.read_text())["results"][0]["sides"]["fastmlp"]["value"] == 100.0


def test_slower_beyond_noise_is_flagged(tmp_path):
    """Stored runs 100 and 102 (spread 2%, IQR 2%): noise 2%, limit max(3%, 4%) = 4%."""
    stored = [_report([100.0, 100.0, 100.0]), _report([102.0, 102.0, 102.0])]
    for s in stored:
        s["_path"] = "x.json"
    text, bad = compare_stored(stored, _report([97.5, 95.0, 110.0]))
    assert [b["case"] for b in bad] == ["c1"]  # -6.0% flagged; -3.5% within noise; faster fine
    assert "SLOWER" in text and "1 figure(s) slower beyond noise" in text


def test_noisy_run_widens_the_limit(tmp_path):
    stored = [_report([100.0])]
    stored[0]["_path"] = "x.json"
    _, bad = compare_stored(stored, _report([90.0], iqr=0.10))  # noise 10%: limit 20%
    assert bad == []


@pytest.mark.parametrize("threads,isa", [(1, "avx512"), (2, "avx2")])
def test_other_threads_or_isa_not_compared(threads, isa):
    stored = [_report([100.0])]
    stored[0]["_path"] = "x.json"
    text, bad = compare_stored(stored, _report([10.0], threads=threads, isa=isa))
    assert bad == [] and "nothing to compare" in text
