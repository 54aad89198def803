#!/usr/bin/env bash
# The README's first command: install what is missing, build the server (only what the cluster
# runs: the tests are not built), start the local cluster in the foreground with per-member
# prefixed logs (deploy/Procfile, run by deploy/procrun.py) and, once it serves, print its
# endpoints and three commands to try (deploy/banner.sh). Ctrl-C stops every member.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh outpost
exec python3 deploy/procrun.py deploy/Procfile --then "bash deploy/banner.sh"
