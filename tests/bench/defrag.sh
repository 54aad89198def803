#!/usr/bin/env bash
# Defragmentation, Outpost vs etcd 3.4: the same churn written to a fresh single-member etcd and a
# fresh single-member Outpost, one after the other, then `etcdctl defrag` on each; a table with
# the store's size (Status dbSize / dbSizeInUse) after the churn, after compaction and after the
# defrag, and how long the defrag took. Everything this script starts is killed, by pid, on exit.
#
# Usage: tests/bench/defrag.sh [--size BYTES] [--val-size BYTES] [--overwrites N] [--clients N]
#                              [--build DIR] [--bench PATH] [--etcd PATH] [--keep]
#   --size BYTES      bytes of values written in all (default 1073741824: 1 GiB)
#   --val-size BYTES  value size of each put (default 32768)
#   --overwrites N    each key is written about N times (default 4): the key space is
#                     size / val-size / N keys, picked at random, so after compacting at the
#                     last revision about (N-1)/N of what was written is garbage
#   --clients N       concurrent outpost-bench clients (default 16)
#   --build DIR       where outpost is (default: build/ in the repository)
#   --bench PATH      outpost-bench (default: DIR/outpost-bench, else /work/main/build/outpost-bench)
#   --etcd PATH       the reference etcd binary (default /usr/bin/etcd)
#   --keep            keep the work dir (data dirs, server logs)
# Both servers run with --quota-backend-bytes of 4 x size (8 GiB at most) so the churn fits.
# Needs bash, python3 (free ports, JSON) and etcdctl.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD="$REPO/build"
BENCH=""
ETCD=/usr/bin/etcd
ETCDCTL=$(command -v etcdctl || true)
SIZE=1073741824
VAL=32768
OVERWRITES=4
CLIENTS=16
KEEP=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --val-size) VAL=$2; shift 2 ;;
    --overwrites) OVERWRITES=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --bench) BENCH=$2; shift 2 ;;
    --etcd) ETCD=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "defrag.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "defrag.sh: build dir not found" >&2; exit 2; }
OUTPOST="$BUILD/outpost"
if [[ -z $BENCH ]]; then
  BENCH="$BUILD/outpost-bench"
  [[ -x $BENCH ]] || BENCH=/work/main/build/outpost-bench
fi
for bin in "$OUTPOST" "$BENCH" "$ETCD" "$ETCDCTL"; do
  [[ -x "$bin" ]] || { echo "defrag.sh: $bin not found or not executable" >&2; exit 2; }
done

TOTAL=$(( SIZE / VAL ))
KEYS=$(( TOTAL / OVERWRITES ))
(( KEYS > 0 )) || KEYS=1
QUOTA=$(( SIZE * 4 ))
(( QUOTA > 8589934592 )) && QUOTA=8589934592

WORK=$(mktemp -d -t outpost-defrag.XXXXXX)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  if [[ $KEEP == 1 ]]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_ports() {
  python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])'
}

# status URL -> "dbSize dbSizeInUse revision"
status() {
  "$ETCDCTL" --endpoints="$1" endpoint status -w json | python3 -c 'import json, sys
s = json.load(sys.stdin)[0]["Status"]
print(s["dbSize"], s.get("dbSizeInUse", 0), s["header"]["revision"])'
}

now() { date +%s.%N; }

ROWS=()
run_one() {
  local kind=$1 bin=$2
  read -r cport pport < <(free_ports)
  local url="http://127.0.0.1:$cport" dir="$WORK/$kind"
  "$bin" --name "$kind" --data-dir "$dir" --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$kind=http://127.0.0.1:$pport" --quota-backend-bytes "$QUOTA" \
    --logger zap --log-outputs stderr >"$WORK/$kind.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    "$ETCDCTL" --endpoints="$url" endpoint health >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "== $kind: $TOTAL puts of $VAL B over $KEYS keys ($CLIENTS clients)" >&2
  local t0 t1 t2 t3
  t0=$(now)
  "$BENCH" --endpoints "$url" --conns 4 --clients "$CLIENTS" --timeout 3600s put \
    --total "$TOTAL" --val-size "$VAL" --key-size 16 --key-space-size "$KEYS" >"$WORK/$kind.put.txt" ||
    { echo "defrag.sh: outpost-bench put failed against $kind" >&2; cat "$WORK/$kind.put.txt" >&2; }
  t1=$(now)
  read -r s_churn u_churn rev < <(status "$url")
  "$ETCDCTL" --endpoints="$url" --command-timeout=600s compact "$rev" --physical >/dev/null
  read -r s_comp u_comp _ < <(status "$url")
  t2=$(now)
  "$ETCDCTL" --endpoints="$url" --command-timeout=3600s defrag >&2
  t3=$(now)
  read -r s_defrag u_defrag _ < <(status "$url")
  local du
  du=$(du -sb "$dir" | cut -f1)
  ROWS+=("$kind $(python3 -c "print(f'{$t1-$t0:.1f} {$t3-$t2:.2f}')") $s_churn $u_churn $s_comp $u_comp $s_defrag $u_defrag $du")
  kill "$PID"; wait "$PID" 2>/dev/null; PID=""
}

run_one etcd "$ETCD"
run_one outpost "$OUTPOST"

python3 - "$SIZE" "$VAL" "$OVERWRITES" "${ROWS[@]}" <<'EOF'
import sys
size, val, ow = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mib = lambda b: f"{int(b) / 1048576:.1f}"
print(f"\nchurn: {mib(size)} MiB of {val} B values, each key written ~{ow}x; compact at the last "
      "revision, then defrag (sizes in MiB: dbSize / dbSizeInUse)")
print(f"{'server':8} {'write s':>8} {'defrag s':>9} {'after churn':>16} {'after compact':>16} "
      f"{'after defrag':>16} {'data dir':>9}")
for row in sys.argv[4:]:
    k, w, d, s1, u1, s2, u2, s3, u3, du = row.split()
    print(f"{k:8} {w:>8} {d:>9} {mib(s1) + ' / ' + mib(u1):>16} {mib(s2) + ' / ' + mib(u2):>16} "
          f"{mib(s3) + ' / ' + mib(u3):>16} {mib(du):>9}")
EOF
