"""Checks of a built fastmlp wheel (issue 14), called by .ci/wheel.sh and cibuildwheel.

    python .ci/wheel_checks.py isa FILE.so|FILE.whl   no AVX outside the per-ISA code
    python .ci/wheel_checks.py wheel FILE.whl|DIR     bundled OpenMP runtime, typing files,
                                                      version, tags, then `isa`
    python .ci/wheel_checks.py openmp                 (in the venv with the wheel installed)
                                                      OpenMP runtimes after importing
                                                      fastmlp, NumPy and scikit-learn
    python .ci/wheel_checks.py isa --installed        `isa` on the installed fastmlp._core
    python .ci/wheel_checks.py version                pyproject.toml's [project] version

Each prints what it found and exits 1 naming what is wrong. Uses only the standard
library plus binutils (objdump, readelf); `openmp` needs threadpoolctl and scikit-learn.

The ISA rule. An "AVX instruction" is any instruction encoded with a VEX prefix (first
byte after the legacy prefixes C4 or C5) or an EVEX prefix (62). In 64-bit mode those
bytes are never anything else (LES, LDS and BOUND do not exist there), and every
AVX, AVX2, FMA, F16C, AVX-512, AVX-VNNI and AMX instruction, and every VEX-encoded
BMI1/BMI2 one, uses one of them: none runs on a CPU without AVX. This is stricter than
looking for ymm/zmm registers: with -mavx the compiler VEX-encodes scalar SSE code too
(vmovss %xmm0, ...), which crashes an old CPU just the same. (XOP's 8F prefix, AMD
family 15h only, is not matched: our compiler flags never enable it.) The per-ISA code
is the output section .text.fastmlp_isa, which csrc/cpu/isa_sections.ld fills with
exactly the code the *_avx2.cpp / *_avx512.cpp objects define themselves; it survives
stripping, so the check needs no symbols. Every other executable section must hold no
AVX instruction, and the per-ISA section must hold some (else the check proves nothing:
a build without it, e.g. from a linker that ignored the script, fails too).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ISA_SECTION = ".text.fastmlp_isa"
LEGACY_PREFIXES = {0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65}
VEX_EVEX = {0xC4: "VEX3", 0xC5: "VEX2", 0x62: "EVEX"}
ROOT = Path(__file__).resolve().parent.parent


class CheckFailed(Exception):
    pass


def fail(msg: str) -> None:
    raise CheckFailed(msg)


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def elf_machine(so: Path) -> str:
    m = re.search(r"Machine:\s+(.*)", run(["readelf", "-h", str(so)]))
    return m.group(1).strip() if m else "?"


def vex_kind(code: bytes) -> str | None:
    """'VEX2'/'VEX3'/'EVEX' if the instruction's encoding uses that prefix, else None."""
    i = 0
    while i < len(code) and code[i] in LEGACY_PREFIXES:
        i += 1
    if i < len(code) and 0x40 <= code[i] <= 0x4F:  # REX (REX before VEX is #UD anyway)
        i += 1
    return VEX_EVEX.get(code[i]) if i < len(code) else None


def scan(so: Path) -> dict[str, dict]:
    """Per executable section: instruction count, AVX count, the first AVX lines."""
    # -w and a wide --insn-width keep every instruction's bytes on its own line.
    out = subprocess.run(["objdump", "-d", "-w", "--insn-width=16", str(so)], check=True,
                         capture_output=True, text=True).stdout
    sections: dict[str, dict] = {}
    cur = None
    sym = "?"
    line_re = re.compile(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$")
    for line in out.splitlines():
        if line.startswith("Disassembly of section "):
            cur = sections.setdefault(line[len("Disassembly of section "):].rstrip(":"),
                                      {"insns": 0, "avx": 0, "first": [], "kinds": {}})
            continue
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            sym = m.group(1)
            continue
        m = line_re.match(line)
        if not m or cur is None:
            continue
        cur["insns"] += 1
        kind = vex_kind(bytes.fromhex(m.group(2).replace(" ", "")))
        if kind:
            cur["avx"] += 1
            cur["kinds"][kind] = cur["kinds"].get(kind, 0) + 1
            if len(cur["first"]) < 8:
                cur["first"].append(f"{m.group(1)} <{sym}>: {m.group(3).strip()}")
    return sections


def check_isa(so: Path) -> None:
    machine = elf_machine(so)
    if "X86-64" not in machine and "x86-64" not in machine:
        print(f"isa: {so.name} is {machine}: no x86 ISA paths, nothing to check")
        return
    secs = scan(so)
    for name, s in secs.items():
        print(f"isa: {name:<20} {s['insns']:>8} instructions, {s['avx']:>7} VEX/EVEX "
              f"{json.dumps(s['kinds']) if s['kinds'] else ''}")
    isa = secs.get(ISA_SECTION)
    if isa is None or isa["avx"] == 0:
        fail(f"{so.name}: no {ISA_SECTION} section with AVX code: the per-ISA objects were not "
             "linked with csrc/cpu/isa_sections.ld, so the check below would prove nothing")
    bad = {n: s for n, s in secs.items() if n != ISA_SECTION and s["avx"]}
    if bad:
        lines = [f"{n}: {s['avx']} VEX/EVEX-encoded instructions, e.g." + "".join(
            f"\n    {x}" for x in s["first"]) for n, s in bad.items()]
        fail(f"{so.name}: AVX instructions outside the per-ISA code ({ISA_SECTION}); they would "
             "crash CPUs without AVX (a -march/-mavx flag on a baseline file, or an inline "
             "function compiled in a per-ISA file that the linker kept for everyone):\n  "
             + "\n  ".join(lines))
    print(f"isa: ok: all {isa['avx']} VEX/EVEX instructions lie in {ISA_SECTION}")


def core_in_wheel(whl: Path, into: Path) -> Path:
    with zipfile.ZipFile(whl) as z:
        names = [n for n in z.namelist() if re.fullmatch(r"fastmlp/_core\..*\.so", n)]
        if len(names) != 1:
            fail(f"{whl.name}: expected one fastmlp/_core*.so, found {names}")
        z.extract(names[0], into)
    return into / names[0]


def pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text)
    if not m:
        fail("pyproject.toml has no version")
    return m.group(1)


