#!/usr/bin/env bash
# Developer build: compile the core into build/dev and drop _core*.so into
# python/fastmlp/, so `PYTHONPATH=python python -c "import fastmlp"` uses it.
# Serialised with flock so that concurrent callers don't clobber each other.
# Usage: ./dev-build.sh [extra cmake args, e.g. -DFASTMLP_SANITIZE=ON]
set -euo pipefail
cd "$(dirname "$0")"
builddir=${FASTMLP_BUILD_DIR:-build/dev}
exec 9>/tmp/fastmlp-dev-build.lock
flock 9
cmake -S . -B "$builddir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build "$builddir" -j2
# Copy under a temporary name and rename: overwriting the file in place would
# corrupt the module under any process that has it loaded.
for so in "$builddir"/_core*.so; do
  cp -f "$so" "python/fastmlp/.$(basename "$so").tmp"
  mv -f "python/fastmlp/.$(basename "$so").tmp" "python/fastmlp/$(basename "$so")"
done
