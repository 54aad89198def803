#!/usr/bin/env bash
# The README's test command: install what is missing, check the formatting (.clang-format), build,
# run the whole suite with CTest (arguments, if any, go to one ctest run instead).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/build.sh
cd build
if [ $# -gt 0 ]; then
  exec ctest --output-on-failure --timeout 900 "$@"
fi
# Tests labelled unit or raft (in-process Catch2 binaries, the deterministic raft simulation,
# private temp dirs and free ports) run nproc at a time. Everything else (integration tests: real
# processes, timing-sensitive on 2 cores) runs one at a time, as before. Both halves always run.
status=0
ctest --output-on-failure --timeout 900 -L '^(unit|raft)$' -j"$(nproc)" || status=1
ctest --output-on-failure --timeout 900 -LE '^(unit|raft)$' || status=1
exit "$status"