def check_wheel(whl: Path) -> None:
    if whl.is_dir():  # cibuildwheel's {dest_dir}: the one repaired wheel in it
        found = sorted(whl.glob("fastmlp-*.whl"))
        if len(found) != 1:
            fail(f"{whl}: expected one fastmlp wheel, found {[f.name for f in found]}")
        whl = found[0]
    name = whl.name
    m = re.fullmatch(r"fastmlp-([^-]+)-([^-]+)-([^-]+)-([^-]+)\.whl", name)
    if not m:
        fail(f"{name}: not a wheel file name")
    version, py_tag, abi_tag, plat_tag = m.groups()
    print(f"wheel: {name}: {whl.stat().st_size:,} bytes; tags {py_tag}-{abi_tag}-{plat_tag}")
    if not re.fullmatch(r"manylinux_\d+_\d+_\w+(\.manylinux_\d+_\d+_\w+)*|manylinux\d+_\w+", plat_tag):
        fail(f"{name}: platform tag {plat_tag!r} is not manylinux (was it repaired?)")
    if version != pyproject_version():
        fail(f"{name}: version {version} != pyproject.toml's {pyproject_version()}")
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        libs = [n for n in names if n.startswith("fastmlp.libs/")]
        gomp = [n for n in libs if re.fullmatch(r"fastmlp\.libs/libgomp-[0-9a-f]+\.so[.0-9]*", n)]
        for f in ("fastmlp/py.typed", "fastmlp/_core.pyi", "fastmlp/_build_version.py"):
            if f not in names:
                fail(f"{name}: {f} missing")
        built = z.read("fastmlp/_build_version.py").decode()
    print(f"wheel: bundled libraries: {libs or 'none'}")
    if len(gomp) != 1:
        fail(f"{name}: expected the GNU OpenMP runtime bundled as fastmlp.libs/libgomp-<hash>.so*, "
             f"found {gomp or 'none'}: a user without libgomp gets an ImportError, one with "
             "another version gets whatever it is")
    if f'"{version}"' not in built:
        fail(f"{name}: fastmlp/_build_version.py does not say {version!r}: {built!r}")
    with tempfile.TemporaryDirectory() as tmp:
        so = core_in_wheel(whl, Path(tmp))
        dyn = run(["readelf", "-d", str(so)])
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dyn)
        rpath = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.*)\]", dyn)
        print(f"wheel: _core NEEDED {needed}; RPATH/RUNPATH {rpath}")
        bundled = os.path.basename(gomp[0])
        if bundled not in needed or any(n.startswith("libgomp.so") for n in needed):
            fail(f"{name}: _core does not load the bundled {bundled} (NEEDED {needed})")
        if not any("$ORIGIN/../fastmlp.libs" in r for r in rpath):
            fail(f"{name}: _core's RPATH/RUNPATH {rpath} does not point at $ORIGIN/../fastmlp.libs")
        check_isa(so)
    print("wheel: ok")


def check_binding(fastmlp, ours: str, other: str) -> None:
    """fastmlp's kernels read their OpenMP runtime's thread limit from its own copy only.

    fastmlp.get_num_threads() is capped by omp_get_max_threads() of the copy its code is
    bound to (a threadpoolctl limit). Lower that ICV in the calling thread on each copy in
    turn, through the copy's own handle (dlopen of a loaded path returns that object):
    only the bundled copy may move fastmlp's count.
    """
    import ctypes
    import os

    if (os.cpu_count() or 1) < 2:
        print("openmp: one CPU: the runtimes' default is 1 thread, binding check skipped")
        return
    fastmlp.set_num_threads(2)
    for path, moves in ((other, False), (ours, True)):
        lib = ctypes.CDLL(path)
        before = lib.omp_get_max_threads()
        lib.omp_set_num_threads(1)
        try:
            got = fastmlp.get_num_threads()
        finally:
            lib.omp_set_num_threads(before)
        if got != (1 if moves else 2):
            fail(f"openmp: with {os.path.basename(path)} limited to 1 thread, fastmlp uses {got} "
                 f"threads: fastmlp's code is {'not ' if moves else ''}bound to that copy")
    print("openmp: fastmlp's code is bound to its bundled copy (its limit caps fastmlp's "
          "threads, the other copy's does not)")


