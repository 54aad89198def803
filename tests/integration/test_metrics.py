#!/usr/bin/env python3
"""Prometheus /metrics: served on the client URLs and on --listen-metrics-urls, parsed with
prometheus_client's text parser, moving as etcd's do, with etcd 3.4.23's names and types.

One 3-member cluster of the server under test, each member with a --listen-metrics-urls URL of its
own, and --snapshot-count=100. Checks, in order:
  * /metrics on a client URL and on the metrics URL parse (prometheus_client.parser) and hold the
    named etcd_*, grpc_server_* and process_* metrics; the leader has one peer round-trip histogram
    per peer; the metrics URL refuses gRPC and (Outpost) answers /version (etcdctl against it fails); an https:// metrics URL is refused at startup with an
    error naming the flag (Outpost only: etcd serves HTTPS there);
  * after 20 puts through one member: etcd_mvcc_put_total grew by >= 20 on every member (each
    applies them), etcd_server_proposals_committed_total and _applied_total by >= 20,
    grpc_server_handled_total{grpc_method="Put",grpc_code="OK"} and
    etcd_network_client_grpc_sent_bytes_total on the member written to, the WAL fsync
    histogram's count on every member; etcd_network_peer_sent_bytes_total has one To label per
    other member (their ids in hex, as etcd);
  * a member stopped while ~5,400 puts (outpost-bench) go through the others comes back and is sent
    a snapshot (Outpost only): the leader's outpost_snapshot_sent_bytes_total{To=<its id>} and the
    member's outpost_snapshot_received_bytes_total grow, outpost_snapshot_sends_total{result="ok"};
  * the leader is killed: a survivor's etcd_server_leader_changes_seen_total grows and
    etcd_server_has_leader is 1 again on both survivors;
  * a real etcd 3.4.23 cluster (3 members) is scraped: every etcd_* family the server under test
    exposes is exposed by etcd too, with the same type (but the peer RTT histogram, which etcd's
    prober first fills 30 s after start).
The loader is outpost-bench: OUTPOST_BENCH, else next to --outpost, else build/outpost-bench.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's package, when the python3 running this is not the system's (pyenv, venv).
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        print("python3-prometheus-client is missing (apt-get install python3-prometheus-client)")
        sys.exit(1)

SNAPSHOT_COUNT = 100
CATCH_UP_PUTS = 5400  # > snapshot count + the 5,000 entries kept behind a compaction point

NAMED = [
    "etcd_server_has_leader", "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
    "etcd_server_proposals_pending", "etcd_server_proposals_failed_total",
    "etcd_server_is_learner", "etcd_server_id", "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_put_total", "etcd_mvcc_range_total", "etcd_mvcc_delete_total",
    "etcd_mvcc_txn_total", "etcd_debugging_mvcc_keys_total",
    "etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds",
    "etcd_network_peer_sent_bytes_total", "etcd_network_peer_received_bytes_total",
    "etcd_network_client_grpc_sent_bytes_total",
    "grpc_server_started_total", "grpc_server_handled_total",
    "process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
    "process_open_fds", "process_max_fds", "process_start_time_seconds",
]


def bench_path(args) -> str:
    if os.environ.get("OUTPOST_BENCH"):
        return os.environ["OUTPOST_BENCH"]
    here = os.path.dirname(args.outpost) if args.outpost else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    return os.path.join(here, "outpost-bench")


def get(url: str, timeout: float = 5) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""
    except OSError as e:
        return 0, "", str(e)


class Scrape:
    """One parsed /metrics answer: families by name (prometheus_client strips a counter's
    "_total" from its family name; samples keep it), and sample values by (name, labels)."""

    def __init__(self, text: str):
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: dict[tuple, float] = {}
        for fam in text_string_to_metric_families(text):
            self.types[fam.name] = fam.type
            for s in fam.samples:
                self.samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def has(self, name: str) -> bool:
        base = name[:-len("_total")] if name.endswith("_total") else name
        return name in self.types or base in self.types

    def value(self, name: str, **labels) -> float:
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def labels_of(self, name: str, label: str) -> set[str]:
        return {dict(k)[label] for (n, k) in self.samples if n == name and label in dict(k)}


def scrape(base_url: str) -> Scrape:
    status, _, body = get(base_url + "/metrics")
    if status != 200:
        raise RuntimeError(f"GET {base_url}/metrics: {status} {body[:200]}")
    return Scrape(body)


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    runner = harness.Runner(args, "metrics: /metrics on client and metrics URLs, as etcd's")
    check, eq, require = runner.check, runner.eq, runner.require
    outpost = args.server == "outpost"

    @runner.test
    def metrics_move_as_etcds():
        extra = [f"--snapshot-count={SNAPSHOT_COUNT}"]
        c = harness.Cluster(args, prefix="mt", extra_flags=extra)
        murl = {}
        for m in c:
            murl[m.name] = f"http://127.0.0.1:{harness.free_port()}"
            m.extra_flags.append(f"--listen-metrics-urls={murl[m.name]}")
        c.start()
        leader, _, _ = c.wait_leader()
        ids = {m.name: c.member_id(m) for m in c}
        a = next(m for m in c if m is not leader)  # the member written through

        # ---- both URLs serve the exposition
        for where, url in (("client URL", a.client_url), ("metrics URL", murl[a.name])):
            status, ctype, body = get(url + "/metrics")
            require(status == 200, f"GET /metrics on the {where}: 200", f"{status} {body[:300]}")
            check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
                  f"{where}: text exposition content type", ctype)
            s = Scrape(body)
            missing = [n for n in NAMED if not s.has(n)]
            check(not missing, f"{where}: every named metric is exposed", f"missing {missing}")
            eq(s.types.get("etcd_disk_wal_fsync_duration_seconds"), "histogram",
               f"{where}: the WAL fsync latency is a histogram")
            eq(s.value("etcd_server_has_leader"), 1.0, f"{where}: has_leader is 1")
            eq(s.value("etcd_server_id", server_id=f"{ids[a.name]:x}"), 1.0,
               f"{where}: etcd_server_id names the member's id in hex")
        if outpost:  # etcd's prober first reports 30 s after start
            rtt = scrape(leader.client_url)
            eq(rtt.types.get("etcd_network_peer_round_trip_time_seconds"), "histogram",
               "the leader times heartbeat round trips (etcd_network_peer_round_trip_time_seconds)")
            eq(rtt.labels_of("etcd_network_peer_round_trip_time_seconds_count", "To"),
               {f"{ids[o.name]:x}" for o in c if o is not leader}, "one RTT histogram per peer")
        if outpost:  # etcd's metrics URLs serve /metrics and /health only
            status, _, body = get(murl[a.name] + "/version")
            check(status == 200 and "etcdserver" in body, "the metrics URL answers /version", body)
        r = harness.etcdctl(args, murl[a.name], "get", "x", command_timeout="2s", timeout=10)
        check(not r.ok, "the metrics URL does not serve gRPC (etcdctl get fails there)",
              r.describe())
        if outpost:
            bad = subprocess.run(
                [args.outpost, "--name=x", f"--data-dir={os.path.join(args.workdir, 'bad')}",
                 f"--listen-metrics-urls=https://127.0.0.1:{harness.free_port()}"],
                capture_output=True, text=True, timeout=20)
            check(bad.returncode != 0 and "--listen-metrics-urls" in bad.stderr,
                  "an https:// metrics URL is refused at startup, naming the flag",
                  f"exit {bad.returncode}: {bad.stderr[-500:]}")

        # ---- writes
        before = {m.name: scrape(m.client_url) for m in c}
        for i in range(20):
            r = a.ctl("put", f"k{i}", "v")
            require(r.ok, "put", r.describe(), quiet=True)
        harness.wait_for(lambda: all(
            scrape(m.client_url).value("etcd_mvcc_put_total")
            >= before[m.name].value("etcd_mvcc_put_total") + 20 for m in c), 10,
            what="every member applied the puts")
        after = {m.name: scrape(m.client_url) for m in c}
        for m in c:
            b, n = before[m.name], after[m.name]
            check(n.value("etcd_mvcc_put_total") >= b.value("etcd_mvcc_put_total") + 20,
                  f"{m.name}: etcd_mvcc_put_total grew by >= 20")
            check(n.value("etcd_server_proposals_committed_total")
                  >= b.value("etcd_server_proposals_committed_total") + 20,
                  f"{m.name}: proposals_committed_total grew by >= 20")
            check(n.value("etcd_server_proposals_applied_total")
                  >= b.value("etcd_server_proposals_applied_total") + 20,
                  f"{m.name}: proposals_applied_total grew by >= 20")
            check(n.value("etcd_disk_wal_fsync_duration_seconds_count")
                  > b.value("etcd_disk_wal_fsync_duration_seconds_count"),
                  f"{m.name}: WAL fsyncs were timed")
            others = {f"{ids[o.name]:x}" for o in c if o is not m}
            eq(n.labels_of("etcd_network_peer_sent_bytes_total", "To"), others,
               f"{m.name}: peer_sent_bytes_total has one To label per peer (hex id)")
        put_ok = dict(grpc_type="unary", grpc_service="etcdserverpb.KV", grpc_method="Put",
                      grpc_code="OK")
        check(after[a.name].value("grpc_server_handled_total", **put_ok)
              >= before[a.name].value("grpc_server_handled_total", **put_ok) + 20,
              "grpc_server_handled_total{Put, OK} grew by >= 20 on the member written to")
        check(after[a.name].value("etcd_network_client_grpc_sent_bytes_total")
              > before[a.name].value("etcd_network_client_grpc_sent_bytes_total"),
              "client gRPC sent bytes grew on the member written to")

        # ---- a snapshot sent to a member that fell behind
        if outpost:
            lagger = next(m for m in c if m is not leader and m is not a)
            lagger.stop()
            bench = bench_path(args)
            require(os.access(bench, os.X_OK), f"outpost-bench at {bench}")
            r = harness.run([bench, "--endpoints", f"{leader.client_url},{a.client_url}",
                             "--clients", "16", "--conns", "2", "put", "--key-size", "8",
                             "--val-size", "64", "--key-space-size", "1000",
                             "--total", str(CATCH_UP_PUTS)], timeout=60)
            require(r.ok, "outpost-bench wrote while a member was down", r.describe())
            lagger.start(wait=False)
            lid = f"{ids[lagger.name]:x}"
            harness.wait_for(lambda: scrape(leader.client_url).value(
                "outpost_snapshot_sends_total", To=lid, result="ok") >= 1, 30,
                what="the leader sent the member a snapshot")
            ls = scrape(leader.client_url)
            check(ls.value("outpost_snapshot_sent_bytes_total", To=lid) > 0,
                  "the leader's outpost_snapshot_sent_bytes_total{To=member} grew")
            check(ls.value("outpost_snapshot_send_rate_bytes_per_second", To=lid) > 0,
                  "the leader reports the stream's rate")
            lagger.wait_ready(30)
            got = scrape(lagger.client_url)
            check(got.value("outpost_snapshot_received_bytes_total",
                            From=f"{ids[leader.name]:x}") > 0,
                  "the member's outpost_snapshot_received_bytes_total grew")

        # ---- a leader change
        survivors = [m for m in c if m is not leader]
        seen = {m.name: scrape(m.client_url).value("etcd_server_leader_changes_seen_total")
                for m in survivors}
        leader.kill9()
        c.wait_leader(survivors)
        for m in survivors:
            s = scrape(m.client_url)
            check(s.value("etcd_server_leader_changes_seen_total") > seen[m.name],
                  f"{m.name}: leader_changes_seen_total grew after the leader was killed")
            eq(s.value("etcd_server_has_leader"), 1.0, f"{m.name}: has_leader is 1 again")
        ours = scrape(murl[survivors[0].name])
        c.stop()

        # ---- etcd's names and types
        e = harness.Cluster(args, prefix="me")
        for m in e:
            m.kind, m.binary = "etcd", args.etcd
        e.start()
        r = e[0].ctl("put", "k", "v")
        require(r.ok, "put on etcd", r.describe(), quiet=True)
        harness.wait_for(lambda: scrape(e[0].client_url).has("etcd_network_peer_sent_bytes_total"),
                         10, what="etcd counts peer bytes")
        theirs = scrape(e[0].client_url)
        e.stop()
        mine = {n: t for n, t in ours.types.items() if n.startswith("etcd_")}
        check(len(mine) >= 15, f"{len(mine)} etcd_* families exposed", str(sorted(mine)))
        # etcd fills its peer RTT histogram from a prober whose first report comes 30 s after a
        # peer is added (later than this test waits), and counts disconnected peers once one was
        # lost (the killed leader: only when etcd itself is under test).
        late = {"etcd_network_peer_round_trip_time_seconds", "etcd_network_disconnected_peers"}
        absent = sorted(n for n in mine if n not in theirs.types and n not in late)
        check(not absent, "every etcd_* family is one etcd 3.4.23 exposes too", f"absent {absent}")
        wrong = sorted(f"{n}: {t} (etcd: {theirs.types[n]})" for n, t in mine.items()
                       if n in theirs.types and theirs.types[n] != t)
        check(not wrong, "with etcd's type", "\n".join(wrong))
        for n in ("grpc_server_started", "grpc_server_handled"):
            eq(ours.types.get(n), theirs.types.get(n), f"{n}_total: etcd's type")

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
