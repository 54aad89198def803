#!/usr/bin/env bash
# Configures and builds into build/ (Release with debug info): everything, or only the targets
# named (scripts/build.sh outpost).
set -euo pipefail
cd "$(dirname "$0")/.."
# -g1 (line tables, function names: backtraces still resolve) instead of RelWithDebInfo's -g:
# same -O2 code and warnings, about a quarter less compile CPU in a clean build (CI builds from
# a clean clone on 2 cores). This sets the flag in build/'s cache; other build dirs keep theirs.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
