#!/usr/bin/env bash
# Edge-replica read benchmark (issue 11): a 3-voter core plus one learner behind a delayed peer
# link (default 25 ms one way, tests/integration/proxy.py), clients next to the learner:
# outpost-bench range on the learner for each read policy (serializable, linearizable, bounded)
# at 1, 16 and 256 clients, beside etcd 3.4 (serializable reads on its remote learner, and
# `etcd grpc-proxy` in the remote region); rps, p50, p99, leader CPU s per 100 000 reads,
# ratios vs the etcd learner row. The work is done by replica.py (next to this script); every
# server and proxy it starts is killed by pid on any exit. Builds nothing.
#
#   tests/bench/replica.sh [--build DIR] [--delay-ms 25] [--clients 1,16,256] [--scale F]
#                          [--servers outpost,etcd] [--rows NAME,...] [--etcd-remote learner|voter]
#                          [--keys 1000] [--run-timeout 60] [--out FILE] [--keep]
#
# Defaults: --build build, table in DIR/replica-bench.txt (+ .jsonl). About 5 minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$here/replica.py" "$@"
