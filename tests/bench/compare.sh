#!/usr/bin/env bash
# Outpost vs etcd 3.4: the same outpost-bench matrix against a fresh etcd and a fresh Outpost,
# one after the other on this machine, then a table with both results and the Outpost/etcd ratios
# of throughput and p99 latency. Everything this script starts is killed, by pid, on any exit.
#
# Usage: tests/bench/compare.sh [--build DIR] [--etcd PATH] [--members N] [--scale F] [--keep]
#                               [--ops "put range-l range-s txn-put"] [--clients "1 16 256"]
#   --ops         which benchmarks (default: put range-l range-s txn-put); also available:
#                 watch-latency (at a client level C: C watchers of one key over as many streams
#                 as connections, 500 puts at 200/s; "rps" is events received per second) and
#                 lease-keepalive (C clients, each one lease and one keep-alive stream)
#   --build DIR   where outpost and outpost-bench are (default: build/ in the repository)
#   --etcd PATH   the reference etcd binary (default /usr/bin/etcd)
#   --members N   members per cluster (default 1)
#   --scale F     multiply every --total by F (default 1; the default matrix takes ~2-4 minutes
#                 on 2 cores)
#   --keep        keep the work dir (data dirs, server logs, raw JSON results)
#   --secure      TLS and auth on both servers, with the same certificates and users: a test PKI
#                 (tests/integration/tls_util.py, openssl), https client and peer URLs with
#                 --client-cert-auth and --peer-client-cert-auth, auth enabled (root, and a user
#                 "bench" whose role may read and write every key); outpost-bench connects with a
#                 client certificate and --user bench
#   --scrape-metrics  run every benchmark twice: as usual, then again with GET /metrics on every
#                 member's client URL once a second (row "OP+scrape"); tests/bench/metrics_scrape.sh
# Each benchmark run stops after 20 s whatever is left (marked * in the table), so a slow server
# cannot stretch the script past ~10 minutes.
# Traffic goes to 127.0.0.1 only. Needs bash, python3 (free ports, the table) and, to seed the
# key the range benchmarks read, etcdctl (optional: without it they read a missing key).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD="$REPO/build"
ETCD=/usr/bin/etcd
ETCDCTL=$(command -v etcdctl || true)
MEMBERS=1
SCALE=1
KEEP=0
SECURE=0
SCRAPE=0
SCRAPER_PID=""
OPS="put range-l range-s txn-put"
RUN_TIMEOUT=20s   # per benchmark run: a slow server ends a run early (marked * in the table)
CLIENT_LEVELS="1 16 256"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --etcd) ETCD=$2; shift 2 ;;
    --members) MEMBERS=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --secure) SECURE=1; shift ;;
    --scrape-metrics) SCRAPE=1; shift ;;
    --ops) OPS=$2; shift 2 ;;
    --clients) CLIENT_LEVELS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "compare.sh: build dir not found" >&2; exit 2; }
OUTPOST="$BUILD/outpost"
BENCH="$BUILD/outpost-bench"
if [[ $SCRAPE == 1 && $SECURE == 1 ]]; then
  echo "compare.sh: --scrape-metrics needs plain-text client URLs (not --secure)" >&2; exit 2
fi
for bin in "$OUTPOST" "$BENCH" "$ETCD"; do
  [[ -x "$bin" ]] || { echo "compare.sh: $bin not found or not executable" >&2; exit 2; }
done

WORK=$(mktemp -d -t outpost-compare.XXXXXX)
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
MEMBER_PIDS=()
ENDPOINTS=""
SCHEME=http
SERVER_TLS=()  # server flags for --secure
BENCH_TLS=()   # outpost-bench's TLS flags
BENCH_AUTH=()  # outpost-bench's user, once auth is on
CTL_TLS=()     # etcdctl's TLS flags
if [[ $SECURE == 1 ]]; then
  P="$WORK/pki"
  python3 "$REPO/tests/integration/tls_util.py" "$P" >/dev/null ||
    { echo "compare.sh: could not make the test PKI (openssl)" >&2; exit 1; }
  SCHEME=https
  SERVER_TLS=(--cert-file "$P/server.crt" --key-file "$P/server.key" --trusted-ca-file "$P/ca.crt"
              --client-cert-auth --peer-cert-file "$P/server.crt" --peer-key-file "$P/server.key"
              --peer-trusted-ca-file "$P/ca.crt" --peer-client-cert-auth)
  BENCH_TLS=(--cacert "$P/ca.crt" --cert "$P/client-alice.crt" --key "$P/client-alice.key")
  CTL_TLS=("${BENCH_TLS[@]}")
fi
BENCH_PID=""

