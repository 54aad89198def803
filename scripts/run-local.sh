#!/usr/bin/env bash
# The README's first command: install what is missing, build, start the local cluster in the
# foreground with per-member prefixed logs (deploy/Procfile, run by deploy/procrun.py).
# Ctrl-C stops every member.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec python3 deploy/procrun.py deploy/Procfile
