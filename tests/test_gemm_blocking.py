"""The per-CPU GEMM plan: the blocking model on synthetic cache hierarchies, the
FASTMLP_GEMM_BLOCKING / FASTMLP_CPU_CLASS parsing, and every class's choice
running (for correctness and determinism) on this CPU.

The expected blockings below are worked by hand from the formulas in
csrc/gemm/gemm_plan.cpp (Low et al., ACM TOMS 2016, with the operands' roles
swapped), so a change of the model shows up here as a changed number.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import _core

CLASSES = fastmlp.gemm_config()["cpu_classes"]
ISAS = fastmlp.available_cpu_capabilities()
MR_NR = {"avx512_8x32": (8, 32), "avx512_12x32_pf4": (12, 32), "avx2_6x16": (6, 16),
         "generic_4x16": (4, 16)}

# Zen 4 as this VM's CPUID reports it: L3 shared by 2 logical CPUs.
ZEN4 = [dict(level=1, size=32 << 10, ways=8), dict(level=2, size=1 << 20, ways=8),
        dict(level=3, size=32 << 20, ways=16, sharing=2)]
# Skylake-SP (Xeon Platinum 8180): 1 MiB 16-way L2, 38.5 MiB 11-way L3 for 56 threads.
SKX = [dict(level=1, size=32 << 10, ways=8), dict(level=2, size=1 << 20, ways=16),
       dict(level=3, size=int(38.5 * (1 << 20)), ways=11, sharing=56)]
# Sapphire Rapids: 48 KiB 12-way L1d, 2 MiB 16-way L2.
SPR = [dict(level=1, size=48 << 10, ways=12), dict(level=2, size=2 << 20, ways=16),
       dict(level=3, size=105 << 20, ways=15, sharing=112)]
# Haswell desktop: 32 KiB 8-way, 256 KiB 8-way, 8 MiB 16-way L3 for 8 threads.
HASWELL = [dict(level=1, size=32 << 10, ways=8), dict(level=2, size=256 << 10, ways=8),
           dict(level=3, size=8 << 20, ways=16, sharing=8)]


@pytest.mark.parametrize("caches,cls,isa,want", [
    # L2 source, half of L1: KC = 16 KiB / (8 * 4 B) = 512; B block <= 4 of 8 ways
    # (128 KiB each): NC = 512 KiB / (512 * 4 B) = 256; L3: 1 MiB per way per core,
    # the B block takes 1, 14 left: MC = 14 MiB / 2 KiB = 7168.
    (ZEN4, "avx512_256", "avx512", (7168, 512, 256)),
    # L1 source, 6 x 16: C = floor(7 / (1 + 6/16)) = 5 ways of 4 KiB: KC = 20 KiB / 64 B = 320;
    # L2: A 7.5 KiB -> 1 way, 6 left: NC = 768 KiB / 1280 B = 614 -> 608;
    # L3: B 760 KiB -> 1 way, 14 left: MC = 14 MiB / 1280 B = 11468 -> 11466.
    (ZEN4, "avx512_256", "avx2", (11466, 320, 608)),
    # 12 x 32 on Skylake-SP: C = floor(7 / (1 + 12/32)) = 5: KC = 20 KiB / 128 B = 160;
    # L2 64 KiB ways: A 7.5 KiB -> 1, 14 left: NC = 896 KiB / 640 B = 1433 -> 1408;
    # L3 64 KiB per way per thread: B 880 KiB -> 14 ways > 11 - 1: 1 way: MC = 64 KiB / 640 B -> 96.
    (SKX, "avx512_2fma", "avx512", (96, 160, 1408)),
    # 12 ways of 4 KiB: C = floor(11 / 1.375) = 8: KC = 32 KiB / 128 B = 256;
    # L2 128 KiB ways: A 12 KiB -> 1, 14 left: NC = 1792 KiB / 1 KiB = 1792;
    # L3 105 MiB / 15 / 112 = 64 KiB per way: B 1.75 MiB -> 28 ways > 14: 1 way: MC = 64 -> 60.
    (SPR, "avx512_2fma", "avx512", (60, 256, 1792)),
    # Haswell, 6 x 16: KC 320; L2 32 KiB ways: A -> 1, 6 left: NC = 192 KiB / 1280 = 153 -> 144;
    # L3 64 KiB per way per thread: B 180 KiB -> 3 ways, 12 left: MC = 768 KiB / 1280 = 614 -> 612.
    (HASWELL, "avx2", "avx2", (612, 320, 144)),
    # generic 4 x 16: C = floor(7 / 1.25) = 5: KC = 320; NC = 6 * 32 KiB / 1280 -> 144;
    # MC = 12 * 64 KiB / 1280 = 614 -> 612 (a multiple of 4).
    (HASWELL, "generic", "generic", (612, 320, 144)),
])
def test_model_worked_examples(caches, cls, isa, want):
    assert _core.gemm_blocking_model(caches, cls, isa) == want


def _random_hierarchy(rng):
    l1_ways = int(rng.choice([4, 8, 12, 16]))
    l2_ways = int(rng.choice([4, 8, 16, 20]))
    caches = [dict(level=1, size=64 * 64 * l1_ways * int(rng.choice([1, 2])), ways=l1_ways),
              dict(level=2, size=int(rng.choice([256, 512, 1024, 2048])) << 10, ways=l2_ways)]
    if rng.random() < 0.8:
        caches.append(dict(level=3, size=int(rng.choice([4, 8, 32, 96])) << 20,
                           ways=int(rng.choice([11, 12, 16])), sharing=int(rng.choice([1, 2, 16]))))
    return caches


@pytest.mark.parametrize("seed", range(50))
def test_model_invariants_on_random_hierarchies(seed):
    """For any hierarchy: multiples of the tile, and each block within the cache it is
    sized for (the ways rule's budget: W - 1 ways of the level, L3 per sharing CPU)."""
    rng = np.random.default_rng(seed)
    caches = _random_hierarchy(rng)
    l1, l2 = caches[0], caches[1]
    for cls in CLASSES:
        for isa in ("avx512", "avx2", "generic"):
            mc, kc, nc = _core.gemm_blocking_model(caches, cls, isa)
            fastmlp._set_cpu_class(cls)
            # the cell's tile: look it up through the live config when this CPU runs the ISA
            if isa not in ISAS:
                continue
            fastmlp._set_cpu_capability(isa)
            try:
                g = fastmlp.gemm_config()
            finally:
                fastmlp._set_cpu_capability(ISAS[-1])
                fastmlp._set_cpu_class(fastmlp.gemm_config()["detected_cpu_class"])
            mr, nr = g["mr"], g["nr"]
            assert kc % 16 == 0 and 16 <= kc <= 1 << 16
            assert mc % mr == 0 and mc >= mr and nc % nr == 0 and nc >= nr
            way1 = l1["size"] // l1["ways"]
            if g["operands_from"] == "L1":  # both micro-panels within W1 - 1 ways
                assert kc * 4 * (mr + nr) <= (l1["ways"] - 1) * way1
            else:
                assert kc * 4 * mr <= l1["size"] // 2
            way2 = l2["size"] // l2["ways"]
            if nc > nr:  # NC above its floor: the B block and the A micro-panel fit W2 - 1 ways
                assert kc * nc * 4 <= (l2["ways"] - 1 - -(-(mr * kc * 4) // way2)) * way2


def test_model_l1_l2_sharing_ignored_l3_sharing_divides():
    smt = [dict(c, sharing=2) if c["level"] < 3 else c for c in HASWELL]
    assert _core.gemm_blocking_model(smt, "avx2", "avx2") == (612, 320, 144)
    half = [dict(c, sharing=16) if c["level"] == 3 else c for c in HASWELL]
    # L3 32 KiB per way per thread: B 180 KiB -> 6 ways, 9 left: MC = 288 KiB / 1280 -> 228
    assert _core.gemm_blocking_model(half, "avx2", "avx2") == (228, 320, 144)


def test_model_fills_missing_levels_with_defaults():
    only_l1 = [dict(level=1, size=32 << 10, ways=8)]
    assert _core.gemm_blocking_model(only_l1, "avx2", "avx2") == \
        _core.gemm_blocking_model(only_l1 + [dict(level=2, size=256 << 10, ways=4)], "avx2", "avx2")
    assert _core.gemm_blocking_model([], "avx512_256", "avx512") == \
        _core.gemm_blocking_model(only_l1, "avx512_256", "avx512")


@pytest.mark.parametrize("caches,exc,match", [
    ([dict(size=1, ways=1)], ValueError, "needs 'level'"),
    ([dict(level=5, size=1, ways=1)], ValueError, "'level' must be in"),
    ([dict(level=1, size=0, ways=1)], ValueError, "'size' must be in"),
    ([dict(level=1, size=1.5, ways=1)], TypeError, "'size' must be an int"),
    ([3], TypeError, "list of dicts"),
])
def test_model_bad_cache_description(caches, exc, match):
    with pytest.raises(exc, match=match):
        _core.gemm_blocking_model(caches, "avx2", "avx2")


def test_model_bad_class_and_isa():
    with pytest.raises(ValueError, match="cpu_class: expected one of"):
        _core.gemm_blocking_model(ZEN4, "zen9", "avx2")
    with pytest.raises(ValueError, match="isa: expected"):
        _core.gemm_blocking_model(ZEN4, "avx2", "sse")


# ------------------------------------------------------------ env parsing --
@pytest.mark.parametrize("text,want", [
    ("1024,512,256", (1024, 512, 256)), ("1,1,1", (1, 1, 1)), ("7,65536,1048576", (7, 65536, 1 << 20)),
])
def test_parse_blocking_valid(text, want):
    assert _core.parse_gemm_blocking(text) == want


@pytest.mark.parametrize("text,match", [
    ("", "three positive integers"), ("1,2", "three positive integers"),
    ("1,2,3,4", "three positive integers"), ("1, 2, 3", "three positive integers"),
    ("-1,2,3", "three positive integers"), ("a,b,c", "three positive integers"),
    ("0,2,3", "MC must be >= 1"), ("1,0,3", "KC must be >= 1"), ("1,2,0", "NC must be >= 1"),
    ("1,65537,3", "KC is larger than 65536"), ("1048577,1,1", "MC is larger than"),
    ("99999999999999999999,1,1", "MC is larger than"), ("1.5,2,3", "three positive integers"),
])
def test_parse_blocking_invalid(text, match):
    with pytest.raises(ValueError, match="FASTMLP_GEMM_BLOCKING: (expected )?" + match):
        _core.parse_gemm_blocking(text)


def _import_with(env):
    code = ("import fastmlp, json; g = fastmlp.gemm_config(); "
            "print(json.dumps([g['cpu_class'], g['mc'], g['kc'], g['nc'], g['blocking_overridden']]))")
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          timeout=120)


def test_env_override_applies_at_import_rounded_to_the_tile():
    r = _import_with({"FASTMLP_GEMM_BLOCKING": "13,5,40", "FASTMLP_CPU_CLASS": "avx512_256",
                      "FASTMLP_CPU_CAPABILITY": "generic"})
    assert r.returncode == 0, r.stderr
    # generic 4 x 16: MC 13 -> 16, NC 40 -> 48, KC as given
    assert r.stdout.strip() == '["avx512_256", 16, 5, 48, true]'


@pytest.mark.parametrize("env,match", [
    ({"FASTMLP_GEMM_BLOCKING": "512,256"}, "ValueError: FASTMLP_GEMM_BLOCKING: expected three"),
    ({"FASTMLP_GEMM_BLOCKING": "0,1,1"}, "ValueError: FASTMLP_GEMM_BLOCKING: MC must be >= 1"),
    ({"FASTMLP_CPU_CLASS": "zen9"}, "ValueError: FASTMLP_CPU_CLASS: expected one of 'avx512_2fma'"),
])
def test_bad_env_is_a_clear_error_at_import(env, match):
    r = _import_with(env)
    assert r.returncode != 0 and match in r.stderr, r.stderr


def test_set_cpu_class_and_blocking_hooks():
    detected = fastmlp.gemm_config()["detected_cpu_class"]
    try:
        for cls in CLASSES:
            fastmlp._set_cpu_class(cls)
            assert fastmlp.gemm_config()["cpu_class"] == cls
        with pytest.raises(ValueError, match="cpu_class: expected one of"):
            fastmlp._set_cpu_class("zen9")
        _core.set_gemm_blocking("9,7,33")
        g = fastmlp.gemm_config()
        assert g["blocking_overridden"] and g["kc"] == 7
        assert g["mc"] % g["mr"] == 0 and 9 <= g["mc"] < 9 + g["mr"]
        assert g["nc"] % g["nr"] == 0 and 33 <= g["nc"] < 33 + g["nr"]
        with pytest.raises(ValueError, match="text: expected three"):
            _core.set_gemm_blocking("9,7")
        assert fastmlp.gemm_config()["kc"] == 7  # unchanged by the rejected value
    finally:
        _core.set_gemm_blocking(None)
        fastmlp._set_cpu_class(detected)
    assert not fastmlp.gemm_config()["blocking_overridden"]


def test_detected_class_follows_the_cpu():
    g = fastmlp.gemm_config()
    best = _core.best_cpu_capability()
    want = {"generic": "generic", "avx2": "avx2"}.get(best)
    if want is None:
        want = "avx512_256" if g["vendor"] in ("AuthenticAMD", "HygonGenuine") else "avx512_2fma"
    assert g["detected_cpu_class"] == want
    assert g["cache_source"] in ("cpuid", "sysfs", "none")
    if g["cache_source"] != "none":
        assert [c["level"] for c in g["caches"]] == sorted({c["level"] for c in g["caches"]})
        assert all(c["size"] > 0 and c["line"] > 0 for c in g["caches"])


def test_cpuid_agrees_with_sysfs_when_both_exist():
    """The cross-check: CPUID's sizes and ways equal /sys's (or the mismatch is reported)."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    g = fastmlp.gemm_config()
    if g["cache_source"] != "cpuid" or not os.path.isdir(base):
        pytest.skip("needs CPUID cache leaves and /sys cache info")
    if g["cache_mismatch"] is not None:
        assert "cpuid:" in g["cache_mismatch"] and "sysfs:" in g["cache_mismatch"]
        return
    for c in g["caches"]:
        for d in sorted(os.listdir(base)):
            p = os.path.join(base, d)
            if not d.startswith("index"):
                continue
            with open(os.path.join(p, "level")) as f, open(os.path.join(p, "type")) as t:
                if int(f.read()) != c["level"] or t.read().strip() == "Instruction":
                    continue
            with open(os.path.join(p, "size")) as f:
                s = f.read().strip()
            assert int(s[:-1]) * {"K": 1024, "M": 1 << 20}[s[-1]] == c["size"]


# ------------------------------------- every class's choice, bitwise 1 vs 2 --
def test_fused_epoch_bitwise_python_loop_with_tiny_kc(rng):
    """KC below the batch size turns the SGD fold off (dW is summed in K blocks, so
    W + alpha*dW can't be folded into the GEMM's epilogue): still bitwise the Python loop."""
    from test_train_epoch import OPTIMS, run_both

    try:
        for blocking in ("8,16,32", "64,1,64"):
            _core.set_gemm_blocking(blocking)
            run_both(rng, "ce", dict(OPTIMS["plain"]), batch_size=32, epochs=1)
    finally:
        _core.set_gemm_blocking(None)