stop_members() {
  local pid
  for pid in "${MEMBER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${MEMBER_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  MEMBER_PIDS=()
}
cleanup() {
  if [[ -n "$SCRAPER_PID" ]]; then kill -KILL "$SCRAPER_PID" 2>/dev/null; wait "$SCRAPER_PID" 2>/dev/null; fi
  if [[ -n "$BENCH_PID" ]]; then kill -KILL "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null; fi
  stop_members
  if [[ $KEEP == 1 ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_members KIND COUNT: a fresh COUNT-member cluster of KIND (etcd | outpost), all on
# 127.0.0.1, started with etcd's flags. Sets MEMBER_PIDS and ENDPOINTS (comma list of client URLs)
# and returns once a linearizable read succeeds through every member.
start_members() {
  local kind=$1 count=$2 bin i cluster="" urls=()
  case "$kind" in etcd) bin=$ETCD ;; outpost) bin=$OUTPOST ;; esac
  local cports=() pports=() used=" "
  for i in $(seq 1 "$count"); do
    local p
    for which in c pp; do
      p=$(free_port)
      while [[ "$used" == *" $p "* ]]; do p=$(free_port); done
      used+="$p "
      if [[ $which == c ]]; then cports+=("$p"); else pports+=("$p"); fi
    done
    cluster+="${cluster:+,}$kind$i=$SCHEME://127.0.0.1:${pports[$((i-1))]}"
  done
  for i in $(seq 1 "$count"); do
    local cp=${cports[$((i-1))]} pp=${pports[$((i-1))]} dir="$WORK/$kind$i"
    mkdir -p "$dir"
    "$bin" --name "$kind$i" --data-dir "$dir/data" \
      --listen-client-urls "$SCHEME://127.0.0.1:$cp" --advertise-client-urls "$SCHEME://127.0.0.1:$cp" \
      --listen-peer-urls "$SCHEME://127.0.0.1:$pp" --initial-advertise-peer-urls "$SCHEME://127.0.0.1:$pp" \
      --initial-cluster "$cluster" --initial-cluster-token "compare-$kind" \
      --initial-cluster-state new "${SERVER_TLS[@]}" >"$dir/server.log" 2>&1 &
    MEMBER_PIDS+=($!)
    urls+=("$SCHEME://127.0.0.1:$cp")
  done
  ENDPOINTS=$(IFS=,; echo "${urls[*]}")
  local url ok
  for url in "${urls[@]}"; do
    ok=0
    for _ in $(seq 1 150); do
      if "$BENCH" "${BENCH_TLS[@]}" --endpoints "$url" --dial-timeout 1s --timeout 5s range ready-probe --total 1 \
          >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.2
    done
    if [[ $ok != 1 ]]; then
      echo "compare.sh: $kind member at $url did not become ready; logs:" >&2
      tail -n 20 "$WORK"/"$kind"*/server.log >&2
      exit 1
    fi
  done
}

# The matrix: connections per client level, requests per (op, client level).
# (At least one connection per member, so every member gets traffic.)
conns_for() {
  local c
  case $1 in 1) c=1 ;; 16) c=4 ;; *) c=16 ;; esac
  echo $(( c > MEMBERS ? c : MEMBERS ))
}
total_for() {
  local op=$1 clients=$2 base
  case "$op:$clients" in
    range-*:1) base=10000 ;;
    range-*:16) base=50000 ;;
    range-*:*) base=100000 ;;
    *:1) base=5000 ;;
    *:16) base=20000 ;;
    *) base=40000 ;;
  esac
  python3 -c "print(max(1, int($base * $SCALE)))"
}

# scraper_start / scraper_stop: GET /metrics from every endpoint once a second, in the background.
scraper_start() {
  python3 - "$ENDPOINTS" <<'PY' &
import sys, time, urllib.request
urls = [u + "/metrics" for u in sys.argv[1].split(",")]
while True:
    t = time.monotonic()
    for u in urls:
        try:
            urllib.request.urlopen(u, timeout=2).read()
        except OSError:
            pass
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
PY
  SCRAPER_PID=$!
}
scraper_stop() {
  if [[ -n "$SCRAPER_PID" ]]; then kill -KILL "$SCRAPER_PID" 2>/dev/null; wait "$SCRAPER_PID" 2>/dev/null; fi
  SCRAPER_PID=""
}

run_matrix() {
  local server=$1 op clients args out rc scrape name
  for op in $OPS; do
    for clients in $CLIENT_LEVELS; do
    for scrape in 0 $([[ $SCRAPE == 1 ]] && echo 1); do
      name=$op
      if [[ $scrape == 1 ]]; then name="$op+scrape"; scraper_start; fi
      case "$op" in
        put) args=(put --key-size 8 --val-size 256 --key-space-size 100000) ;;
        range-l) args=(range foo --consistency l) ;;
        range-s) args=(range foo --consistency s) ;;
        txn-put) args=(txn-put --key-size 8 --val-size 256 --key-space-size 100000 --txn-ops 1) ;;
        watch-latency) args=(watch-latency --watchers "$clients" --streams "$(conns_for "$clients")"
                             --put-rate 200) ;;
        lease-keepalive) args=(lease-keepalive) ;;
        *) echo "compare.sh: unknown op $op" >&2; exit 2 ;;
      esac
      if [[ $op == watch-latency ]]; then
        args+=(--put-total "$(python3 -c "print(max(1, int(500 * $SCALE)))")")
      else
        args+=(--total "$(total_for "$op" "$clients")")
      fi
      # In the background and waited for, so a signal to this script runs the trap at once.
      "$BENCH" "${BENCH_TLS[@]}" "${BENCH_AUTH[@]}" --endpoints "$ENDPOINTS" --clients "$clients" --conns "$(conns_for "$clients")" \
        --timeout "$RUN_TIMEOUT" --json "${args[@]}" \
        >"$WORK/run.json" 2>>"$WORK/bench-$server.err" &
      BENCH_PID=$!
      wait "$BENCH_PID"
      rc=$?
      BENCH_PID=""
      out=$(cat "$WORK/run.json")
      if [[ -z "$out" ]]; then
        out="{\"op\": \"$op\", \"clients\": $clients, \"failed\": \"exit status $rc\"}"
      fi
      scraper_stop
      echo "{\"server\": \"$server\", \"op_name\": \"$name\", \"result\": $out}" >>"$RESULTS"
      printf '  %-8s %-8s clients=%-4s %s\n' "$server" "$name" "$clients" \
        "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("rps=%.0f p99=%.2fms errors=%s" % (d.get("rps",0), d.get("p99",0)*1000, d.get("errors","?")) if "failed" not in d else d["failed"])' "$out")" >&2
    done
    done
  done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
