#!/usr/bin/env bash
# Builds the core with -fsanitize=address,undefined and runs the kernel tests
# against it (the interpreter is not instrumented, so libasan is preloaded).
# Usage: bash .ci/sanitize.sh [pytest args...]   (default: the kernel tests)
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
  set -- tests/test_sgemm.py tests/test_relu.py tests/test_bias_grad.py tests/test_cross_entropy.py \
         tests/test_mse.py tests/test_sgd.py tests/test_train_epoch.py tests/test_gemm_blocking.py \
         tests/test_gemv.py tests/test_infer.py  # infer (issue 12)
  existing=()
  for t in "$@"; do [ -e "$t" ] && existing+=("$t"); done
  set -- "${existing[@]}"
fi
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Run from the temp dir's parent view: tests import fastmlp from PYTHONPATH.
PYTHONPATH="$tmp" python -m pytest -q -p no:cacheprovider -x "$@"
