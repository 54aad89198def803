#!/usr/bin/env bash
# Learner vs mirror (issue 12): one workload (puts, deletes, 10-key txns, leases kept alive and
# leases left to expire) at a fixed rate against a 3-voter Outpost core; in the "remote region"
# behind a 25 ms one-way delaying proxy: an Outpost learner (serializable reads), a 1-member
# Outpost cluster fed by outpost-mirror, and a 1-member Outpost cluster fed by etcdctl 3.4
# make-mirror. A watch on each remote side timestamps every event: replication lag p50/p99/max,
# anomalies (half txns, out-of-order revisions, duplicates, lost deletes), a link cut, kill -9 +
# restart of the mirrors and of the learner, extra leader CPU per mode. The work is done by
# lvm.py (next to this script); everything it starts is killed by pid on any exit. Builds nothing.
#
#   tests/bench/learner-vs-mirror/run.sh [--build DIR] [--out DIR] [--rate 50] [--delay-ms 25]
#       [--cut-s 30] [--cut-mode hold|isolate] [--cpu-phase-s 15] [--settle-s 20] [--keep]
#
# Defaults: --build build, output (table.md, lag.png, events.json) in DIR/learner-vs-mirror/.
# About 5 minutes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Needs Debian's python3-matplotlib (the plot) and python3-grpcio (the workload client): prefer
# the system python that has them.
py=python3
for c in /usr/bin/python3 python3; do
  if "$c" -c 'import matplotlib, grpc' 2>/dev/null; then py="$c"; break; fi
done
exec "$py" "$here/lvm.py" "$@"
