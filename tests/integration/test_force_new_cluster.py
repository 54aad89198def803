#!/usr/bin/env python3
"""--force-new-cluster: the last member of a cluster that lost 2 of 3 members starts a one-member
cluster from its data, keeping every key and revision.

A 3-member cluster takes 300 puts (3 `etcdctl txn` of 100), 60 overwrites, a delete-range of 20
keys and a compaction, so keys carry different create/mod revisions and versions. Once hashkv is
equal on all three, the leader and one follower are killed with SIGKILL and the last member is
stopped (SIGTERM; without a quorum it may need the SIGKILL fallback). Restarted on its data dir
with --force-new-cluster it must: answer linearizable reads on its own; hold exactly the same keys
with the same value, create_revision, mod_revision and version, at the same header revision,
compact revision and hashkv; list one member (itself, its peer URL); take writes (revision + 1).
Restarted once more without the flag it is still a one-member cluster with that data. Finally a
new member is added with `member add` (a voter) and started with the printed
ETCD_INITIAL_CLUSTER and state existing: it catches up (hashkv equal) and the list shows two.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0])
    runner = harness.Runner(args, "membership: --force-new-cluster keeps every key")
    check, eq, require = runner.check, runner.eq, runner.require

    @runner.test
    def force_new_cluster_from_the_last_member():
        c = harness.Cluster(args, prefix="fn")
        c.start()
        leader, _, _ = c.wait_leader(timeout=15)
        last = next(m for m in c if m is not leader)
        killed = [m for m in c if m is not last]

        for b in range(3):
            body = "\n" + "".join(f"put fn/{b}/{i:03d} v{b}-{i}\n" for i in range(100)) + "\n\n"
            r = c.members[b].ctl("txn", stdin=body, timeout=30, command_timeout="15s")
            require(r.ok and r.stdout.count("\nOK\n") == 100, f"txn of 100 puts through "
                    f"{c.members[b].name}", r.describe(), quiet=True)
        for i in range(60):
            r = c.members[i % 3].ctl("put", f"fn/{i % 3}/{i:03d}", f"over-{i}")
            require(r.ok, "overwrite", r.describe(), quiet=True)
        r = leader.ctl("del", "fn/2/05", "--prefix")
        require(r.ok and r.stdout == "10\n", "del fn/2/05 --prefix", r.describe(), quiet=True)
        r = leader.ctl("del", "fn/2/06", "--prefix")
        require(r.ok and r.stdout == "10\n", "del fn/2/06 --prefix", r.describe(), quiet=True)
        st = c.status(leader)
        r = leader.ctl("compact", str(st["revision"] - 30))
        require(r.ok, "compact", r.describe(), quiet=True)
        r = leader.ctl("put", "fn/last", "after-compaction")
        require(r.ok, "put after the compaction", r.describe(), quiet=True)
        hashes = c.wait_hashkv_equal(timeout=30)
        before_hash = hashes[last.name]
        before, before_rev = harness.dump_kvs(last, "", "s")
        require(before is not None, f"{last.name}: get \"\" --prefix", quiet=True)
        print(f"  {len(before)} keys at revision {before_rev}; hashkv (hash, compact revision, "
              f"revision) {before_hash}")

        for m in killed:
            m.kill9()
        rc = last.stop()
        print(f"  killed {', '.join(m.name for m in killed)} (SIGKILL); stopped {last.name} "
              f"(exit {rc})")

        last.extra_flags.append("--force-new-cluster")
        last.start(timeout=60)
        last.extra_flags.remove("--force-new-cluster")
        print(f"  {last.name} restarted with --force-new-cluster")
        after, after_rev = harness.dump_kvs(last, "", "l")
        require(after is not None, f"{last.name}: linearizable get \"\" --prefix on its own")
        diff = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        check(not diff, f"all {len(before)} keys kept with value, create/mod revision and "
              "version", f"{len(diff)} differ, e.g. "
              f"{[(k, before.get(k), after.get(k)) for k in diff[:5]]}")
        eq(after_rev, before_rev, "header revision kept")
        eq(c.hashkv(last), before_hash, "hashkv (hash, compact revision, revision) kept")
        r = last.ctl("get", "fn/0/000", "--rev", str(st["revision"] - 31))
        check(r.rc != 0 and "required revision has been compacted" in r.stderr,
              "the compaction is kept: a read below it is refused", r.describe())

        ml = c.member_list(last)
        eq(ml and [(x.name, x.peer_urls, x.is_learner) for x in ml],
           [(last.name, [last.advertised_peer_url], False)],
           "member list: only this member")
        r = last.ctl("put", "fn/new", "after-force")
        eq((r.rc, r.stdout), (0, "OK\n"), "put after --force-new-cluster", r.describe())
        st2 = c.status(last)
        eq(st2 and st2["revision"], before_rev + 1, "revision + 1 after the put")

        last.restart(timeout=30)
        ml = c.member_list(last)
        eq(ml and [x.name for x in ml], [last.name],
           "restarted without the flag: still a one-member cluster")
        got, _ = harness.dump_kvs(last, "", "l")
        eq(got and len(got), len(before) + 1, "restarted without the flag: every key there")

        new, r = c.add_member("fn4", learner=False, via=last, timeout=60)
        require(new is not None, "member add fn4 (a voter) to the one-member cluster, started "
                "with state existing", r.describe())
        c.check_hashkv_equal(runner, "fn4 caught up: hashkv equal", [last, new], timeout=30)
        ml = c.member_list(last)
        eq(ml and sorted(x.name for x in ml), sorted([last.name, "fn4"]),
           "member list: two members")
        r = new.ctl("put", "fn/through-new", "x")
        eq((r.rc, r.stdout), (0, "OK\n"), "put through the new member", r.describe())
        c.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
