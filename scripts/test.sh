#!/usr/bin/env bash
# The README's test command: install what is missing, check the formatting (.clang-format), build,
# run the whole suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
