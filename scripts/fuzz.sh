#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs each for a
# bounded time over its seed corpus (CTest label fuzz; OUTPOST_FUZZ_SECONDS each, default 20).
# Extra arguments go to that ctest. A machine without clang and libFuzzer skips, saying so; set
# OUTPOST_SKIP_FUZZ=1 to skip on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${OUTPOST_SKIP_FUZZ:-}" ]; then
  echo "fuzz: skipped (OUTPOST_SKIP_FUZZ is set)"
  exit 0
fi
cxx=${OUTPOST_FUZZ_CXX:-clang++}
cc=${OUTPOST_FUZZ_CC:-clang}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  >"$probe/p.cc"
if ! command -v "$cxx" >/dev/null ||
   ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cc" -o "$probe/p" 2>/dev/null; then
  echo "fuzz: SKIPPED: $cxx with libFuzzer (-fsanitize=fuzzer) is not available;" \
       "install clang and libclang-rt-14-dev (scripts/install-deps.sh) to run the fuzz targets"
  exit 0
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTPOST_FUZZ=ON \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  -DOUTPOST_FUZZ_SECONDS="${OUTPOST_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target outpost_fuzz
cd build-fuzz
ctest -L fuzz -j"$(nproc)" --output-on-failure "$@"
