#!/usr/bin/env bash
# Builds the core with -fsanitize=address,undefined and runs the tests
# against it (the interpreter is not instrumented, so libasan is preloaded).
# Usage: bash .ci/sanitize.sh [pytest args...]   (default: every test file but the few named below)
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=build/asan
cmake -S . -B "$builddir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTMLP_SANITIZE=ON \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" >/dev/null
cmake --build "$builddir" -j2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r python/fastmlp "$tmp/"
rm -f "$tmp"/fastmlp/_core*.so
cp "$builddir"/_core*.so "$tmp/fastmlp/"
if [ $# -eq 0 ]; then
  # Every test file runs (a new kernel's tests are sanitized without a list to
  # keep), but those that drive no C++ code beyond what the others do and take
  # minutes under ASan: the benchmark CLI's plumbing, scikit-learn's estimator
  # checks (sk_fit and predict run under test_sklearn_*.py), the seed script
  # (the Python API's loop, under test_training.py / test_nn.py), the float64
  # twins alone; and the version test, which needs the package beside its
  # pyproject.toml (here it runs from a copy).
  skip=" test_bench_cli.py test_bench_stored.py test_sklearn_checks.py test_seed_script.py test_reference.py test_version.py "
  for t in tests/test_*.py; do
    case "$skip" in *" $(basename "$t") "*) ;; *) set -- "$@" "$t" ;; esac
  done
fi
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Run from the temp dir's parent view: tests import fastmlp from PYTHONPATH.
PYTHONPATH="$tmp" python -m pytest -q -p no:cacheprovider -x "$@"
