#!/usr/bin/env bash
# Checks that every tracked C++ file (*.cc, *.h) is formatted as .clang-format says. Prints the
# files that are not, and exits non-zero if there is any. Generated code is not tracked, so
# nothing is excluded. Fix a file with `clang-format -i FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 2
fi
bad=$(git ls-files -z -- '*.cc' '*.h' |
      xargs -0 -r -n 1 -P "$(nproc)" \
        sh -c 'clang-format --dry-run --Werror "$1" >/dev/null 2>&1 || echo "$1"' check-format |
      sort)
if [ -n "$bad" ]; then
  echo "check-format: $(echo "$bad" | wc -l) file(s) not formatted as .clang-format says" \
       "(clang-format -i FILE fixes one):" >&2
  echo "$bad" | sed 's/^/  /' >&2
  exit 1
fi
echo "check-format: all files formatted"
