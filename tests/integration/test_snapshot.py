#!/usr/bin/env python3
"""Snapshots: `etcdctl snapshot save` from a member under writes, `snapshot status`, and
`snapshot restore` into a new 3-member cluster that holds exactly the saved state.

A 3-member cluster gets 200 keys (two txns), an overwrite, a delete, a lease with a key attached
and a user; a background writer keeps putting keys through another member while `etcdctl snapshot
save` (the etcd 3.4 client, unchanged) streams the snapshot from a follower. `snapshot status
-w json` names the snapshot's revision R and prints etcdctl's field names (compared with
etcdctl's own status of a snapshot saved from a real etcd 3.4.23 started in this test, which
outpost refuses to restore as not its format). A copy with one flipped byte is refused by restore
(sha256), and restore into an existing data dir is refused with etcd's message. The snapshot is
restored into three fresh data dirs (new names, ports, token) and the new cluster started with
--initial-cluster-state new: hashkv at R equals the source's at R on every member, the member list
shows only the new members (new ids, new cluster id), the lease and its key and the user survive,
and a write gets revision R + 1. With auth enabled there, a snapshot is root's only.

The server under test restores with its own binary (`outpost snapshot ...`); with --server etcd,
etcdctl's snapshot commands play that part.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main() -> int:
    args = harness.parse_args(__doc__.split("\n")[0], needs_etcd=True)
    runner = harness.Runner(args, "snapshots: save under writes, status, restore a new cluster")
    check, eq, require = runner.check, runner.eq, runner.require

    def snapshot_tool(*cmd: str) -> harness.Result:
        """`outpost snapshot ...` (or etcdctl's, with --server etcd)."""
        if args.server == "outpost":
            full = [harness.server_binary(args, "outpost"), "snapshot", *cmd]
        else:
            full = [args.etcdctl, "snapshot", *cmd]
        return harness.run(full, timeout=30, env=harness.etcdctl_env())

    def restore(path: str, m: harness.ClusterMember, c: harness.Cluster) -> harness.Result:
        return snapshot_tool("restore", path, f"--name={m.name}", f"--data-dir={m.data_dir}",
                             f"--initial-cluster={c.initial_cluster()}",
                             f"--initial-cluster-token={c.token}",
                             f"--initial-advertise-peer-urls={m.peer_url}")

    def hashkv_at(m: harness.Member, rev: int):
        r = m.ctl("endpoint", "hashkv", "--rev", str(rev), "-w", "json", command_timeout="10s")
        if not r.ok:
            return None
        return json.loads(r.stdout)[0]["HashKV"]["hash"]

    @runner.test
    def save_status_restore():
        src = harness.Cluster(args, prefix="ss")
        src.start()
        leader, _, _ = src.wait_leader(timeout=15)
        follower = next(m for m in src if m is not leader)
        writer_via = next(m for m in src if m is not follower)
        for b in range(2):
            body = "\n" + "".join(f"put snap/{b}/{i:03d} v{b}-{i}\n" for i in range(100)) + "\n\n"
            r = src[b].ctl("txn", stdin=body, timeout=30, command_timeout="15s")
            require(r.ok and r.stdout.count("\nOK\n") == 100, "txn of 100 puts", r.describe(),
                    quiet=True)
        require(leader.ctl("put", "snap/0/000", "overwritten").ok, "overwrite", quiet=True)
        require(leader.ctl("del", "snap/1/099").ok, "delete", quiet=True)
        r = leader.ctl("lease", "grant", "600")
        require(r.ok, "lease grant", r.describe(), quiet=True)
        lease_id = r.stdout.split()[1]
        require(leader.ctl("put", "snap/leased", "x", f"--lease={lease_id}").ok, "leased put",
                quiet=True)
        require(leader.ctl("user", "add", "alice:pw-alice").ok, "user add", quiet=True)
        src_ids = {m.id for m in (src.member_list() or [])}
        src_cluster_id = src.status(leader)["raw"]["header"]["cluster_id"]

        # A background writer through another member while the snapshot streams.
        stop = threading.Event()
        written = [0]

        def writer() -> None:
            while not stop.is_set():
                if writer_via.ctl("put", f"bg/{written[0]:05d}", "w").ok:
                    written[0] += 1
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        harness.wait_for(lambda: written[0] >= 5, 20, what="background writes")
        path = os.path.join(args.workdir, "snap.db")
        r = follower.ctl("snapshot", "save", path, timeout=40, command_timeout="30s")
        written_during = written[0]
        harness.wait_for(lambda: written[0] >= written_during + 3, 20, what="writes after save")
        stop.set()
        t.join(timeout=20)
        require(r.ok and "Snapshot saved at" in r.stdout,
                f"etcdctl snapshot save from follower {follower.name} under writes", r.describe())
        print(f"  {written[0]} background writes; snapshot {os.path.getsize(path)} bytes")

        # status: etcdctl's fields and formats.
        r = snapshot_tool("status", path, "-w", "json")
        require(r.ok, "snapshot status -w json", r.describe())
        st = json.loads(r.stdout)
        rev = st["revision"]
        check(rev >= 6 + 5, f"the snapshot's revision ({rev}) is past the setup writes and the "
              "first background writes", r.stdout)
        r = snapshot_tool("status", path, "-w", "table")
        check(r.ok and re.search(r"\|\s+HASH\s+\|\s+REVISION\s+\|\s+TOTAL KEYS\s+\|\s+"
                                 r"TOTAL SIZE\s+\|", r.stdout) is not None,
              "snapshot status -w table has etcdctl's columns", r.describe())
        r = snapshot_tool("status", path)
        check(r.ok and r.stdout.count(", ") == 3 and r.stdout.split(", ")[1] == str(rev),
              "snapshot status (simple): hash, revision, keys, size", r.describe())

        if args.raw_grpc:
            import pb  # noqa: E402 - next to harness
            reply = pb.call(args.raw_grpc, follower.grpc_addr,
                            "/etcdserverpb.Maintenance/Snapshot", bytes.fromhex("0a05"))
            eq(reply.code, 13, "a malformed SnapshotRequest: INTERNAL, as etcd", repr(reply))

        # The reference: a real etcd 3.4.23's snapshot and etcdctl's status of it.
        ref = harness.Member(args, name="e1", kind="etcd").start()
        require(ref.ctl("put", "k", "v").ok, "put on etcd", quiet=True)
        epath = os.path.join(args.workdir, "etcd-snap.db")
        r = ref.ctl("snapshot", "save", epath, timeout=30, command_timeout="20s")
        require(r.ok, "etcdctl snapshot save from etcd 3.4.23", r.describe(), quiet=True)
        ref.stop()
        r = harness.run([args.etcdctl, "snapshot", "status", epath, "-w", "json"],
                        env=harness.etcdctl_env())
        require(r.ok, "etcdctl snapshot status of etcd's snapshot", r.describe(), quiet=True)
        eq(sorted(st), sorted(json.loads(r.stdout)),
           "status -w json field names are etcdctl's (hash, revision, totalKey, totalSize)")
        if args.server == "outpost":
            r = snapshot_tool("status", epath)
            check(r.rc == 1 and "Error: " in r.stderr and
                  "not an Outpost snapshot" in r.stderr,
                  "outpost snapshot status refuses etcd's bolt file with a clear error",
                  r.describe())
            other = harness.Cluster(args, prefix="xx", size=1)
            r = restore(epath, other[0], other)
            check(r.rc == 1 and "not an Outpost snapshot" in r.stderr and
                  not os.path.exists(other[0].data_dir),
                  "outpost snapshot restore refuses etcd's bolt file", r.describe())

        # The source's hash at R (no compaction happened, so R is still readable).
        src_hash = hashkv_at(leader, rev)
        require(src_hash is not None, f"source hashkv --rev {rev}", quiet=True)
        src.stop()

        # A corrupt copy and an existing data dir are refused.
        dst = harness.Cluster(args, prefix="rs")
        bad = os.path.join(args.workdir, "snap-bad.db")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        with open(bad, "wb") as f:
            f.write(data)
        scratch = harness.Cluster(args, prefix="xc", size=1)
        r = restore(bad, scratch[0], scratch)
        # etcd leaves the half-made data dir behind; outpost removes it.
        check(r.rc == 1 and "Error: expected sha256" in r.stderr and
              (args.server == "etcd" or not os.path.exists(scratch[0].data_dir)),
              "restore of a file with one flipped byte is refused (sha256)", r.describe())
        r = snapshot_tool("restore", path, "--data-dir", args.workdir)
        eq(harness.error_message(r), f'data-dir "{args.workdir}" exists',
           "restore into an existing data dir is refused with etcd's message", r.describe())

        # Restore into three fresh data dirs and start a new cluster on them.
        for m in dst:
            r = restore(path, m, dst)
            require(r.ok, f"restore into {m.name}'s data dir", r.describe())
        dst.start()
        dleader, _, _ = dst.wait_leader(timeout=20)
        for m in dst:
            eq(hashkv_at(m, rev), src_hash, f"{m.name}: hashkv at revision {rev} equals the "
               f"source's")
        members = dst.member_list() or []
        eq(sorted(m.name for m in members), ["rs1", "rs2", "rs3"],
           "member list shows only the new members")
        harness.wait_for(lambda: all(m.client_urls for m in (dst.member_list() or [])), 15,
                         what="every restored member published its client URL")
        check(members and not ({m.id for m in members} & src_ids),
              "the new members have new ids", f"{members} vs {src_ids}")
        dst_cluster_id = dst.status(dleader)["raw"]["header"]["cluster_id"]
        check(dst_cluster_id != src_cluster_id, "the restored cluster has a new cluster id")
        r = dleader.ctl("get", "snap/0/000", "--print-value-only")
        eq(r.stdout.strip(), "overwritten", "an overwritten key holds its last value")
        r = dleader.ctl("get", "snap/1/099", "-w", "json")
        check(r.ok and '"kvs"' not in r.stdout, "a deleted key stays deleted", r.describe())
        r = dleader.ctl("lease", "timetolive", lease_id, "--keys")
        check(r.ok and "snap/leased" in r.stdout and "granted with TTL(600s)" in r.stdout,
              "the lease survives with its key", r.describe())
        r = dleader.ctl("user", "list")
        check(r.ok and "alice" in r.stdout.split(), "the user survives", r.describe())
        r = dleader.ctl("put", "after-restore", "x", "-w", "json")
        require(r.ok, "put on the restored cluster", r.describe())
        new_rev = json.loads(r.stdout)["header"]["revision"]
        eq(new_rev, rev + 1, "a write on the restored cluster continues from the snapshot's "
           "revision")

        # Under auth, only root may take a snapshot (as etcd).
        require(dleader.ctl("user", "add", "root:pw-root").ok, "user add root", quiet=True)
        require(dleader.ctl("user", "grant-role", "root", "root").ok or
                dleader.ctl("role", "add", "root").ok and
                dleader.ctl("user", "grant-role", "root", "root").ok, "grant root", quiet=True)
        r = dleader.ctl("auth", "enable")
        require(r.ok, "auth enable", r.describe(), quiet=True)
        r = dleader.ctl("--user=alice:pw-alice", "snapshot", "save",
                        os.path.join(args.workdir, "alice.db"), command_timeout="10s")
        check(not r.ok and "permission denied" in r.stderr,
              "a snapshot as a user without root is refused (permission denied)", r.describe())
        r = dleader.ctl("--user=root:pw-root", "snapshot", "save",
                        os.path.join(args.workdir, "root.db"), command_timeout="10s")
        check(r.ok and "Snapshot saved at" in r.stdout, "a snapshot as root is saved",
              r.describe())
        dst.stop()

    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