def check_openmp() -> None:
    """After importing fastmlp, NumPy and scikit-learn: the OpenMP runtimes in the process.

    PyPI's NumPy links OpenBLAS (pthreads, no OpenMP); scikit-learn's wheel bundles its own
    libgomp, as ours does (auditwheel renames each copy libgomp-<hash of the file>.so). Two
    copies of the same GNU runtime are safe here: each extension module is dlopen'ed with
    RTLD_LOCAL and names its own copy by a unique soname, so each binds to its own (checked
    below: check_binding); threadpoolctl sees and limits both; and no Intel or LLVM OpenMP is there to
    interpose GOMP_* symbols (the combination threadpoolctl warns about). Anything else
    fails: a system libgomp (an unrepaired wheel), a third runtime, a non-GNU one.
    """
    import fastmlp
    import numpy  # noqa: F401
    import sklearn  # noqa: F401
    from sklearn.cluster import KMeans  # its Cython OpenMP code: loads sklearn's libgomp
    import threadpoolctl

    info = threadpoolctl.threadpool_info()
    for p in info:
        print(f"openmp: {p.get('user_api')}: {p.get('internal_api')} {p.get('version')} "
              f"{p.get('num_threads')} threads {p.get('filepath')}")
    omp = [p for p in info if p.get("user_api") == "openmp"]
    ours_dir = Path(fastmlp.__file__).resolve().parent.parent / "fastmlp.libs"
    ours = [p for p in omp if Path(p["filepath"]).resolve().parent == ours_dir]
    if len(ours) != 1:
        fail(f"openmp: fastmlp's bundled runtime (in {ours_dir}) is not loaded: {omp}")
    others = [p for p in omp if p not in ours]
    for p in others:
        if p.get("internal_api") != "openmp" or p.get("prefix") != "libgomp":
            fail(f"openmp: a non-GNU OpenMP runtime beside fastmlp's libgomp: {p}")
        if "scikit_learn.libs" not in p["filepath"]:
            fail(f"openmp: an OpenMP runtime that is neither fastmlp's nor scikit-learn's "
                 f"bundled copy: {p['filepath']}")
    if len(others) > 1:
        fail(f"openmp: more than two OpenMP runtimes: {omp}")
    if not others:
        print("openmp: exactly one OpenMP runtime: " + ours[0]["filepath"])
    else:
        check_binding(fastmlp, ours[0]["filepath"], others[0]["filepath"])
        # Both runtimes work in the same process, in turn, and threadpoolctl limits both.
        import numpy as np
        x = np.random.default_rng(0).standard_normal((200, 4))
        with threadpoolctl.threadpool_limits(1, user_api="openmp"):
            KMeans(n_clusters=3, n_init=1, random_state=0).fit(x)
            if fastmlp.get_num_threads() != 1:
                fail("openmp: threadpool_limits(1, user_api='openmp') does not limit fastmlp")
        fastmlp.set_num_threads(2)
        fastmlp.kernels.sgemm(x.astype(np.float32), x.T.astype(np.float32))
        KMeans(n_clusters=3, n_init=1, random_state=0).fit(x)
        print("openmp: two copies of GNU libgomp, fastmlp's and scikit-learn's bundled one: "
              "safe (each module binds to its own copy, checked; both run in turn; "
              "threadpoolctl sees and limits both)")
    print("openmp: ok")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["isa"] and argv[1:] == ["--installed"]:
            import fastmlp._core as core
            check_isa(Path(core.__file__))
        elif argv[:1] == ["isa"] and len(argv) == 2:
            p = Path(argv[1])
            if p.suffix == ".whl":
                with tempfile.TemporaryDirectory() as tmp:
                    check_isa(core_in_wheel(p, Path(tmp)))
            else:
                check_isa(p)
        elif argv[:1] == ["wheel"] and len(argv) == 2:
            check_wheel(Path(argv[1]))
        elif argv == ["openmp"]:
            check_openmp()
        elif argv == ["version"]:
            print(pyproject_version())
        else:
            print(__doc__.split("\n\n")[1], file=sys.stderr)
            return 2
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if shutil.which("objdump") is None and sys.argv[1:2] in (["isa"], ["wheel"]):
        sys.exit("objdump (binutils) is needed")
    sys.exit(main(sys.argv[1:]))
