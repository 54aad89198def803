#!/usr/bin/env bash
# Catch-up benchmark: a learner joins a 3-member cluster holding 1 GiB (configurable) while
# writes go on; reports the snapshot transfer time, the leader's heartbeat delay during it and
# the put latency p99 before and during. The work is done by catchup.py (next to this script);
# every server it starts is killed by pid on any exit.
#
#   tests/bench/catchup.sh [--build DIR] [--servers outpost,etcd] [--size-mb 1024]
#                          [--value-kib 100] [--rate-limit 64MiB] [--write-rate 100]
#                          [--window 2] [--snapshot-count 1000] [--keep]
#
# Defaults: --build build, --servers outpost (add etcd for the etcd 3.4 reference).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$here/catchup.py" "$@"
