#!/usr/bin/env python3
"""Catch-up benchmark: a learner joins a 3-member cluster holding SIZE MiB while writes go on.

For each server kind (outpost, optionally etcd 3.4 for reference): a fresh 3-member cluster on
loopback (heartbeat 100 ms, election 1000 ms, --snapshot-count 1000 so that the log is compacted
and the newcomer needs a snapshot; Outpost also gets --snapshot-rate-limit), SIZE MiB of
100 KiB values loaded with outpost-bench, then 6500 small puts (past etcd's and Outpost's 5000
retained entries). Then, with a background load running in back-to-back windows of WINDOW
seconds -- puts at --write-rate through the voters (outpost-bench put --rate, per-window
latency percentiles) and linearizable reads of one key on the leader at 50/s (each needs a
heartbeat round: the heartbeat-delay proxy) -- and a poller asking the voters' `endpoint status`
(leader, term) about every 0.1 s, a learner is added (`etcdctl member add --learner`, started
with state existing) and waited for until it reaches the leader's revision at the time of the
add.

Reported per server: load time; catch-up time (add -> learner at that revision); snapshot
transfer time, size and rate (from the leader's log: Outpost "sending snapshot"/"sent snapshot",
etcd "sending database snapshot"/"sent database snapshot"); leader heartbeat delay during the
transfer (slowest linearizable read on the leader, largest gap between two answers of its
endpoint status, term/leader changes seen, "heartbeat" warnings in the leader's log); put
latency p99 before and during (median and worst window p99, slowest put, errors).

Per-window percentiles, not one merged distribution: outpost-bench reports percentiles per run.
Usage: see catchup.sh (the entry point) or `catchup.py --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

SMALL_PUTS = 6500


log_records = harness.log_records
log_ts = harness.log_ts


class Windows:
    """Back-to-back windows of background load until stopped; each window is one outpost-bench
    run of puts (through the voters) and one of linearizable reads (on the leader), run in
    parallel; every window is kept as (wall start, wall end, put json, range json)."""

    def __init__(self, o, bench: str, voters: list, leader, window: float):
        self.o, self.bench, self.window = o, bench, window
        self.voter_eps = ",".join(m.grpc_addr for m in voters)
        self.leader_ep = leader.grpc_addr
        self.results: list[tuple[float, float, dict, dict]] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _run(self, cmd: list, out: dict, key: str) -> None:
        r = harness.run(cmd, timeout=self.window + 30)
        try:
            out[key] = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out[key] = {"error": r.describe()}

    def one(self) -> None:
        rate = self.o.write_rate
        total = max(1, int(rate * self.window))
        put = [self.bench, "--endpoints", self.voter_eps, "--conns", "3", "--clients", "4",
               "--json", "--precise", "--timeout", f"{int(self.window + 20)}s", "put",
               "--rate", str(rate), "--total", str(total), "--key-space-size", "10000",
               "--val-size", "256"]
        rng = [self.bench, "--endpoints", self.leader_ep, "--clients", "1", "--json",
               "--precise", "--timeout", f"{int(self.window + 20)}s", "range", "catchup-probe",
               "--consistency", "l", "--rate", "50", "--total", str(max(1, int(50 * self.window)))]
        out: dict = {}
        start = time.time()
        ts = [threading.Thread(target=self._run, args=(put, out, "put")),
              threading.Thread(target=self._run, args=(rng, out, "range"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.results.append((start, time.time(), out.get("put", {}), out.get("range", {})))

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            self.one()

    def start(self) -> "Windows":
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=self.window + 60)


def summarize(windows: list, lo: float, hi: float, inside: bool = False) -> dict:
    """Stats over the windows that overlap [lo, hi] (inside: that lie within it)."""
    sel = [w for w in windows if w[0] >= lo and w[1] <= hi] if inside else \
        [w for w in windows if w[1] > lo and w[0] < hi]
    puts = [w[2] for w in sel if "p99" in w[2]]
    rngs = [w[3] for w in sel if "slowest" in w[3]]
    p99s = [p["p99"] for p in puts]
    return {
        "windows": len(sel),
        "put_p99_median": statistics.median(p99s) if p99s else None,
        "put_p99_worst": max(p99s) if p99s else None,
        "put_slowest": max((p["slowest"] for p in puts), default=None),
        "put_ok": sum(p.get("completed", 0) - p.get("errors", 0) for p in puts),
        "put_errors": sum(p.get("errors", 0) for p in puts) + len(sel) - len(puts),
        "read_l_slowest": max((r["slowest"] for r in rngs), default=None),
        "read_l_p99_worst": max((r["p99"] for r in rngs if "p99" in r), default=None),
        "read_errors": sum(r.get("errors", 0) for r in rngs) + len(sel) - len(rngs),
    }


def run_one(o, kind: str, bench: str) -> dict:
    ns = argparse.Namespace(server=kind, outpost=os.path.join(o.build, "outpost"), etcd=o.etcd,
                            etcdctl=o.etcdctl, raw_grpc="", keep=o.keep,
                            workdir=tempfile.mkdtemp(prefix=f"catchup-{kind}-", dir=o.workdir))
    size = o.size_mb * 2**20
    value = o.value_kib * 1024
    n_big = max(1, size // value)
    flags = [f"--snapshot-count={o.snapshot_count}",
             f"--quota-backend-bytes={max(8 * 2**30, 3 * size)}"]
    if kind == "outpost":
        flags.append(f"--snapshot-rate-limit={o.rate_limit}")
    c = harness.Cluster(ns, prefix=f"cu{kind[0]}", extra_flags=flags)
    res: dict = {"server": kind, "size_mib": o.size_mb, "workdir": ns.workdir}
    try:
        c.start(timeout=60)
        leader, term, sts = c.wait_leader(timeout=30)
        voters = list(c.members)
        eps = ",".join(m.grpc_addr for m in voters)
        t0 = time.monotonic()
        r = harness.run([bench, "--endpoints", eps, "--conns", "3", "--clients", "8", "--json",
                         "--timeout", "3000s", "put", "--total", str(n_big), "--key-space-size",
                         str(n_big), "--sequential-keys", "--key-size", "16", "--val-size",
                         str(value)], timeout=3100)
        if not r.ok:
            raise RuntimeError(f"load failed\n{r.describe()}")
        r2 = harness.run([bench, "--endpoints", eps, "--conns", "3", "--clients", "16", "--json",
                          "put", "--total", str(SMALL_PUTS), "--key-space-size", "1000",
                          "--val-size", "64"], timeout=300)
        if not r2.ok:
            raise RuntimeError(f"small puts failed\n{r2.describe()}")
        res["load_seconds"] = round(time.monotonic() - t0, 1)
        leader.ctl("put", "catchup-probe", "x")
        leader, term, sts = c.wait_leader(timeout=30)
        leader_id = sts[leader.name]["leader"]
        st = c.status(leader)
        res["db_size_mib"] = round(st["raw"].get("dbSize", 0) / 2**20)
        print(f"[{kind}] loaded {n_big} x {o.value_kib} KiB + {SMALL_PUTS} small puts in "
              f"{res['load_seconds']}s; leader {leader.name} term {term}, dbSize "
              f"{res['db_size_mib']} MiB", flush=True)

        win = Windows(o, bench, voters, leader, o.window)
        for _ in range(o.baseline_windows):
            win.one()
        before_end = time.time()
        poller = harness.StatusPoller(c, voters, clock=time.time).start()
        win.start()
        added = time.time()
        learner, r = c.add_member(f"cu{kind[0]}4", learner=True, via=leader, timeout=600)
        if learner is None:
            raise RuntimeError(f"member add --learner failed\n{r.describe()}")
        target = c.status(leader)["revision"]
        harness.wait_for(lambda: (c.status(learner) or {}).get("revision", 0) >= target,
                         o.timeout, 0.2, "the learner to reach the leader's revision")
        done = time.time()
        time.sleep(o.window)  # one more window of load after the catch-up, for comparison
        win.finish()
        poller.finish()
        res["catchup_seconds"] = round(done - added, 2)

        llog = leader.log_text()
        if kind == "outpost":
            a, b = log_records(llog, "sending snapshot"), log_records(llog, "sent snapshot")
            nbytes = int(b[-1].get("bytes", 0)) if b else 0
        else:
            a = log_records(llog, "sending database snapshot")
            b = log_records(llog, "sent database snapshot")
            nbytes = int(b[-1].get("bytes", 0)) if b else 0
        if a and b:
            s0, s1 = log_ts(a[-1]), log_ts(b[-1])
            res["snapshot_seconds"] = round(s1 - s0, 2)
            res["snapshot_mib"] = round(nbytes / 2**20)
            res["snapshot_mib_per_s"] = round(nbytes / 2**20 / max(s1 - s0, 1e-6), 1)
            lo, hi = s0, max(s1, done)
        else:
            res["snapshot_seconds"] = None
            lo, hi = added, done
        hb_words = ("heartbeat",)
        res["leader_heartbeat_warnings"] = sum(
            1 for ln in llog.splitlines()
            if any(wd in ln for wd in hb_words) and ('"level":"warn"' in ln
                                                     or '"level":"error"' in ln))
        during = [s for s in poller.samples if lo - 0.2 <= s[0] <= hi + 0.2]
        changes = [(round(t - lo, 2), obs) for t, obs in during
                   if any(v != (leader_id, term) for v in obs.values())]
        lt = [t for t, obs in during if obs.get(leader.name)]
        res["term_or_leader_changes"] = len(changes)
        res["first_change"] = changes[0] if changes else None
        res["leader_status_max_gap_s"] = round(max((y - x for x, y in zip(lt, lt[1:])),
                                                   default=0), 3)
        res["before"] = summarize(win.results, 0, before_end)
        res["during"] = summarize(win.results, lo, hi)
        res["after"] = summarize(win.results, done, float("inf"), inside=True)
        return res
    finally:
        c.stop()
        if not o.keep:
            shutil.rmtree(ns.workdir, ignore_errors=True)


def fmt(v, unit="", scale=1.0, nd=1):
    return "-" if v is None else f"{v * scale:.{nd}f}{unit}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
    p.add_argument("--servers", default="outpost", help="comma list: outpost,etcd")
    p.add_argument("--size-mb", dest="size_mb", type=int, default=1024, help="MiB of values")
    p.add_argument("--value-kib", dest="value_kib", type=int, default=100)
    p.add_argument("--snapshot-count", dest="snapshot_count", type=int, default=1000)
    p.add_argument("--rate-limit", dest="rate_limit", default="64MiB",
                   help="Outpost's --snapshot-rate-limit")
    p.add_argument("--write-rate", dest="write_rate", type=int, default=100,
                   help="background puts per second")
    p.add_argument("--window", type=float, default=2.0, help="seconds per latency window")
    p.add_argument("--baseline-windows", dest="baseline_windows", type=int, default=3)
    p.add_argument("--timeout", type=float, default=900, help="max catch-up seconds")
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    p.add_argument("--workdir", default="")
    p.add_argument("--keep", action="store_true")
    o = p.parse_args()
    o.build = os.path.abspath(o.build)
    bench = os.path.join(o.build, "outpost-bench")
    if not os.access(bench, os.X_OK):
        p.error(f"outpost-bench not found in {o.build} (build it: ninja -C BUILD outpost-bench)")
    kinds = [k.strip() for k in o.servers.split(",") if k.strip()]
    if "outpost" in kinds and not os.access(os.path.join(o.build, "outpost"), os.X_OK):
        p.error(f"outpost not found in {o.build}")
    o.workdir = o.workdir or tempfile.mkdtemp(prefix="outpost-catchup-")
    os.makedirs(o.workdir, exist_ok=True)
    results = []
    for kind in kinds:
        try:
            results.append(run_one(o, kind, bench))
        except Exception as e:  # noqa: BLE001 - report and go on with the next server
            print(f"[{kind}] FAILED: {e}", flush=True)
            results.append({"server": kind, "error": str(e)})
    print()
    print(f"catch-up of a learner: {o.size_mb} MiB of {o.value_kib} KiB values, background "
          f"puts at {o.write_rate}/s, {o.window:g}s windows")
    hdr = ("server", "load s", "catch-up s", "snap s", "snap MiB", "MiB/s", "term chg",
           "status gap s", "read-l max ms", "hb warn", "put p99 before ms", "put p99 during ms",
           "put max during ms", "put err during")
    rows = []
    for r in results:
        if "error" in r:
            rows.append((r["server"], "FAILED") + ("",) * (len(hdr) - 2))
            continue
        b, d = r["before"], r["during"]
        rows.append((r["server"], fmt(r["load_seconds"]), fmt(r["catchup_seconds"], nd=2),
                     fmt(r.get("snapshot_seconds"), nd=2), str(r.get("snapshot_mib", "-")),
                     str(r.get("snapshot_mib_per_s", "-")), str(r["term_or_leader_changes"]),
                     fmt(r["leader_status_max_gap_s"], nd=2),
                     fmt(d["read_l_slowest"], scale=1000),
                     str(r["leader_heartbeat_warnings"]),
                     f"{fmt(b['put_p99_median'], scale=1000)} / "
                     f"{fmt(b['put_p99_worst'], scale=1000)}",
                     f"{fmt(d['put_p99_median'], scale=1000)} / "
                     f"{fmt(d['put_p99_worst'], scale=1000)}",
                     fmt(d["put_slowest"], scale=1000), str(d["put_errors"])))
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    for row in [hdr] + rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))
    print("(p99 columns: median / worst window p99; 'during' = windows overlapping the snapshot "
          "stream up to the catch-up; read-l max = slowest linearizable read on the leader)")
    for r in results:
        print(json.dumps(r))
    if not o.keep and not any("error" in r for r in results):
        shutil.rmtree(o.workdir, ignore_errors=True)
    else:
        print(f"work dir kept: {o.workdir}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
