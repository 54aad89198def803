#!/usr/bin/env bash
# The cost of Prometheus scraping on write throughput, Outpost vs etcd 3.4 in the same run: the
# put benchmark of compare.sh against a fresh etcd and a fresh Outpost cluster, each level run
# twice, as usual and then with GET /metrics on every member's client URL once a second (rows
# "put+scrape"). Scraping should cost nothing measurable: compare each put+scrape row with the
# put row above it, for each server.
#
# Usage: tests/bench/metrics_scrape.sh [--members N] [--clients "16 256"] [--scale F] [any other
#        compare.sh option]
# Defaults: 3 members, 16 and 256 clients, compare.sh's totals. Takes ~2-4 minutes on 2 cores.
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MEMBERS=3
CLIENTS="16 256"
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --members) MEMBERS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
exec "$HERE/compare.sh" --ops put --clients "$CLIENTS" --members "$MEMBERS" --scrape-metrics "${PASS[@]}"
