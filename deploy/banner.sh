#!/usr/bin/env bash
# Printed by scripts/run-local.sh once the local cluster serves: its endpoints and three commands
# to try. Waits up to 60 s for the three voters and the learner to answer.
set -uo pipefail
VOTERS=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
LEARNER=127.0.0.1:42379
for _ in $(seq 1 300); do
  if etcdctl --endpoints=$VOTERS --command-timeout=1s endpoint health >/dev/null 2>&1 &&
    etcdctl --endpoints=$LEARNER --command-timeout=1s endpoint status >/dev/null 2>&1; then
    cat <<TXT

  Outpost local cluster is up (Ctrl-C stops every member):
    infra1  voter    client http://127.0.0.1:2379   peer http://127.0.0.1:12380
    infra2  voter    client http://127.0.0.1:22379  peer http://127.0.0.1:22380
    infra3  voter    client http://127.0.0.1:32379  peer http://127.0.0.1:32380
    infra4  learner  client http://127.0.0.1:42379  peer http://127.0.0.1:42380

  Try:
    etcdctl --endpoints=$VOTERS put greeting hello
    etcdctl --endpoints=$LEARNER get greeting --consistency=s
    etcdctl --endpoints=$VOTERS,$LEARNER endpoint status -w table

TXT
    exit 0
  fi
  sleep 0.2
done
echo "the local cluster did not answer within 60 s: see the members' logs above" >&2
exit 1
