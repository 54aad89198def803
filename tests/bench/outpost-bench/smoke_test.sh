#!/usr/bin/env bash
# CTest smoke test of outpost-bench (label integration): start a 1-member real etcd on free
# loopback ports, run `outpost-bench put --total 200 --clients 4` against it and check that the
# report has a Requests/sec line and no errors. etcd is killed by pid whatever happens.
#
# Usage: smoke_test.sh OUTPOST_BENCH [ETCD]
set -u -o pipefail

BENCH=${1:?usage: smoke_test.sh OUTPOST_BENCH [ETCD]}
ETCD=${2:-/usr/bin/etcd}

WORK=$(mktemp -d -t outpost-bench-smoke.XXXXXX)
ETCD_PID=""
cleanup() {
  if [[ -n "$ETCD_PID" ]]; then
    kill -9 "$ETCD_PID" 2>/dev/null
    wait "$ETCD_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

CPORT=$(free_port)
PPORT=$(free_port)
while [[ "$PPORT" == "$CPORT" ]]; do PPORT=$(free_port); done

"$ETCD" --name smoke --data-dir "$WORK/data" \
  --listen-client-urls "http://127.0.0.1:$CPORT" --advertise-client-urls "http://127.0.0.1:$CPORT" \
  --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster "smoke=http://127.0.0.1:$PPORT" >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!

# Ready = a linearizable read succeeds (needs a leader).
ready=0
for _ in $(seq 1 100); do
  if "$BENCH" --endpoints "127.0.0.1:$CPORT" --dial-timeout 1s --timeout 5s range ready-probe \
      --total 1 >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$ETCD_PID" 2>/dev/null || break
  sleep 0.2
done
if [[ $ready != 1 ]]; then
  echo "FAIL: etcd did not become ready on 127.0.0.1:$CPORT; its log:" >&2
  tail -20 "$WORK/etcd.log" >&2
  exit 1
fi

out=$("$BENCH" --endpoints "127.0.0.1:$CPORT" --timeout 30s put --total 200 --clients 4 2>&1)
rc=$?
echo "$out"
fail=0
if [[ $rc != 0 ]]; then echo "FAIL: outpost-bench exited with $rc" >&2; fail=1; fi
if ! grep -qE '^  Requests/sec:[[:space:]]+[0-9.]+$' <<<"$out"; then
  echo "FAIL: no Requests/sec line in the report" >&2; fail=1
fi
if grep -q 'Error distribution' <<<"$out"; then echo "FAIL: the run had errors" >&2; fail=1; fi

json=$("$BENCH" --endpoints "127.0.0.1:$CPORT" --timeout 30s --json put --total 200 --clients 4 --conns 2 2>&1)
echo "$json"
if ! python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["errors"]==0 and d["completed"]==200 and d["rps"]>0, d' "$json"; then
  echo "FAIL: --json output is not a clean run of 200 puts" >&2; fail=1
fi
[[ $fail == 0 ]] && echo "PASS"
exit $fail
