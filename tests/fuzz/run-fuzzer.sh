#!/usr/bin/env bash
# Runs one fuzz target for a bounded time over a copy of its seed corpus (the suite's fuzz
# tests, tests/fuzz/CMakeLists.txt): run-fuzzer.sh FUZZER CORPUS_DIR WORK_DIR SECONDS.
# New inputs go to WORK_DIR/corpus, a crash to WORK_DIR/crash-*; libFuzzer exits non-zero on a
# crash, a leak, a timeout or UB, and so does this script.
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus"
cp -R "$corpus/." "$work/corpus/"
cd "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus"
