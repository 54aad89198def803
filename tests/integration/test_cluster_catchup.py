#!/usr/bin/env python3
"""Catch-up: a member stopped while the others take 10 000 writes comes back and catches up.

A 3-member cluster. One follower is stopped with SIGTERM. Through the two others (alternating,
two concurrent clients) go 10 000 puts of distinct keys as `etcdctl txn` batches of at most 128
puts each (the default max txn ops; one etcdctl process per batch is the fastest correct way with
etcdctl: ~80 processes instead of 10 000), then 200 single puts overwriting keys and one
`del --prefix` of a 128-key batch, so the missed log holds txns, puts and a delete-range. The
stopped member is restarted on its data dir and must catch up: `endpoint hashkv` equal on all three
and the key count equal (polled, bounded), and its local (serializable) contents equal the expected
keys and values.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KEYS = 10_000
BATCH = 128  # etcd's default --max-txn-ops
CLIENTS = 2
OVERWRITES = 200


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "cluster: a stopped member catches up 10 000 writes")
    check, eq, require = runner.check, runner.eq, runner.require

    def count(m: harness.Member) -> int | None:
        """Number of keys under cu/ as the member sees them locally (serializable)."""
        r = m.ctl("get", "cu/", "--prefix", "--limit=1", "-w", "json", "--consistency=s")
        if not r.ok:
            return None
        return json.loads(r.stdout).get("count", 0)

    def bench_path() -> str:
        """outpost-bench, next to the outpost binary (it speaks the etcd API: works on etcd too)."""
        here = os.path.dirname(args.outpost) if args.outpost else os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
        return os.path.join(here, "outpost-bench")

    @runner.test
    def stopped_member_catches_up():
        catch_up("cu", (), 0)

    @runner.test
    def stopped_member_catches_up_by_snapshot_after_log_compaction():
        # --snapshot-count 1000: the live members compact their logs while the lagger is down
        # (keeping 5000 entries behind the snapshot point, as etcd): 8000 more single-entry puts
        # take the first retained index past the lagger's, so it can only catch up from a
        # snapshot of the whole state.
        catch_up("cs", ("--snapshot-count=1000",), 8000)

    def catch_up(prefix: str, extra_flags, bulk_entries: int) -> None:
        c = harness.Cluster(args, prefix=prefix, extra_flags=extra_flags)
        c.start()
        leader, term, _ = c.wait_leader(timeout=15)
        lagger = next(m for m in c if m is not leader)
        live = [m for m in c if m is not lagger]
        rc = lagger.stop()
        print(f"  leader {leader.name} term {term}; stopped {lagger.name} with SIGTERM (exit {rc})")

        # -- 10 000 puts in txn batches through the two live members
        batches = [[(f"cu/{b:03d}/{i:03d}", f"v-{b}-{i}")
                    for i in range(min(BATCH, KEYS - b * BATCH))]
                   for b in range((KEYS + BATCH - 1) // BATCH)]
        lock = threading.Lock()
        todo = list(enumerate(batches))
        failures: list[harness.Result] = []

        def client(n: int) -> None:
            while True:
                with lock:
                    if not todo or failures:
                        return
                    b, ops = todo.pop(0)
                m = live[(n + b) % len(live)]
                body = "\n" + "".join(f"put {k} {v}\n" for k, v in ops) + "\n\n"
                r = m.ctl("txn", stdin=body, timeout=30, command_timeout="15s")
                if not (r.ok and r.stdout.startswith("SUCCESS\n")
                        and r.stdout.count("\nOK\n") == len(ops)):
                    with lock:
                        failures.append(r)
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        took = time.monotonic() - started
        require(not failures and not todo, f"{KEYS} puts in {len(batches)} txns of <= {BATCH} "
                f"through {', '.join(m.name for m in live)} ({took:.1f}s)",
                failures[0].describe() if failures else f"{len(todo)} batches not done")
        expected = {k: v for ops in batches for k, v in ops}

        # -- a few single puts (overwrites) and a delete-range, also missed by the lagger
        # (single puts: one raft entry each, so the missed log is also long, not only wide)
        def overwrite(n: int) -> None:
            for i in range(n, OVERWRITES, CLIENTS):
                k = f"cu/{i % len(batches):03d}/{i // len(batches):03d}"
                r = live[i % 2].ctl("put", k, f"over-{i}")
                with lock:
                    if r.ok:
                        expected[k] = f"over-{i}"
                    else:
                        failures.append(r)
        started = time.monotonic()
        threads = [threading.Thread(target=overwrite, args=(n,), daemon=True)
                   for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        require(not failures, f"{OVERWRITES} single puts overwriting keys "
                f"({time.monotonic() - started:.1f}s)", failures[0].describe() if failures else "")
        r = live[0].ctl("del", "cu/000/", "--prefix")
        eq((r.rc, r.stdout), (0, f"{BATCH}\n"), f"del cu/000/ --prefix deletes {BATCH} keys",
           r.describe())
        expected = {k: v for k, v in expected.items() if not k.startswith("cu/000/")}
        if bulk_entries:
            bench = bench_path()
            require(os.access(bench, os.X_OK), f"outpost-bench at {bench}", quiet=True)
            r = harness.run([bench, "--endpoints", ",".join(m.endpoint for m in live),
                             "--clients", "16", "--conns", "4", "put", "--total",
                             str(bulk_entries), "--key-space-size", "2000", "--val-size", "64"],
                            timeout=120)
            require(r.ok and "Requests/sec" in r.stdout,
                    f"{bulk_entries} more single-entry puts (outside cu/) through the live members",
                    r.describe())
        for m in live:
            eq(count(m), len(expected), f"{m.name}: {len(expected)} keys")
        h_live = c.wait_hashkv_equal(live, timeout=30)
        print(f"  live members at {next(iter(h_live.values()))} (hash, compact revision, "
              f"revision)")

        # -- restart the lagger: it catches up
        restarted = time.monotonic()
        lagger.start(timeout=60)
        last: dict = {}

        def caught_up() -> bool:
            last.clear()
            last.update({m.name: (c.hashkv(m), count(m)) for m in c})
            vals = set(last.values())
            return len(vals) == 1 and None not in next(iter(vals))
        try:
            harness.wait_for(caught_up, timeout=60, interval=0.2,
                             what="hashkv and key count equal on all three")
            ok = True
        except TimeoutError:
            ok = False
        caught = time.monotonic() - restarted
        check(ok, f"{lagger.name} caught up after restart: hashkv and key count equal on all "
              f"three ({caught:.1f}s after the restart)",
              f"last (hash, compact revision, revision), count: {last}")
        eq(last.get(lagger.name, (None, None))[1], len(expected),
           f"{lagger.name}: key count {len(expected)}")
        if bulk_entries and lagger.kind == "outpost":
            log = open(lagger.log_path, errors="replace").read() if os.path.exists(
                lagger.log_path) else lagger.log_tail(400)
            check('"msg":"installed snapshot"' in log,
                  f"{lagger.name} caught up from a streamed snapshot (its log says so)")

        r = lagger.ctl("get", "cu/", "--prefix", "-w", "json", "--consistency=s",
                       timeout=60, command_timeout="30s")
        require(r.ok, f"{lagger.name}: serializable get cu/ --prefix", r.describe(), quiet=True)
        got = {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
               for kv in json.loads(r.stdout).get("kvs", [])}
        diff = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        check(not diff, f"{lagger.name}: local contents are exactly the {len(expected)} expected "
              "keys and values", f"{len(diff)} differ, e.g. "
              f"{[(k, got.get(k), expected.get(k)) for k in diff[:10]]}")
        try:
            leader, term, _ = c.wait_leader(timeout=10)
            check(True, f"all three agree on leader {leader.name}, term {term}")
        except TimeoutError:
            check(False, "all three agree on one leader and term")
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
