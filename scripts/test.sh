#!/usr/bin/env bash
# The README's test command: install what is missing, check the formatting (.clang-format), build,
# run the whole suite with CTest (arguments, if any, go to one ctest run instead), then the fuzz
# targets for a bounded time (scripts/fuzz.sh: a clang build of their own in build-fuzz/; skipped
# where clang is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/build.sh
if [ $# -gt 0 ]; then
  cd build
  exec ctest --output-on-failure --timeout 900 "$@"
fi
# Tests labelled unit or raft (in-process Catch2 binaries, the deterministic raft simulation,
# private temp dirs and free ports) run nproc at a time. Everything else (integration tests: real
# processes, timing-sensitive on 2 cores) runs one at a time, as before. Every part always runs.
status=0
(cd build && ctest --output-on-failure --timeout 900 -L '^(unit|raft)$' -j"$(nproc)") || status=1
(cd build && ctest --output-on-failure --timeout 900 -LE '^(unit|raft)$') || status=1
bash scripts/fuzz.sh || status=1
exit "$status"
