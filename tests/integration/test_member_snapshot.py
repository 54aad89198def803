#!/usr/bin/env python3
"""A learner joining a cluster that holds 200 MB gets a snapshot while writes go on; the leader
keeps its term (no election) during the transfer and the learner ends identical.

A 3-member cluster with --snapshot-count=1000 (Outpost also --snapshot-rate-limit=64MiB) takes
2048 puts of 100 KiB values (200 MiB, by outpost-bench over 8 clients), then 6500 small puts so that the raft log is compacted past the
big entries (etcd keeps 5000 entries behind its snapshot index; so does Outpost): a new member
can only be brought up to date with a snapshot of the whole store. With one writer putting
through the voters and a poller asking every voter's `endpoint status` about every 0.1 s, a
learner is added (`member add --learner`, started with state existing) and waited for until its
revision reaches the leader's. Then:
  * every voter answered every poll with the same leader and the same raft term as before the
    learner was added (no election, no leader change during the transfer); the largest gap
    between two answers of the leader is printed (a heartbeat-delay proxy);
  * every put during the transfer succeeded;
  * the snapshot path was taken, from the logs: etcd's leader logs "sent database snapshot";
    Outpost's leader "sending snapshot" and "sent snapshot", its learner "installed snapshot";
    Outpost only: the stream respected the rate limit ("sent snapshot" seconds >= 0.9 x
    bytes / 64 MiB/s) and it held at least the 200 MiB of values;
  * writes stopped, the learner reaches the leader's revision and applied index; it is promoted
    (etcd 3.4 refuses HashKV on a learner) and hashkv is equal on all four members. Outpost
    only: the learner's own hashkv before promotion equals the leader's.
The loader is outpost-bench: OUTPOST_BENCH, else next to --outpost, else build/outpost-bench.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BIG_PUTS = 2048
BIG_VALUE = 100 * 1024  # 2048 x 100 KiB = 200 MiB
RATE_LIMIT = 64 * 2**20  # Outpost's --snapshot-rate-limit, passed explicitly (its default)
SMALL_PUTS = 6500
SNAPSHOT_COUNT = 1000
NOT_FOR_LEARNER = "etcdserver: rpc not supported for learner"


def bench_path(args) -> str:
    if os.environ.get("OUTPOST_BENCH"):
        return os.environ["OUTPOST_BENCH"]
    here = os.path.dirname(args.outpost) if args.outpost else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    return os.path.join(here, "outpost-bench")


log_records = harness.log_records
log_ts = harness.log_ts


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "membership: a learner catches up from a 200 MB snapshot")
    check, eq, require = runner.check, runner.eq, runner.require
    outpost = args.server == "outpost"

    @runner.test
    def learner_joins_200mb_cluster_by_snapshot_without_election():
        bench = bench_path(args)
        require(os.access(bench, os.X_OK), f"outpost-bench at {bench} (set OUTPOST_BENCH)")
        flags = [f"--snapshot-count={SNAPSHOT_COUNT}"]
        if outpost:
            flags.append(f"--snapshot-rate-limit={RATE_LIMIT // 2**20}MiB")
        c = harness.Cluster(args, prefix="ss", extra_flags=flags)
        c.start()
        leader, term, sts = c.wait_leader(timeout=15)
        voters = list(c.members)
        eps = ",".join(m.grpc_addr for m in voters)

        started = time.monotonic()
        r = harness.run([bench, "--endpoints", eps, "--conns", "3", "--clients", "8", "--timeout",
                         "150s", "put", "--total", str(BIG_PUTS), "--key-space-size",
                         str(BIG_PUTS), "--sequential-keys", "--key-size", "16", "--val-size",
                         str(BIG_VALUE)], timeout=170)
        require(r.ok, f"{BIG_PUTS} puts of {BIG_VALUE // 1024} KiB values "
                f"({BIG_PUTS * BIG_VALUE / 2**20:.0f} MiB) in {time.monotonic() - started:.1f}s",
                r.describe())
        started = time.monotonic()
        r = harness.run([bench, "--endpoints", eps, "--conns", "3", "--clients", "16",
                         "--timeout", "100s", "put", "--total", str(SMALL_PUTS),
                         "--key-space-size", "1000", "--val-size", "64"], timeout=120)
        require(r.ok, f"{SMALL_PUTS} small puts (the log is compacted past the big ones) in "
                f"{time.monotonic() - started:.1f}s", r.describe())
        st = c.status(leader)
        print(f"  leader {leader.name} term {term}: revision {st['revision']}, raft index "
              f"{st['raft_index']}, dbSize {st['raw'].get('dbSize', 0) / 2**20:.0f} MiB")

        leader, term, sts = c.wait_leader(timeout=15)
        leader_id = sts[leader.name]["leader"]
        poller = harness.StatusPoller(c, voters, clock=time.monotonic).start()
        w = harness.Writers(args, voters, prefix="ss", n=1).start()
        try:
            w.wait_count(5, timeout=30)
            added_at = time.monotonic()
            learner, r = c.add_member("ss4", learner=True, via=leader, timeout=120)
            require(learner is not None, "member add ss4 --learner, started with state existing",
                    r.describe())
            target = c.status(leader)["revision"]
            got: dict = {}

            def learner_reached() -> bool:
                s = c.status(learner)
                got["s"] = s
                return bool(s and s["revision"] >= target)
            try:
                harness.wait_for(learner_reached, 150, 0.2, "the learner to reach revision "
                                 f"{target}")
            except TimeoutError:
                require(False, f"the learner reaches the leader's revision {target}",
                        str(got.get("s")) + "\n" + learner.log_tail())
            took = time.monotonic() - added_at
            check(True, f"learner reached revision {target} {took:.1f}s after the add")
            w.wait_more(3, timeout=30)
        finally:
            w.finish()
            poller.finish()

        # -- no election while the snapshot streamed
        samples = poller.samples
        bad = [(round(t - added_at, 2), obs) for t, obs in samples
               if any(v != (leader_id, term) for v in obs.values())]
        check(len(samples) >= 5 and not bad, f"every voter answered every status poll with "
              f"leader {leader.name} and term {term} ({len(samples)} polls over "
              f"{samples[-1][0] - samples[0][0]:.1f}s)" if samples else "status polls ran",
              f"first deviations (seconds after the add, {{member: (leader, term)}}): {bad[:5]}")
        lt = [t for t, obs in samples if obs.get(leader.name)]
        gaps = [b - a for a, b in zip(lt, lt[1:])]
        print(f"  largest gap between two answers of the leader's endpoint status: "
              f"{max(gaps) if gaps else float('nan'):.2f}s")
        check(not w.failures, f"every put during the transfer succeeded ({len(w.acked)} puts)",
              w.first_failure())

        # -- the snapshot path was taken
        llog, nlog = leader.log_text(), learner.log_text()
        if outpost:
            check('"msg":"sending snapshot"' in llog and '"msg":"sent snapshot"' in llog,
                  f"{leader.name}'s log: \"sending snapshot\" and \"sent snapshot\"")
            check('"msg":"installed snapshot"' in nlog, "the learner's log: \"installed "
                  "snapshot\"")
            sent = log_records(llog, "sent snapshot")
            if sent:
                b, secs = int(sent[-1].get("bytes", 0)), float(sent[-1].get("seconds", 0))
                print(f"  sent snapshot: {b / 2**20:.0f} MiB in {secs:.1f}s "
                      f"({b / 2**20 / max(secs, 1e-9):.0f} MiB/s)")
                check(b >= BIG_PUTS * BIG_VALUE, "outpost: the snapshot held the 200 MiB "
                      f"({b} bytes)")
                check(secs >= 0.9 * b / RATE_LIMIT, f"outpost: streamed under the rate limit "
                      f"of {RATE_LIMIT // 2**20} MiB/s ({secs:.1f}s for {b / 2**20:.0f} MiB)")
        else:
            check('"msg":"sent database snapshot"' in llog,
                  f"{leader.name}'s log: \"sent database snapshot\" (etcd)")
            sending = log_records(llog, "sending database snapshot")
            sent = log_records(llog, "sent database snapshot")
            if sending and sent:
                took = log_ts(sent[-1]) - log_ts(sending[-1])
                print(f"  etcd: sent database snapshot of {sent[-1].get('size')} in {took:.2f}s "
                      "(etcd 3.4 has no snapshot rate limit)")

        # -- identical at the end
        sync = c.wait_in_sync(learner, timeout=60)
        check(True, f"writes stopped: learner at the leader's revision and applied index "
              f"({sync[learner.name]['revision']}, {sync[learner.name]['raft_applied_index']})")
        if outpost:
            hl, hn = c.hashkv(leader), c.hashkv(learner, timeout=60)
            check(hn is not None and hn == hl, "outpost: hashkv on the learner (Outpost serves "
                  "HashKV on learners) equals the leader's", f"leader {hl}, learner {hn}")
        r = c.promote(learner, via=leader)
        require(r.ok, "member promote the caught-up learner", r.describe())
        c.check_hashkv_equal(runner, "hashkv equal on all four", timeout=90, interval=0.5)
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
