#!/usr/bin/env bash
# The README's test command: install what is missing, check the formatting (.clang-format), build,
# run the whole suite with CTest, then the fuzz targets for a bounded time (scripts/fuzz.sh: a
# clang build of their own in build-fuzz/; skipped where clang is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure --timeout 900 "$@")
bash scripts/fuzz.sh
