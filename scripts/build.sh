#!/usr/bin/env bash
# Configures and builds into build/ (Release with debug info): everything, or only the targets
# named (scripts/build.sh outpost).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