ETCD_VERSION=$("$ETCD" --version 2>/dev/null | head -1)
OUTPOST_VERSION=$("$OUTPOST" --version 2>/dev/null | head -1)
for server in etcd outpost; do
  echo "== $server: starting $MEMBERS member(s)" >&2
  start_members "$server" "$MEMBERS"
  CTL_AUTH=()
  if [[ $SECURE == 1 ]]; then
    for cmd in "user add root:rootpw" "role add root" "user grant-role root root" \
               "user add bench:benchpw" "role add bench" \
               "role grant-permission bench readwrite --from-key ''" "user grant-role bench bench" \
               "auth enable"; do
      eval "ETCDCTL_API=3 \"\$ETCDCTL\" \"\${CTL_TLS[@]}\" --endpoints \"\$ENDPOINTS\" $cmd" >/dev/null ||
        { echo "compare.sh: $server: etcdctl $cmd failed" >&2; exit 1; }
    done
    CTL_AUTH=(--user root:rootpw)
    BENCH_AUTH=(--user bench:benchpw)
  fi
  if [[ -n "$ETCDCTL" ]]; then
    ETCDCTL_API=3 "$ETCDCTL" "${CTL_TLS[@]}" "${CTL_AUTH[@]}" --endpoints "$ENDPOINTS" put foo "$(printf 'v%.0s' $(seq 1 256))" >/dev/null 2>&1 ||
      echo "compare.sh: could not seed key foo with etcdctl; range reads a missing key" >&2
  fi
  run_matrix "$server"
  BENCH_AUTH=()
  stop_members
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
python3 - "$RESULTS" "$MEMBERS" "$ETCD_VERSION" "$OUTPOST_VERSION" "$(nproc 2>/dev/null || echo ?)" \
  "$LOAD_BEFORE" "$LOAD_AFTER" "$SECURE" <<'PY'
import json, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    d = r["result"]
    key = (r["op_name"], d.get("clients"))
    if key not in rows:
        rows[key] = {}
        order.append(key)
    rows[key][r["server"]] = d

def rps(d): return d.get("rps") if d and "failed" not in d else None
def mark(d): return "*" if d and d.get("timed_out") else ""
def p99(d): return d.get("p99") * 1000 if d and "failed" not in d else None
def num(v, f): return f % v if v is not None else "-"
def ratio(a, b): return "%.2f" % (a / b) if a is not None and b else "-"
def errs(d): return str(d.get("errors", "?")) if d and "failed" not in d else "fail"

print("Outpost vs etcd, %s member(s) each, same machine, one after the other%s" % (sys.argv[2], " (TLS on client and peer ports with client certificates, auth on, user bench)" if sys.argv[8] == "1" else ""))
print("etcd: %s; outpost: %s; %s cores; load average before %s, after %s" % tuple(sys.argv[3:8]))
print("rps o/e > 1: Outpost faster; p99 o/e < 1: Outpost lower tail latency; * = run hit its timeout")
print()
hdr = ("op", "clients", "conns", "total", "etcd rps", "outpost rps", "rps o/e",
       "etcd p99 ms", "outpost p99 ms", "p99 o/e", "errors e/o")
table = [hdr]
for key in order:
    e, o = rows[key].get("etcd"), rows[key].get("outpost")
    any_ = e or o
    table.append((key[0], str(key[1]), str(any_.get("conns", "-")), str(any_.get("total", "-")),
                  num(rps(e), "%.0f") + mark(e), num(rps(o), "%.0f") + mark(o), ratio(rps(o), rps(e)),
                  num(p99(e), "%.2f"), num(p99(o), "%.2f"), ratio(p99(o), p99(e)),
                  errs(e) + "/" + errs(o)))
widths = [max(len(r[i]) for r in table) for i in range(len(hdr))]
for n, r in enumerate(table):
    print("| " + " | ".join(c.rjust(w) if i > 0 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |")
    if n == 0:
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
PY
